"""torchvision ImageNet ResNets with C3 in front of layer2, layer3, layer4 (windows 28/14/7,
the authors' final block; docs/method.md) or SE in every block (r = 16, with biases, the usual
SE-ResNet).

The new blocks add keys only (``layerN.c3.*``, ``layerN.i.bn3.se.*`` / ``bn2.se.*``: SE rides
on a block's last norm, see :class:`BatchNorm2dThenSE`), so a plain torchvision
checkpoint loads with only those missing. Importing this module imports torchvision; the
model factory imports it only when an ImageNet model is created.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from ..core import C3Block, C3Stage, SEBlock, check_c3_option_names

IMAGENET_C3_WINDOWS = (28, 14, 7)
IMAGENET_SE = dict(reduction=16, bias=True)
ARCHS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
         50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
         152: ("bottleneck", [3, 8, 36, 3])}


class BatchNorm2dThenSE(nn.BatchNorm2d):
    """A block's last BatchNorm followed by SE. torchvision's blocks have no slot between
    their last norm and the addition, so the SE rides on that norm: the norm's keys stay
    (``bn3.weight``, ...), the SE's are ``bn3.se.*``, and the block's forward stays
    torchvision's. ``nn.SyncBatchNorm.convert_sync_batchnorm`` would replace this norm by a
    plain SyncBatchNorm, which no longer applies the SE (DDP then names its parameters
    unused): these reference models are not meant for SyncBN training. They trace and export;
    ``torch.jit.script`` does not take the ``super()`` call."""

    def __init__(self, num_features: int, **se_kwargs):
        super().__init__(num_features)
        self.se = SEBlock(num_features, **se_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().forward(x))


def add_se(model: ResNet, **se_kwargs) -> ResNet:
    """SE (``se_kwargs``: :class:`SEBlock`'s options) after the last norm of every block of
    a torchvision ResNet, whose trained BatchNorm statistics and weights it keeps."""
    for block in model.modules():
        if isinstance(block, (BasicBlock, Bottleneck)):
            name = "bn3" if isinstance(block, Bottleneck) else "bn2"
            norm = getattr(block, name)
            if type(norm) is not nn.BatchNorm2d:
                raise ValueError(f"add_se needs blocks whose {name} is a BatchNorm2d, got "
                                 f"{type(norm).__name__}")
            with_se = BatchNorm2dThenSE(norm.num_features, **se_kwargs).to(norm.weight)
            with_se.load_state_dict(norm.state_dict(), strict=False)  # all but the new SE
            setattr(block, name, with_se)
    return model


def build_imagenet_resnet(depth: int, attention: Optional[str] = None, num_classes: int = 1000,
                          c3_windows: Sequence[int] = IMAGENET_C3_WINDOWS, **c3_kwargs) -> ResNet:
    """A torchvision ResNet of ``depth`` with ``attention`` None, "se" or "c3"."""
    if depth not in ARCHS:
        raise ValueError(f"depth must be one of {sorted(ARCHS)}, got {depth}")
    if attention not in (None, "se", "c3"):
        raise ValueError(f"attention must be None, 'se' or 'c3', got {attention!r}")
    check_c3_option_names(f"resnet{depth}", c3_kwargs)
    if c3_kwargs and attention != "c3":
        raise ValueError(f"C3 options {sorted(c3_kwargs)} given without attention='c3'")
    kind, layers = ARCHS[depth]
    model = ResNet(BasicBlock if kind == "basic" else Bottleneck, layers, num_classes=num_classes)
    if attention == "se":
        add_se(model, **IMAGENET_SE)
    if attention == "c3":
        for name, window in zip(("layer2", "layer3", "layer4"), c3_windows):
            setattr(model, name, C3Stage(C3Block(window, **c3_kwargs), getattr(model, name)))
    return model
