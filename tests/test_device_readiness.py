"""What GPU users run, exercised on the CPU so that the first CUDA run finds little:
channels-last inputs, deterministic mode, the message step through PyTorch's fused attention,
and the portable (compiled / exported) path at the channel groups' size."""
import re

import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from c3_dense import C3Block, C3Stage
from c3_dense.core import portable
from c3_dense.core.c3 import channel_messages
from c3_dense.models import create

CL = torch.channels_last


class NewFullMaps(TorchDispatchMode):
    """Records the ops that allocate a new tensor of at least ``nbytes`` (a full map), not
    counting views and writes into tensors that exist (``out=``, in place)."""

    def __init__(self, nbytes: int):
        super().__init__()
        self.nbytes, self.ops = nbytes, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        given = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                 if isinstance(t, torch.Tensor)}
        out = func(*args, **kwargs)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes() >= self.nbytes \
                    and t.untyped_storage().data_ptr() not in given:
                self.ops.append(str(func))
        return out


# ------------------------------------------------------------------ channels_last
MAPS = [("resize", 7, (2, 24, 28, 28)), ("resize", 6, (2, 24, 26, 27)),
        ("resize", (5, 4), (1, 16, 9, 13)), ("native", 7, (2, 24, 7, 7)),
        ("tile", 5, (2, 16, 15, 10)), ("tile", 6, (1, 16, 13, 11))]


@pytest.mark.parametrize("mode,window,shape", MAPS)
def test_a_channels_last_input_gives_the_same_values_and_keeps_its_layout(mode, window, shape):
    block = C3Block(window, mode=mode, zero_init=False, norm="bn").double()
    conv = nn.Conv2d(shape[1], shape[1], 3, padding=1).double()  # what PyTorch's layers do
    x = torch.randn(shape, dtype=torch.float64)
    upstream = torch.randn(shape, dtype=torch.float64)
    results = []
    for layout in (torch.contiguous_format, CL):  # the next layer's gradient in the same layout
        xi = x.to(memory_format=layout).requires_grad_(True)
        out = block(xi)
        assert out.is_contiguous(memory_format=layout) == \
            conv(xi).is_contiguous(memory_format=layout) == True  # noqa: E712
        grads = torch.autograd.grad(out, [xi] + list(block.parameters()),
                                    upstream.to(memory_format=layout))
        assert grads[0].is_contiguous(memory_format=layout)
        results.append([out] + list(grads))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("window,shape", [(7, (2, 64, 28, 28)), (6, (2, 64, 26, 27))])
def test_channels_last_adds_no_full_map_copies(window, shape):
    block = C3Block(window, zero_init=False)
    x = torch.randn(shape)
    counts = {}
    for layout in (torch.contiguous_format, CL):
        xi = x.to(memory_format=layout)
        with torch.no_grad(), NewFullMaps(x.numel() * 4) as evaluated:
            block(xi)
        xi = xi.clone().requires_grad_(True)
        upstream = torch.randn(shape).to(memory_format=layout)
        with NewFullMaps(x.numel() * 4) as trained:
            block(xi).backward(upstream)
        counts[layout] = (len(evaluated.ops), len(trained.ops))
    # The output, and in training the input's gradient: nothing more in either layout.
    assert counts[CL] == counts[torch.contiguous_format] == (1, 2), counts


def test_c3_stage_and_networks_take_channels_last():
    torch.manual_seed(0)
    stage = C3Stage(C3Block(7, zero_init=False), nn.Sequential(
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())).double()
    net = create("resnet18_c3").double().eval()
    for module, shape in ((stage, (2, 32, 28, 28)), (net, (1, 3, 96, 96))):
        x = torch.randn(shape, dtype=torch.float64)
        outs = []
        for layout in (torch.contiguous_format, CL):
            xi = x.to(memory_format=layout).requires_grad_(True)
            out = module(xi)
            outs.append((out, torch.autograd.grad(out.sum(), xi)[0]))
            if out.dim() == 4:
                assert out.is_contiguous(memory_format=layout)
        torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ deterministic mode
def _throwing_ops():
    """The op names PyTorch's own documentation lists as nondeterministic on CUDA, throwing
    under ``torch.use_deterministic_algorithms(True)``, as snake_case stems."""
    doc = torch.use_deterministic_algorithms.__doc__
    section = doc.split("nondeterministic operations will throw")[1].split("In addition")[0]
    names = re.findall(r"`torch\.(?:nn\.functional\.|nn\.|Tensor\.)?(\w+)`", section)
    stems = {re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", n).lower()
             .rstrip("_") for n in names}  # NLLLoss -> nll_loss, AdaptiveAvgPool2d -> ...
    stems |= {"upsample_linear1d", "upsample_bilinear2d", "upsample_bicubic2d",
              "upsample_trilinear3d"}  # interpolate's listed modes, by their aten names
    stems.discard("interpolate")  # only those modes throw; nearest is not listed
    stems = {"grid_sampler" if s == "grid_sample" else s for s in stems}
    assert {"adaptive_avg_pool2d", "nll_loss", "put", "histc", "bincount"} <= stems, stems
    return stems


class AtenOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("options", [dict(), dict(mode="tile"), dict(mode="native"),
                                     dict(group_size=8, grouping="fixed", norm="bn"),
                                     dict(variant="message", zero_init=False, norm="bn"),
                                     dict(message_impl="sdpa")])
def test_the_block_runs_no_op_that_pytorch_calls_nondeterministic_on_cuda(options):
    throwing = _throwing_ops()
    size = (7, 7) if options.get("mode") == "native" else (20, 15)
    block = C3Block(7, **{"zero_init": False, **options})
    x = torch.randn(2, 20, *size, requires_grad=True)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with AtenOps() as seen:
            out = block(x)
            out.backward(torch.randn_like(out))
        again = block(x.detach())
    finally:
        torch.use_deterministic_algorithms(previous)
    assert seen.names and not {n for n in seen.names if any(n.startswith(s) for s in throwing)}
    assert torch.isfinite(out).all()  # deterministic mode fills fresh memory with NaN
    torch.testing.assert_close(again, out.detach(), rtol=0, atol=0)


# ------------------------------------------------------------------ the portable path, grouped
class SoftmaxShapes(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "softmax" in func.__name__ and "backward" not in func.__name__:
            self.shapes.append(tuple(args[0].shape))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("sizes", [[512, 512], [640, 640], [512, 512, 256], [3, 3, 1], [5]])
@pytest.mark.parametrize("include_self", [False, True])
def test_portable_messages_work_per_group_and_equal_the_eager_path(sizes, include_self):
    channels = sum(sizes)
    v = torch.randn(2, channels, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, channels, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, channels, 3, dtype=torch.float64)
    with SoftmaxShapes() as seen:
        got = portable.messages(v, values, sizes, include_self)
    groups, size = len(sizes), max(sizes)
    assert seen.shapes == [(2, groups, size, size) if groups > 1 else (2, size, size)]  # not C×C
    want = channel_messages(v, values, sizes, include_self)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    got_grads = torch.autograd.grad((got * weights).sum(), (v, values))
    want_grads = torch.autograd.grad((want * weights).sum(), (v, values))
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ the message step as attention
@pytest.mark.parametrize("sizes", [[6, 6], [512, 512], [4, 3], [3, 3, 1], [1, 1], [7]])
@pytest.mark.parametrize("include_self", [False, True])
def test_fused_attention_messages_equal_the_function(sizes, include_self):
    from c3_dense.core.c3 import channel_messages_sdpa

    channels = sum(sizes)
    torch.manual_seed(channels)
    v = (torch.randn(2, channels, dtype=torch.float64) * 3 + 5).requires_grad_(True)
    values = torch.randn(2, channels, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, channels, 4, dtype=torch.float64)
    got = channel_messages_sdpa(v, values, sizes, include_self)
    want = channel_messages(v, values, sizes, include_self)
    torch.testing.assert_close(got, want, rtol=1e-11, atol=1e-12)
    for a, b in zip(torch.autograd.grad((got * weights).sum(), (v, values)),
                    torch.autograd.grad((want * weights).sum(), (v, values))):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    assert torch.isfinite(got).all()


@pytest.mark.parametrize("options", [dict(), dict(form="authors"), dict(group_size=5),
                                     dict(grouping="fixed", group_size=4, norm="bn"),
                                     dict(variant="message", norm="bn")])
def test_a_block_on_fused_attention_equals_the_default_one(options):
    torch.manual_seed(0)
    default = C3Block(6, zero_init=False, **options).double()
    fused = C3Block(6, zero_init=False, message_impl="sdpa", **options).double()
    fused.load_state_dict(default.state_dict())
    x = torch.randn(2, 13, 11, 14, dtype=torch.float64)
    outs = []
    for block in (default, fused):
        xi = x.clone().requires_grad_(True)
        out = block(xi)
        outs.append([out] + list(torch.autograd.grad(out.square().sum(),
                                                     [xi] + list(block.parameters()))))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    assert "message_impl='sdpa'" in repr(fused)


def test_message_impl_is_an_option_of_every_wing():
    from c3_dense.core import C3_OPTIONS, C3OptionError

    assert "message_impl" in C3_OPTIONS
    with pytest.raises(C3OptionError, match="message_impl must be one of"):
        C3Block(4, message_impl="flash")
    pytest.importorskip("detectron2")
    from c3_dense.detectron2.config import add_c3_config, c3_block_kwargs
    from detectron2.config import get_cfg

    cfg = add_c3_config(get_cfg())
    cfg.MODEL.C3.MESSAGE_IMPL = "sdpa"
    assert {kw["message_impl"] for kw in c3_block_kwargs(cfg).values()} == {"sdpa"}
    cfg.MODEL.C3.MESSAGE_IMPL = "flash"
    with pytest.raises(ValueError, match="MODEL.C3.MESSAGE_IMPL"):
        c3_block_kwargs(cfg)
