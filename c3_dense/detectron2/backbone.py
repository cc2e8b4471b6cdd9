"""C3 and SE ResNet backbones (C4 and FPN) and the matching res5 ROI heads for detectron2.

Keys of a plain detectron2 ResNet stay where they are, so ImageNet checkpoints load with only
the new blocks missing:

* C3 in the trunk: ``backbone[.bottom_up].c3.<stage>.*`` (:class:`C3ResNet` runs
  ``c3[stage]`` in front of ``stage``); in a C4 ROI head: ``roi_heads.res5.c3.*``.
* SE: ``<stage>.<i>.se.*`` inside every block of MODEL.SE.STAGES.

New blocks always train: FREEZE_AT freezes the pretrained stem/stages (and turns their BN
into FrozenBN) but never a C3 or SE block, which starts from scratch.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, ROI_HEADS_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, build_resnet_backbone
from detectron2.modeling.roi_heads import Res5ROIHeads

from c3_dense import C3Block, SEBlock

from .config import c3_block_kwargs, check_c4_roi_head, se_stages


# --------------------------------------------------------------------------------------- C3
class C3ResNet(ResNet):
    """detectron2's ResNet with a C3 block in front of chosen stages (``self.c3[stage]``)."""

    def __init__(self, plain: ResNet, c3_kwargs: Dict[str, dict]):
        stages = [list(stage.children()) for stage in plain.stages]
        super().__init__(plain.stem, stages, out_features=plain._out_features)
        self._out_feature_strides = plain._out_feature_strides
        self._out_feature_channels = plain._out_feature_channels
        missing = [s for s in c3_kwargs if s not in self.stage_names]
        if missing:
            raise ValueError(f"MODEL.C3.STAGES has {missing}, which this backbone does not build "
                             f"(it has {list(self.stage_names)})")
        self.c3 = nn.ModuleDict({s: C3Block(**kw) for s, kw in c3_kwargs.items()})

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        outputs = {}
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x
        for name, stage in zip(self.stage_names, self.stages):
            if name in self.c3:
                x = self.c3[name](x)
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs


class C3Stage(nn.Sequential):
    """A stage (nn.Sequential of blocks) with a C3 block in front: keys ``0.*``, ``1.*`` … stay
    those of the plain stage, the C3 block adds ``c3.*``."""

    def __init__(self, blocks, c3: C3Block):
        super().__init__(*blocks)
        self.c3 = c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c3(x)
        for name, block in self._modules.items():
            if name != "c3":
                x = block(x)
        return x


def _trunk_c3_kwargs(cfg, c4: bool) -> Dict[str, dict]:
    """C3 options per trunk stage; in a C4 model res5's block belongs to the ROI head."""
    kwargs = c3_block_kwargs(cfg)
    check_c4_roi_head(cfg, "c3", kwargs)
    if c4:
        kwargs.pop("res5", None)
    return kwargs


@BACKBONE_REGISTRY.register()
def build_c3_resnet_backbone(cfg, input_shape: ShapeSpec):
    """C3-ResNet trunk (C4 when OUT_FEATURES stop before res5; res5's C3 then is the ROI
    head's, see :class:`C3Res5ROIHeads`)."""
    plain = build_resnet_backbone(cfg, input_shape)
    c4 = "res5" not in plain.stage_names
    return C3ResNet(plain, _trunk_c3_kwargs(cfg, c4))


def _fpn(cfg, bottom_up):
    return FPN(bottom_up=bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES,
               out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM,
               top_block=LastLevelMaxPool(), fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


@BACKBONE_REGISTRY.register()
def build_c3_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    """C3-ResNet + FPN."""
    plain = build_resnet_backbone(cfg, input_shape)
    return _fpn(cfg, C3ResNet(plain, _trunk_c3_kwargs(cfg, c4=False)))


@ROI_HEADS_REGISTRY.register()
class C3Res5ROIHeads(Res5ROIHeads):
    """Res5ROIHeads whose res5 starts with a C3 block on each pooled ROI feature map (with the
    default 14×14 pooler: 1024ch@14² → window 7², the ImageNet layer4 geometry). Each ROI
    is one sample: its channels exchange messages with one another."""

    @classmethod
    def _build_res5_block(cls, cfg):
        res5, out_channels = super()._build_res5_block(cfg)
        kwargs = c3_block_kwargs(cfg)
        if "res5" not in kwargs:
            return res5, out_channels
        return C3Stage(list(res5.children()), C3Block(**kwargs["res5"])), out_channels


# --------------------------------------------------------------------------------------- SE
class SEBottleneckBlock(BottleneckBlock):
    """BottleneckBlock with SE on the residual branch, before the addition."""

    def forward(self, x):
        out = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        out = self.se(out)
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(out + shortcut)


class SEBasicBlock(BasicBlock):
    """BasicBlock with SE on the residual branch, before the addition."""

    def forward(self, x):
        out = self.se(self.conv2(torch.relu(self.conv1(x))))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(out + shortcut)


_SE_CLASSES = {BottleneckBlock: SEBottleneckBlock, BasicBlock: SEBasicBlock}


def add_se(blocks, reduction: int) -> None:
    """Turn detectron2's blocks into their SE versions in place (plain keys unchanged; the
    new ``se`` module trains even inside a frozen block)."""
    for block in blocks:
        if type(block) not in _SE_CLASSES:
            raise ValueError(f"SE supports {[c.__name__ for c in _SE_CLASSES]}, "
                             f"not {type(block).__name__}")
        block.se = SEBlock(block.out_channels, reduction=reduction, bias=True)
        block.__class__ = _SE_CLASSES[type(block)]


def _se_trunk(cfg, input_shape: ShapeSpec) -> ResNet:
    stages = se_stages(cfg)
    check_c4_roi_head(cfg, "se", stages)
    trunk = build_resnet_backbone(cfg, input_shape)
    for name, stage in zip(trunk.stage_names, trunk.stages):
        if name in stages:
            add_se(stage.children(), cfg.MODEL.SE.REDUCTION)
    return trunk


@BACKBONE_REGISTRY.register()
def build_se_resnet_backbone(cfg, input_shape: ShapeSpec):
    """SE-ResNet trunk (C4 or full)."""
    return _se_trunk(cfg, input_shape)


@BACKBONE_REGISTRY.register()
def build_se_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    """SE-ResNet + FPN."""
    return _fpn(cfg, _se_trunk(cfg, input_shape))


@ROI_HEADS_REGISTRY.register()
class SERes5ROIHeads(Res5ROIHeads):
    """Res5ROIHeads whose res5 blocks carry SE (when MODEL.SE.STAGES has res5)."""

    @classmethod
    def _build_res5_block(cls, cfg):
        res5, out_channels = super()._build_res5_block(cfg)
        if "res5" in se_stages(cfg):
            add_se(res5.children(), cfg.MODEL.SE.REDUCTION)
        return res5, out_channels
