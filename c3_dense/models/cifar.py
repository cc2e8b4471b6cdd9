"""The paper's CIFAR backbones: ResNet-20…110 (3 stages of 16/32/64 channels) and WRN-20-10.

As the authors' CIFAR code (docs/method.md): post-activation basic blocks with projection
(1×1 conv + BN) shortcuts where the shape changes, for the ResNets and for WRN-20-10 (widen 10:
26,857,844 parameters with 100 classes). C3 sits in front of stage 1, 2 and 3 (:class:`C3Stage`):
it sees 16ch@32² (window 16²), the stage-1 output 16·w ch@32² (16²) and the stage-2 output
32·w ch@16² (8²); the authors' final block (no BatchNorm after the decoder) adds 68,880
parameters there. SE goes in every residual block, on the residual branch before the addition
(r = 8, no bias: the paper's counts).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import C3_OPTIONS, C3Block, C3Stage, SEBlock, check_c3_option_names

CIFAR_C3_WINDOWS = (16, 16, 8)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN (+SE) + shortcut, ReLU (post-activation)."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.se = SEBlock(cout) if se else None
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    """3-stage CIFAR network with optional C3 in front of each stage and SE in each block.

    Args:
        depth: 6n + 2 — the number of blocks per stage is n.
        widen: channel multiplier of the stages (1 for ResNets, 10 for WRN-20-10).
        attention: None, "se" or "c3".
        c3_windows: the three C3 windows; c3_kwargs go to every C3Block.
    """

    #: Keyword arguments beyond the signature: passed on to every C3Block (what a config
    #: checker may accept for this class).
    extra_keywords = C3_OPTIONS

    def __init__(self, depth: int, num_classes: int = 100, widen: int = 1,
                 attention: Optional[str] = None, c3_windows: Sequence[int] = CIFAR_C3_WINDOWS,
                 **c3_kwargs) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, …), got {depth}")
        if attention not in (None, "se", "c3"):
            raise ValueError(f"attention must be None, 'se' or 'c3', got {attention!r}")
        check_c3_option_names(type(self).__name__, c3_kwargs)
        if c3_kwargs and attention != "c3":
            raise ValueError(f"C3 options {sorted(c3_kwargs)} given without attention='c3'")
        n = (depth - 2) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.conv1, self.bn1 = _conv3x3(3, 16), nn.BatchNorm2d(16)
        stages, cin = [], 16
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (j == 0 and i > 0) else 1,
                                         attention == "se"))
                cin = width
            stage = nn.Sequential(*blocks)
            if attention == "c3":
                stage = C3Stage(C3Block(c3_windows[i], **c3_kwargs), stage)
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))
