"""A stand-in for ``mmcv.ops`` when mmcv's compiled ops are missing (mmcv-lite, or a CPU
machine where building full mmcv takes ~45 min).

mmseg imports ``point_sample`` (pure PyTorch) and ``sigmoid_focal_loss`` from ``mmcv.ops`` at
module level, and ``mmcv.ops.__init__`` loads the compiled ``_ext``; without it not even
``import mmseg.models`` works. MMDetection imports more, some from submodules
(``mmcv.ops.nms``, ``mmcv.ops.roi_align``, ...), and some as base classes. The stand-in is a
package that provides, with mmcv's signatures and return values:

* ``point_sample`` (grid sampling in [0, 1] coordinates);
* ``nms``, ``batched_nms`` and ``roi_align`` / ``RoIAlign``, on torchvision's operators of the
  same definitions (what Faster R-CNN needs);

and makes every other op fail only when used: a name mmdet or mmpretrain imports at import
time is a function or an ``nn.Module`` class that raises ModuleNotFoundError when called or
built; any other name raises ModuleNotFoundError on access, which mmseg's optional heads
(cc_head, psa_head, point_head) already catch. With full mmcv installed nothing is replaced.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from typing import Optional

import numpy as np
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


def _missing_message(name: str) -> str:
    return (f"mmcv.ops.{name} needs mmcv's compiled ops; install full mmcv (pip install mmcv, "
            "built for your torch)")


def _needs_compiled(name: str):
    def missing(*args, **kwargs):
        raise ModuleNotFoundError(_missing_message(name))
    missing.__name__ = missing.__qualname__ = name
    return missing


class CompiledOpModule(torch.nn.Module):
    """The base of the stand-ins for mmcv's compiled layers: importable and subclassable (as
    mmdet's modules do at import time), ModuleNotFoundError when built."""

    op_name = "op"

    def __init__(self, *args, **kwargs):
        raise ModuleNotFoundError(_missing_message(self.op_name))


def _compiled_class(name: str):
    return type(name, (CompiledOpModule,), {"op_name": name, "__module__": "mmcv.ops"})


def _as_tensor(x):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x), True
    return x, False


def nms(boxes, scores, iou_threshold: float, offset: int = 0, score_threshold: float = 0,
        max_num: int = -1):
    """mmcv's ``nms``: greedy non-maximum suppression of x1, y1, x2, y2 ``boxes`` at
    ``iou_threshold`` (IoU > threshold suppresses), widths ``x2 - x1 + offset``, boxes scoring
    at most ``score_threshold`` dropped first (when > 0), at most ``max_num`` kept (when > 0).
    Returns (kept boxes with their score as a 5th column, their indices), highest score
    first; numpy in, numpy out. On ``torchvision.ops.nms``."""
    from torchvision.ops import nms as torchvision_nms

    if offset not in (0, 1):
        raise ValueError(f"offset must be 0 or 1, got {offset}")
    boxes, was_numpy = _as_tensor(boxes)
    scores, _ = _as_tensor(scores)
    index = torch.arange(boxes.shape[0], device=boxes.device)
    if score_threshold > 0:
        index = index[scores > score_threshold]
    shifted = boxes[index].float()
    if offset:  # an extra pixel of width and height: the same IoU as mmcv's offset=1
        shifted = torch.cat([shifted[:, :2], shifted[:, 2:4] + offset], 1)
    keep = index[torchvision_nms(shifted, scores[index].float(), float(iou_threshold))]
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep][:, None].to(boxes.dtype)], 1)
    return (dets.numpy(), keep.numpy()) if was_numpy else (dets, keep)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                nms_cfg: Optional[dict], class_agnostic: bool = False):
    """mmcv's ``batched_nms``: :func:`nms` within each value of ``idxs`` (across them with
    ``class_agnostic``, also a key of ``nms_cfg``); ``nms_cfg`` None keeps every box, sorted.
    ``nms_cfg``: ``type`` (only "nms" here), ``iou_threshold``, ``offset``,
    ``score_threshold``, ``max_num``; ``split_thr`` (mmcv's memory bound) is not needed.
    Returns (kept boxes with their score as a 5th column, their indices), highest first."""
    if nms_cfg is None:
        order = scores.argsort(descending=True)
        return torch.cat([boxes[order], scores[order][:, None]], -1), order
    options = dict(nms_cfg)
    class_agnostic = options.pop("class_agnostic", class_agnostic)
    kind = options.pop("type", "nms")
    options.pop("split_thr", None)
    if kind != "nms":
        raise ModuleNotFoundError(_missing_message(str(kind)))
    if boxes.shape[-1] != 4:
        raise ModuleNotFoundError(_missing_message("nms_rotated"))
    if class_agnostic or boxes.numel() == 0:
        apart = boxes
    else:  # each class moved beyond every other: no IoU across classes
        apart = boxes + (idxs.to(boxes) * (boxes.max() + 1))[:, None]
    dets, keep = nms(apart, scores, **options)
    return torch.cat([boxes[keep], dets[:, -1:]], -1), keep


