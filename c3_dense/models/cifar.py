"""The paper's CIFAR backbones: ResNet-20…110 (3 stages of 16/32/64 channels) and WRN-20-10.

C3 goes in front of stage 1, 2 and 3 (c3-spec §2): it sees 16ch@32² (window 16²), the stage-1
output 16·w ch@32² (16²) and the stage-2 output 32·w ch@16² (8²). SE goes in every residual
block, on the residual branch before the addition (r = 8, no bias: the paper's counts).
The paper's parameter counts are met with projection (1×1 conv + BN) shortcuts in the ResNets
and BatchNorm1d after the C3 decoder (the authors' code of that time).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import C3Block, SEBlock

CIFAR_C3_WINDOWS = (16, 16, 8)
CIFAR_C3_DEFAULTS = dict(norm="bn")


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN (+SE) + shortcut, ReLU (post-activation, for the CIFAR ResNets)."""

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


class WideBasicBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv-BN-ReLU-conv (+SE) + shortcut (Zagoruyko &
    Komodakis); a 1×1 conv shortcut where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3x3(cout, cout)
        self.se = SEBlock(cout) if se else None
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        if self.se is not None:
            out = self.se(out)
        identity = x if self.shortcut is None else self.shortcut(pre)
        return out + identity


class CifarResNet(nn.Module):
    """3-stage CIFAR network with optional C3 in front of each stage and SE in each block.

    Args:
        depth: 6n + 2 (ResNet) — the number of blocks per stage is n.
        widen: channel multiplier of the stages (1 for ResNets, 10 for WRN-20-10).
        block: "basic" (post-activation ResNet) or "wide" (pre-activation WRN).
        attention: None, "se" or "c3".
        c3_windows: the three C3 windows; c3_kwargs go to every C3Block.
    """

    def __init__(self, depth: int, num_classes: int = 100, widen: int = 1, block: str = "basic",
                 attention: Optional[str] = None, c3_windows: Sequence[int] = CIFAR_C3_WINDOWS,
                 **c3_kwargs) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, …), got {depth}")
        if attention not in (None, "se", "c3"):
            raise ValueError(f"attention must be None, 'se' or 'c3', got {attention!r}")
        if c3_kwargs and attention != "c3":
            raise ValueError(f"C3 options {sorted(c3_kwargs)} given without attention='c3'")
        n = (depth - 2) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        block_cls = {"basic": BasicBlock, "wide": WideBasicBlock}[block]
        self.pre_activation = block == "wide"
        self.conv1 = _conv3x3(3, 16)
        # Pre-activation blocks normalise their own input; the stem has no BN then.
        self.bn1 = None if self.pre_activation else nn.BatchNorm2d(16)
        options = {**CIFAR_C3_DEFAULTS, **c3_kwargs}
        self.c3 = nn.ModuleList([C3Block(w, **options) for w in c3_windows]) if attention == "c3" else None
        stages, cin = [], 16
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(block_cls(cin, width, 2 if (j == 0 and i > 0) else 1, attention == "se"))
                cin = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.final_bn = nn.BatchNorm2d(cin) if self.pre_activation else None
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = F.relu(self.bn1(x))
        for i, stage in enumerate(self.stages):
            if self.c3 is not None:
                x = self.c3[i](x)
            x = stage(x)
        if self.final_bn is not None:
            x = F.relu(self.final_bn(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))
