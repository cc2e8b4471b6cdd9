"""A model containing C3 exports with torch.jit.trace and to ONNX, and the exports agree."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from c3_dense import C3Block


def _model(mode):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), C3Block(6, mode=mode, norm="bn"),
                         nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()


@pytest.mark.parametrize("mode", ["resize", "tile"])
def test_jit_trace(mode):
    model = _model(mode)
    x = torch.randn(2, 3, 15, 13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x)
    torch.testing.assert_close(traced(x), model(x))


@pytest.mark.parametrize("mode", ["resize", "tile"])
def test_onnx_export_runs_in_onnxruntime(mode, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install onnxruntime)")
    model = _model(mode)
    x = torch.randn(1, 3, 15, 13)
    path = tmp_path / "c3.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(y, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)
