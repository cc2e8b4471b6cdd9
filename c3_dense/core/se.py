"""Squeeze-and-Excitation block (Hu et al., CVPR 2018), the baseline C3 is compared against.

    s = σ(W2 ReLU(W1 GAP(x)))        W1: C → C/r, W2: C/r → C
    out = x · s                       (channel-wise; applied to a residual branch before the +)

The paper's CIFAR counts match r = 8 with bias-free FC layers (the default here); the usual
ImageNet SE-ResNet uses r = 16 with biases.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class SEBlock(nn.Module):
    """Squeeze-and-Excitation over ``channels`` channels.

    Args:
        channels: number of input (and output) channels.
        reduction: r, the hidden width is max(1, channels // r).
        bias: whether the two FC layers (1×1 convolutions) have biases.
    """

    def __init__(self, channels: int, *, reduction: int = 8, bias: bool = False) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("reduction", reduction)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        hidden = max(1, channels // reduction)
        self.channels, self.reduction = channels, reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=bias)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=bias)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SEBlock({self.channels}) expects B×{self.channels}×H×W, "
                             f"got shape {list(x.shape)}")
        squeezed = x.mean(dim=(2, 3), keepdim=True)
        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))
        return x * scale
