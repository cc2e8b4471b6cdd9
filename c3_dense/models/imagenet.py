"""torchvision ImageNet ResNet-18/50/101 with C3 in front of layer2, layer3, layer4 (windows
28/14/7, BatchNorm1d after the decoder; c3-spec §2) or SE in every block (r = 16, with biases,
the usual SE-ResNet).

The new blocks are extra attributes (``c3_layer2`` … and ``layerX.Y.se``), so a plain
torchvision checkpoint loads with only their keys missing.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn

from ..core import C3Block, SEBlock

IMAGENET_C3_WINDOWS = (28, 14, 7)
IMAGENET_C3_DEFAULTS = dict(norm="bn")
IMAGENET_SE_DEFAULTS = dict(reduction=16, bias=True)
ARCHS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
         50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
         152: ("bottleneck", [3, 8, 36, 3])}


def _se_block_classes():
    from torchvision.models.resnet import BasicBlock, Bottleneck

    class SEBasicBlock(BasicBlock):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.se = SEBlock(self.bn2.num_features, **IMAGENET_SE_DEFAULTS)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.se(self.bn2(self.conv2(out)))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class SEBottleneck(Bottleneck):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.se = SEBlock(self.bn3.num_features, **IMAGENET_SE_DEFAULTS)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.se(self.bn3(self.conv3(out)))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    return {"basic": (BasicBlock, SEBasicBlock), "bottleneck": (Bottleneck, SEBottleneck)}


def build_imagenet_resnet(depth: int, attention: Optional[str] = None, num_classes: int = 1000,
                          c3_windows: Sequence[int] = IMAGENET_C3_WINDOWS, **c3_kwargs) -> nn.Module:
    """A torchvision ResNet of ``depth`` with ``attention`` None, "se" or "c3"."""
    from torchvision.models.resnet import ResNet

    if depth not in ARCHS:
        raise ValueError(f"depth must be one of {sorted(ARCHS)}, got {depth}")
    if attention not in (None, "se", "c3"):
        raise ValueError(f"attention must be None, 'se' or 'c3', got {attention!r}")
    if c3_kwargs and attention != "c3":
        raise ValueError(f"C3 options {sorted(c3_kwargs)} given without attention='c3'")
    kind, layers = ARCHS[depth]
    plain, se = _se_block_classes()[kind]
    options = {**IMAGENET_C3_DEFAULTS, **c3_kwargs}

    class C3ResNet(ResNet):
        """ResNet whose forward runs a C3 block in front of layer2, layer3 and layer4."""

        def __init__(self):
            super().__init__(se if attention == "se" else plain, layers, num_classes=num_classes)
            if attention == "c3":
                for name, window in zip(("layer2", "layer3", "layer4"), c3_windows):
                    setattr(self, f"c3_{name}", C3Block(window, **options))

        def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for name in ("layer1", "layer2", "layer3", "layer4"):
                block = getattr(self, f"c3_{name}", None)
                if block is not None:
                    x = block(x)
                x = getattr(self, name)(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return C3ResNet()
