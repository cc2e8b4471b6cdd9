"""torchvision ImageNet ResNets with C3 in front of layer2, layer3, layer4 (windows 28/14/7,
the authors' final block; docs/method.md) or SE in every block (r = 16, with biases, the usual
SE-ResNet).

The new blocks add keys only (``layerN.c3.*``, ``layerN.i.se.*``), so a plain torchvision
checkpoint loads with only those missing. Importing this module imports torchvision; the
model factory imports it only when an ImageNet model is created.
"""
from __future__ import annotations

from typing import Optional, Sequence

from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from ..core import C3Block, C3Stage, SEBlock

IMAGENET_C3_WINDOWS = (28, 14, 7)
IMAGENET_SE = dict(reduction=16, bias=True)
ARCHS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
         50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
         152: ("bottleneck", [3, 8, 36, 3])}


class SEBasicBlock(BasicBlock):
    """torchvision's BasicBlock with SE on the residual branch, before the addition."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.se = SEBlock(self.bn2.num_features, **IMAGENET_SE)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with SE on the residual branch, before the addition."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.se = SEBlock(self.bn3.num_features, **IMAGENET_SE)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


BLOCKS = {("basic", None): BasicBlock, ("basic", "se"): SEBasicBlock,
          ("bottleneck", None): Bottleneck, ("bottleneck", "se"): SEBottleneck}


def build_imagenet_resnet(depth: int, attention: Optional[str] = None, num_classes: int = 1000,
                          c3_windows: Sequence[int] = IMAGENET_C3_WINDOWS, **c3_kwargs) -> ResNet:
    """A torchvision ResNet of ``depth`` with ``attention`` None, "se" or "c3"."""
    if depth not in ARCHS:
        raise ValueError(f"depth must be one of {sorted(ARCHS)}, got {depth}")
    if attention not in (None, "se", "c3"):
        raise ValueError(f"attention must be None, 'se' or 'c3', got {attention!r}")
    if c3_kwargs and attention != "c3":
        raise ValueError(f"C3 options {sorted(c3_kwargs)} given without attention='c3'")
    kind, layers = ARCHS[depth]
    block = BLOCKS[(kind, attention if attention == "se" else None)]
    model = ResNet(block, layers, num_classes=num_classes)
    if attention == "c3":
        for name, window in zip(("layer2", "layer3", "layer4"), c3_windows):
            setattr(model, name, C3Stage(C3Block(window, **c3_kwargs), getattr(model, name)))
    return model
