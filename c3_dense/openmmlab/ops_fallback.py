"""A stand-in for ``mmcv.ops`` when mmcv's compiled ops are missing (mmcv-lite, or a CPU
machine where building full mmcv takes ~45 min).

mmseg imports ``point_sample`` (pure PyTorch) and ``sigmoid_focal_loss`` from ``mmcv.ops`` at
module level, and ``mmcv.ops.__init__`` loads the compiled ``_ext``; without it not even
``import mmseg.models`` works. The stand-in provides ``point_sample`` and makes every other
op raise ModuleNotFoundError, which mmseg's optional heads (cc_head, psa_head, point_head)
already catch. With full mmcv installed nothing is replaced.
"""
from __future__ import annotations

import importlib.util
import sys
import types

import torch
import torch.nn.functional as F


def compiled_ops_available() -> bool:
    try:
        return importlib.util.find_spec("mmcv._ext") is not None
    except (ImportError, ValueError):
        return False


def point_sample(input: torch.Tensor, points: torch.Tensor, align_corners: bool = False,
                 **kwargs) -> torch.Tensor:
    """Sample ``input`` (N×C×H×W) at ``points`` given in [0, 1] × [0, 1] coordinates,
    (N×P×2) or (N×Hp×Wp×2); bilinear by default (F.grid_sample's keyword arguments)."""
    flat = points.dim() == 3
    grid = points * 2.0 - 1.0
    if flat:
        grid = grid.unsqueeze(2)
    out = F.grid_sample(input, grid, align_corners=align_corners, **kwargs)
    return out.squeeze(3) if flat else out


def _needs_compiled(name: str):
    def missing(*args, **kwargs):
        raise ModuleNotFoundError(f"mmcv.ops.{name} needs mmcv's compiled ops; install full mmcv "
                                  "(pip install mmcv, built for your torch)")
    return missing


def install() -> bool:
    """Put the stand-in in place if (and only if) compiled ops are missing. Returns whether it
    is active."""
    existing = sys.modules.get("mmcv.ops")
    if getattr(existing, "__c3_dense_fallback__", False):
        return True
    if compiled_ops_available():
        return False
    import mmcv

    module = types.ModuleType("mmcv.ops", __doc__)
    module.__c3_dense_fallback__ = True
    module.point_sample = point_sample
    module.sigmoid_focal_loss = _needs_compiled("sigmoid_focal_loss")

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        # ModuleNotFoundError (not AttributeError): what mmseg's optional imports catch.
        raise ModuleNotFoundError(f"mmcv.ops.{name} needs mmcv's compiled ops; install full "
                                  "mmcv (pip install mmcv, built for your torch)")

    module.__getattr__ = __getattr__
    sys.modules["mmcv.ops"] = module
    mmcv.ops = module
    return True
