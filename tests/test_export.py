"""Models containing C3 export with torch.jit.trace, torch.jit.script and to ONNX,
size-general: traced, scripted or exported at one input size, they run at others and agree
with the eager model (and with the loop reference). Tile mode, whose windows depend on the
input size, refuses in one clear line."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from c3_dense import C3Block, C3Stage, SEBlock
from c3_dense.core import reference_forward

SIZES = [(2, 3, 15, 13), (3, 3, 24, 40), (1, 3, 7, 9)]


def _model(mode, window=6):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), C3Block(window, mode=mode, norm="bn"),
                         nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()


def _trace(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(model, x)


def test_jit_trace_resize_runs_at_other_sizes():
    model = _model("resize")
    traced = _trace(model, torch.randn(*SIZES[0]))
    for shape in SIZES:  # non-integer factors and a map smaller than the window
        x = torch.randn(*shape)
        torch.testing.assert_close(traced(x), model(x))
    x = torch.randn(2, 3, 12, 18)  # integer factors: the eager fast path uses strided views
    torch.testing.assert_close(traced(x), model(x))


def test_jit_trace_native_runs_at_other_batch_sizes():
    model = _model("native", window=(5, 7))
    traced = _trace(model, torch.randn(2, 3, 5, 7))
    x = torch.randn(4, 3, 5, 7)
    torch.testing.assert_close(traced(x), model(x))


def test_tile_mode_refuses_tracing_in_one_line():
    with pytest.raises(ValueError, match=r"mode=.tile.\) cannot be traced, scripted or exported") as info:
        _trace(_model("tile"), torch.randn(1, 3, 15, 13))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["resize", "native"])
def test_onnx_dynamic_axes_in_onnxruntime(mode, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install onnxruntime)")
    native = mode == "native"
    model = _model(mode, window=(5, 7) if native else 6)
    sizes = [(1, 3, 5, 7), (3, 3, 5, 7)] if native else [(1, 3, 15, 13), (2, 3, 31, 22)]
    path = tmp_path / "c3.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*sizes[0]),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"},
                                        "y": {0: "batch", 2: "height", 3: "width"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in sizes:
        x = torch.randn(*shape)
        (y,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(y, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_onnx_resize_equals_eager_at_sizes_where_onnx_nearest_resize_differs(tmp_path):
    # onnxruntime's nearest Resize picks other source pixels than F.interpolate at some sizes
    # (a 28×28 window exported at 56×72 and run at 80×64 differed by 2.3): the exported graph
    # must gather F.interpolate's pixels itself. Non-zero C3 weights make a wrong pixel show.
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install onnxruntime)")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), C3Block(28, mode="resize"),
                          nn.Conv2d(8, 4, 1)).eval()
    for param in model[1].parameters():
        param.data.normal_(0, 0.3)
    path = tmp_path / "c3.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 56, 72),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"},
                                        "y": {0: "batch", 2: "height", 3: "width"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    traced = _trace(model, torch.randn(1, 3, 56, 72))
    for shape in [(1, 3, 80, 64), (2, 3, 13, 17), (1, 3, 100, 152), (1, 3, 57, 85)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            eager = model(x)
        (y,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(y, eager.numpy(), rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(traced(x), eager, rtol=1e-4, atol=1e-3)


SCRIPTED = [dict(), dict(mode="native"), dict(variant="enc_dec"),
            dict(variant="message", zero_init=False), dict(norm="bn"), dict(include_self=True),
            dict(final_relu=True), dict(grouping="fixed", group_size=3), dict(group_size=2)]


@pytest.mark.parametrize("options", SCRIPTED, ids=[str(o) or "default" for o in SCRIPTED])
def test_scripted_block_equals_eager_and_the_loop_reference_at_any_size(options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated in torch 2.14
        block = C3Block(6, **options).double().eval()
        for param in block.parameters():
            param.data.normal_(0, 0.3)
        scripted = torch.jit.script(block)
    shapes = [(2, 7, 6, 6)] if options.get("mode") == "native" else [
        (2, 7, 6, 6), (1, 7, 13, 9), (3, 5, 4, 17)]  # windows dividing the map or not, smaller
    for shape in shapes:
        x = torch.randn(*shape, dtype=torch.float64)
        with torch.no_grad():
            eager = block(x)
            torch.testing.assert_close(scripted(x), eager, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(scripted(x), reference_forward(block, x),
                                       rtol=1e-10, atol=1e-10)


def test_scripted_stage_and_se_equal_eager():
    model = nn.Sequential(C3Stage(C3Block(4, zero_init=False), nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())), SEBlock(8)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)
    for shape in [(2, 8, 9, 7), (1, 8, 16, 16)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(torch.jit.Error, match="mode='native'"):
        torch.jit.script(C3Block(4, mode="native"))(torch.randn(1, 2, 5, 5))


def test_tile_mode_refuses_scripting_in_one_line():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(C3Block(4, mode="tile"))
    with pytest.raises(torch.jit.Error, match=r"mode=.tile.\) cannot be traced, scripted"):
        scripted(torch.randn(1, 2, 8, 8))