def roi_align(input: torch.Tensor, rois: torch.Tensor, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = 0, pool_mode: str = "avg", aligned: bool = True):
    """mmcv's ``roi_align``: ``rois`` (K×5: batch index, x1, y1, x2, y2 in input pixels ×
    1/``spatial_scale``) pooled to ``output_size`` by averaging ``sampling_ratio``² bilinear
    samples per bin (0: adaptive); ``aligned`` shifts the boxes by half a pixel (pixel
    centres). On ``torchvision.ops.roi_align``, the same definition; "max" pooling needs
    mmcv's compiled ops."""
    from torchvision.ops import roi_align as torchvision_roi_align

    if pool_mode != "avg":
        raise ModuleNotFoundError(_missing_message(f"roi_align(pool_mode={pool_mode!r})"))
    return torchvision_roi_align(input, rois.to(input.dtype), output_size, spatial_scale,
                                 sampling_ratio, aligned)


class RoIAlign(torch.nn.Module):
    """mmcv's ``RoIAlign`` layer (:func:`roi_align`), as mmdet's RoI extractors build it."""

    def __init__(self, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 0,
                 pool_mode: str = "avg", aligned: bool = True, use_torchvision: bool = False):
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned
        if pool_mode != "avg":
            raise ModuleNotFoundError(_missing_message(f"RoIAlign(pool_mode={pool_mode!r})"))

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.pool_mode, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


# What mmdet (3.x) and mmpretrain import from mmcv.ops at import time without a guard, by
# submodule: these must exist; the compiled ones fail only when used.
PROVIDED = {"nms": {"nms": nms, "batched_nms": batched_nms},
            "roi_align": {"roi_align": roi_align, "RoIAlign": RoIAlign},
            "point_sample": {"point_sample": point_sample}}
COMPILED_FUNCTIONS = {"nms": ["nms_match"], "focal_loss": ["sigmoid_focal_loss"],
                      "deform_conv": ["deform_conv2d"],
                      "point_sample": ["rel_roi_point_to_rel_img_point"]}
COMPILED_CLASSES = {"deform_conv": ["DeformConv2d"], "masked_conv": ["MaskedConv2d"],
                    "multi_scale_deform_attn": ["MultiScaleDeformableAttention"],
                    "corner_pool": ["CornerPool"], "roi_pool": ["RoIPool"],
                    "carafe": ["CARAFEPack"], "modulated_deform_conv": ["ModulatedDeformConv2d"],
                    "merge_cells": ["ConcatCell", "GlobalPoolingCell", "SumCell"]}


def _package(name: str, doc: str) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__c3_dense_fallback__ = True

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        # ModuleNotFoundError (not AttributeError): what mmseg's optional imports catch.
        raise ModuleNotFoundError(_missing_message(attr))

    module.__getattr__ = __getattr__
    return module


def install() -> bool:
    """Put the stand-in in place if (and only if) compiled ops are missing. Returns whether it
    is active."""
    existing = sys.modules.get("mmcv.ops")
    if getattr(existing, "__c3_dense_fallback__", False):
        return True
    if compiled_ops_available():
        return False
    import mmcv

    package = _package("mmcv.ops", __doc__)
    package.__path__ = []  # a package: submodules are the ones registered below, no files
    names = {}
    for sub in sorted(set(PROVIDED) | set(COMPILED_FUNCTIONS) | set(COMPILED_CLASSES)):
        module = _package(f"mmcv.ops.{sub}", f"c3_dense's stand-in for mmcv.ops.{sub}")
        members = dict(PROVIDED.get(sub, {}))
        members.update({n: _needs_compiled(n) for n in COMPILED_FUNCTIONS.get(sub, ())})
        members.update({n: _compiled_class(n) for n in COMPILED_CLASSES.get(sub, ())})
        for attr, value in members.items():
            setattr(module, attr, value)
        names.update(members)
        sys.modules[module.__name__] = module
        setattr(package, sub, module)
    for attr, value in names.items():
        setattr(package, attr, value)
    sys.modules["mmcv.ops"] = package
    mmcv.ops = package
    return True
