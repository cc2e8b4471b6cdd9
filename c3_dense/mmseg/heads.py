"""DeepLabv2's ASPP head for mmseg (mmseg ships DeepLabv3's ASPP, not v2's)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLabv2 ASPP (Chen et al., TPAMI 2017): parallel 3×3 atrous convolutions (rates 6, 12,
    18, 24) from the backbone feature straight to class scores, summed:

        scores = Σ_r Conv3x3_dilation=r(x)

    No dropout by default (BaseDecodeHead's is 0.1). There is no separate ``conv_seg``: each branch is a classifier. ``channels`` is not used
    (BaseDecodeHead requires it; it defaults to num_classes).
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), **kwargs):
        kwargs.setdefault("channels", kwargs.get("num_classes", 1))
        kwargs.setdefault("dropout_ratio", 0.0)  # DeepLabv2's ResNet ASPP has no dropout
        kwargs.setdefault("init_cfg", dict(type="Normal", std=0.01, override=dict(name="aspp")))
        super().__init__(**kwargs)
        del self.conv_seg  # the branches classify; an unused conv_seg would break DDP
        self.dilations = tuple(dilations)
        self.aspp = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d)
            for d in self.dilations)

    def forward(self, inputs) -> torch.Tensor:
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        return sum(branch(x) for branch in self.aspp)
