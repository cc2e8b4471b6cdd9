"""torch.compile of the C3 block: under Dynamo the block runs its portable path (plain tensor
operations; tile mode its own plain slices), so it compiles as one graph (fullgraph=True) in
eval and in training, with dynamic shapes, and Inductor's generated code computes what the
eager block computes; the frameworks' compile switches (detectron2's MODEL.BACKBONE.COMPILE)."""
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


@pytest.mark.parametrize("options", [dict(), dict(norm="bn", group_size=3, final_relu=True)])
def test_tile_mode_compiles_one_graph_per_map_size_equal_to_eager(options):
    # Tile mode's windows are placed from the map size, so Dynamo specialises on it: one graph
    # per size (per train/eval where BatchNorm is in the block). Sizes: windows side by side,
    # overlapping, and a map smaller than the window (brought up to it, then back down).
    torch._dynamo.reset()
    counter = _Counter()
    block = _block(mode="tile", **options).double()
    compiled = torch.compile(block, backend=counter, fullgraph=True, dynamic=True)
    sizes = [(2, 7, 12, 18), (2, 7, 13, 20), (1, 7, 4, 9)]
    for train in (False, True):
        block.train(train)
        for shape in sizes:
            x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
            results = []
            for model in (compiled, block):
                out = model(x)
                grads = torch.autograd.grad(out.square().sum(), [x, *block.parameters()])
                results.append((out, grads))
            torch.testing.assert_close(results[0], results[1])
    assert counter.graphs == len(sizes) * (2 if options else 1)


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


def _detector_inputs(sizes, seed=0):
    from detectron2.structures import Boxes, Instances
    g = torch.Generator().manual_seed(seed)
    batch = []
    for h, w in sizes:
        gt = Instances((h, w), gt_boxes=Boxes(torch.tensor([[4.0, 6.0, w * 0.6, h * 0.7]])),
                       gt_classes=torch.tensor([1]))
        batch.append({"image": torch.randint(0, 255, (3, h, w), generator=g).float(),
                      "instances": gt, "height": h, "width": w})
    return batch


@pytest.mark.skipif(not importlib.util.find_spec("detectron2"), reason="needs detectron2")
def test_detectron2_compile_switch_compiles_the_backbone_in_place():
    # MODEL.BACKBONE.COMPILE: the Trainer's model (training, evaluation, inference) gets a
    # compiled backbone with the plain model's checkpoint keys and the plain model's losses;
    # the "eager" backend runs Dynamo's captured graphs as they are (Inductor is checked above).
    import c3_dense.detectron2  # noqa: F401
    from detectron2.utils.events import EventStorage
    from torch._dynamo.utils import counters

    from c3_dense.detectron2.engine import Trainer, setup_cfg
    from c3_dense.errors import UserInputError
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "configs", "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
    opts = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.C3.ZERO_INIT", "False"]
    with pytest.raises(UserInputError, match="COMPILE_BACKEND 'inductr' is not a torch.compile"):
        setup_cfg(config, opts + ["MODEL.BACKBONE.COMPILE", "True",
                                  "MODEL.BACKBONE.COMPILE_BACKEND", "inductr"])
    eager = Trainer.build_model(setup_cfg(config, opts))
    torch._dynamo.reset()
    counters.clear()
    compiled = Trainer.build_model(setup_cfg(config, opts + [
        "MODEL.BACKBONE.COMPILE", "True", "MODEL.BACKBONE.COMPILE_BACKEND", "eager"]))
    compiled.load_state_dict(eager.state_dict())  # strict: the same keys
    assert list(compiled.state_dict()) == list(eager.state_dict())
    losses = {}
    with EventStorage():
        for name, model in (("eager", eager), ("compiled", compiled)):
            model.train()
            torch.manual_seed(1)  # the RPN's and ROI heads' sampling
            loss = model(_detector_inputs([(96, 128), (96, 128)]))
            losses[name] = {k: v.item() for k, v in loss.items()}
            sum(loss.values()).backward()
        assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-4, abs=1e-5)
        for (name, p), q in zip(eager.backbone.named_parameters(), compiled.backbone.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-4, msg=name)
        assert counters["stats"]["unique_graphs"] == 1  # the backbone, one graph
        # Training batches of new sizes (detectron2 pads each to a multiple of 32): Dynamo
        # compiles once more, with dynamic sizes, and reuses that graph from then on.
        for sizes in ([(128, 160), (128, 160)], [(160, 96), (64, 64)], [(192, 224), (96, 96)]):
            sum(compiled(_detector_inputs(sizes)).values()).backward()
        assert counters["stats"]["unique_graphs"] == 2, dict(counters["stats"])
    # Evaluation (eval mode, one image a batch): two more graphs, whatever the image sizes.
    compiled.eval()
    with torch.no_grad():
        for size in ((96, 128), (128, 160), (160, 96), (224, 192)):
            compiled(_detector_inputs([size]))
    assert counters["stats"]["unique_graphs"] <= 4, dict(counters["stats"])
