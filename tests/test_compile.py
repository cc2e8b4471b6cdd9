"""torch.compile of the C3 block: under Dynamo the block runs its portable path (plain tensor
operations), so it compiles as one graph (fullgraph=True) in eval and in training, with
dynamic shapes, and Inductor's generated code computes what the eager block computes."""
import importlib.util
import os

import pytest
import torch
import torch.nn as nn

from c3_dense import C3Block, C3Stage

pytestmark = pytest.mark.slow  # Inductor generates and builds C++: tens of seconds


def _block(**options):
    block = C3Block(6, **options)
    for param in block.parameters():
        param.data.normal_(0, 0.3)
    return block


class _Counter:
    """A Dynamo backend that counts the graphs it is given and runs them as they are."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph, example_inputs):
        self.graphs += 1
        return graph.forward


@pytest.mark.parametrize("options", [dict(), dict(mode="native"), dict(variant="message"),
                                     dict(norm="bn", group_size=3)])
def test_one_graph_in_every_mode_and_variant_and_no_recompile_for_new_sizes(options):
    torch._dynamo.reset()
    counter = _Counter()
    block = _block(**options).eval()
    compiled = torch.compile(block, backend=counter, fullgraph=True, dynamic=True)
    native = options.get("mode") == "native"
    # (Dynamo specialises sizes 0 and 1: a batch of one is a graph of its own.)
    shapes = [(2, 7, 6, 6), (3, 7, 6, 6)] if native else [(2, 7, 12, 10), (3, 7, 9, 13),
                                                            (2, 7, 20, 15)]
    with torch.no_grad():
        for shape in shapes:
            x = torch.randn(*shape)
            torch.testing.assert_close(compiled(x), block(x), rtol=1e-5, atol=1e-5)
    assert counter.graphs == 1, f"{counter.graphs} graphs for {len(shapes)} input sizes"


def test_inductor_compiled_block_and_stage_equal_eager_in_eval_and_training():
    torch._dynamo.reset()
    model = nn.Sequential(C3Stage(_block(), nn.Sequential(nn.Conv2d(7, 7, 3, padding=1),
                                                          nn.ReLU())))
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    with torch.no_grad():
        model.eval()
        x = torch.randn(2, 7, 14, 10)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    model.train()
    x = torch.randn(2, 7, 14, 10, requires_grad=True)
    compiled(x).square().sum().backward()
    compiled_grads = [x.grad] + [p.grad for p in model.parameters()]
    x.grad = None
    model.zero_grad()
    model(x).square().sum().backward()
    eager_grads = [x.grad] + [p.grad for p in model.parameters()]
    for got, want in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


def test_whole_networks_compile_as_one_graph():
    # torch._dynamo.explain: no graph break anywhere in the C3 networks (our code included).
    from c3_dense.models import create
    networks = {"resnet18_c3": (create("resnet18_c3").eval(), (2, 3, 64, 64))}
    if importlib.util.find_spec("detectron2"):
        import c3_dense.detectron2  # noqa: F401
        from detectron2.modeling import build_backbone

        from c3_dense.detectron2.engine import setup_cfg
        config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
        cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
        networks["detectron2 C3 R-18-FPN"] = (build_backbone(cfg).eval(), (2, 3, 64, 96))
    if importlib.util.find_spec("mmseg"):
        import c3_dense.mmseg  # noqa: F401
        from c3_dense.mmseg.backbones import C3ResNetV1c
        networks["mmseg C3ResNetV1c-18"] = (C3ResNetV1c(depth=18, norm_cfg=dict(type="BN")).eval(),
                                            (2, 3, 64, 96))
    for name, (network, shape) in networks.items():
        torch._dynamo.reset()
        explained = torch._dynamo.explain(network)(torch.randn(*shape))
        assert explained.graph_break_count == 0, (name, [str(b.reason)[:300]
                                                         for b in explained.break_reasons])
