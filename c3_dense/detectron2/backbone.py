"""C3 and SE ResNet backbones (C4 and FPN) and the matching res5 ROI heads for detectron2.

The trunk is built stage by stage with ``ResNet.make_stage`` from the MODEL.RESNETS keys, so
that SE enters through detectron2's ``block_class`` (:class:`SEBottleneckBlock`,
:class:`SEBasicBlock`) and C3 through :class:`c3_dense.C3Stage` (C3 in front of a stage). Keys
of a plain detectron2 ResNet stay where they are, so ImageNet checkpoints load with only the new
blocks missing: ``<stage>.c3.*`` (trunk, and ``roi_heads.res5.c3.*`` in a C4 ROI head) and
``<stage>.<i>.se.*``.

New blocks always train: FREEZE_AT freezes the pretrained stem/stages (and turns their BN
into FrozenBN) but never a C3 or SE block, which starts from scratch.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch
import torch.nn as nn
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, ROI_HEADS_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem, BottleneckBlock
from detectron2.modeling.roi_heads import Res5ROIHeads

import c3_dense
from c3_dense import C3Stage, SEBlock

from .config import STAGE_NAMES, c3_block_kwargs, check_c4_roi_head, se_stages

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
                    152: [3, 8, 36, 3]}


class C3Block(c3_dense.C3Block):
    """The C3 block as a member of a detectron2 stage: ``ResNet.freeze`` calls ``freeze()`` on
    every block of a frozen stage, and a new C3 block stays trainable."""

    def freeze(self):
        return self


class SEBottleneckBlock(BottleneckBlock):
    """BottleneckBlock with SE on the residual branch, before the addition."""

    def __init__(self, *, se_reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.se = SEBlock(self.out_channels, reduction=se_reduction, bias=True)

    def forward(self, x):
        out = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.se(out) + shortcut)

    def freeze(self):
        super().freeze()
        self.se.requires_grad_(True)  # new: trains even inside a frozen stage
        return self


class SEBasicBlock(BasicBlock):
    """BasicBlock with SE on the residual branch, before the addition."""

    def __init__(self, *, se_reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.se = SEBlock(self.out_channels, reduction=se_reduction, bias=True)

    def forward(self, x):
        out = self.conv2(torch.relu(self.conv1(x)))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.se(out) + shortcut)

    def freeze(self):
        super().freeze()
        self.se.requires_grad_(True)
        return self


def build_resnet_stages(cfg, input_shape: ShapeSpec, se: Sequence[str] = ()):
    """The stem and the four stages (lists of blocks) that MODEL.RESNETS describes, as
    detectron2's ``build_resnet_backbone`` builds them; stages named in ``se`` use the SE
    block classes."""
    res = cfg.MODEL.RESNETS
    if any(res.DEFORM_ON_PER_STAGE):
        raise ValueError("MODEL.RESNETS.DEFORM_ON_PER_STAGE: the C3/SE backbones have no "
                         "deformable blocks; set it to [False, False, False, False]")
    if res.DEPTH not in BLOCKS_PER_STAGE:
        raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(BLOCKS_PER_STAGE)}, "
                         f"got {res.DEPTH}")
    basic = res.DEPTH in (18, 34)
    if basic and (res.RES2_OUT_CHANNELS != 64 or res.NUM_GROUPS != 1 or res.RES5_DILATION != 1):
        raise ValueError("R-18/34 need MODEL.RESNETS.RES2_OUT_CHANNELS 64, NUM_GROUPS 1 and "
                         "RES5_DILATION 1")
    if res.RES5_DILATION not in (1, 2):
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {res.RES5_DILATION}")
    stem = BasicStem(in_channels=input_shape.channels, out_channels=res.STEM_OUT_CHANNELS,
                     norm=res.NORM)
    in_channels, out_channels = res.STEM_OUT_CHANNELS, res.RES2_OUT_CHANNELS
    bottleneck_channels = res.NUM_GROUPS * res.WIDTH_PER_GROUP
    stages: List[List[nn.Module]] = []
    for idx, (name, count) in enumerate(zip(STAGE_NAMES, BLOCKS_PER_STAGE[res.DEPTH])):
        dilation = res.RES5_DILATION if name == "res5" else 1
        first_stride = 1 if idx == 0 or dilation == 2 else 2
        kwargs = dict(num_blocks=count, stride_per_block=[first_stride] + [1] * (count - 1),
                      in_channels=in_channels, out_channels=out_channels, norm=res.NORM)
        with_se = name in se
        if basic:
            kwargs["block_class"] = SEBasicBlock if with_se else BasicBlock
        else:
            kwargs.update(block_class=SEBottleneckBlock if with_se else BottleneckBlock,
                          bottleneck_channels=bottleneck_channels,
                          stride_in_1x1=res.STRIDE_IN_1X1, dilation=dilation,
                          num_groups=res.NUM_GROUPS)
        if with_se:
            kwargs["se_reduction"] = cfg.MODEL.SE.REDUCTION
        stages.append(ResNet.make_stage(**kwargs))
        in_channels, out_channels = out_channels, out_channels * 2
        bottleneck_channels *= 2
    return stem, stages


# --------------------------------------------------------------------------------------- C3
class C3ResNet(ResNet):
    """detectron2's ResNet with a C3 block in front of the stages in ``c3_blocks``."""

    def __init__(self, stem, stages, c3_blocks: Dict[str, nn.Module], out_features=None,
                 freeze_at: int = 0):
        super().__init__(stem, stages, out_features=out_features)
        unknown = [s for s in c3_blocks if s not in self.stage_names]
        if unknown:
            raise ValueError(f"MODEL.C3.STAGES has {unknown}, which this backbone does not build "
                             f"(it has {list(self.stage_names)})")
        for i, name in enumerate(self.stage_names):
            if name in c3_blocks:
                self.stages[i] = C3Stage(c3_blocks[name], getattr(self, name))
                setattr(self, name, self.stages[i])
        self.freeze(freeze_at)


def _trunk_c3_blocks(cfg, c4: bool) -> Dict[str, nn.Module]:
    """C3 blocks per trunk stage; in a C4 model res5's block belongs to the ROI head."""
    kwargs = c3_block_kwargs(cfg)
    check_c4_roi_head(cfg, "c3", kwargs)
    return {s: C3Block(**kw) for s, kw in kwargs.items() if not (c4 and s == "res5")}


def _c3_trunk(cfg, input_shape: ShapeSpec) -> C3ResNet:
    stem, stages = build_resnet_stages(cfg, input_shape)
    out_features = cfg.MODEL.RESNETS.OUT_FEATURES
    return C3ResNet(stem, stages, _trunk_c3_blocks(cfg, c4="res5" not in out_features),
                    out_features=out_features, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_c3_resnet_backbone(cfg, input_shape: ShapeSpec):
    """C3-ResNet trunk (C4 when OUT_FEATURES stop before res5; res5's C3 then is the ROI
    head's, see :class:`C3Res5ROIHeads`)."""
    return _c3_trunk(cfg, input_shape)


def _fpn(cfg, bottom_up):
    return FPN(bottom_up=bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES,
               out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM,
               top_block=LastLevelMaxPool(), fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


@BACKBONE_REGISTRY.register()
def build_c3_resnet_fpn_backbone(cfg, input_shape: ShapeSpec):
    """C3-ResNet + FPN."""
    return _fpn(cfg, _c3_trunk(cfg, input_shape))


@ROI_HEADS_REGISTRY.register()
class C3Res5ROIHeads(Res5ROIHeads):
    """Res5ROIHeads whose res5 starts with a C3 block on each pooled ROI feature map (with the
    default 14×14 pooler: 1024ch@14² → window 7², the ImageNet layer4 geometry). Each ROI
    is one sample: its channels exchange messages with one another."""

    # Res5ROIHeads builds its res5 stage only in this classmethod (its config has no block
    # class); overriding it is how detectron2's own Res5ROIHeads variants change that stage.
    @classmethod
    def _build_res5_block(cls, cfg):
        res5, out_channels = super()._build_res5_block(cfg)
        kwargs = c3_block_kwargs(cfg)
        if "res5" not in kwargs:
            return res5, out_channels
        return C3Stage(C3Block(**kwargs["res5"]), res5), out_channels


# --------------------------------------------------------------------------------------- SE
def _se_trunk(cfg, input_shape: ShapeSpec) -> ResNet:
    stages_with_se = se_stages(cfg)
    check_c4_roi_head(cfg, "se", stages_with_se)
    stem, stages = build_resnet_stages(cfg, input_shape, se=stages_with_se)
    return ResNet(stem, stages, out_features=cfg.MODEL.RESNETS.OUT_FEATURES,
                  freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


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
    """Res5ROIHeads whose res5 blocks carry SE (when MODEL.SE.STAGES has res5): the same
    stage as Res5ROIHeads builds, with :class:`SEBottleneckBlock` as its block class."""

    @classmethod  # the same extension point as C3Res5ROIHeads
    def _build_res5_block(cls, cfg):
        if "res5" not in se_stages(cfg):
            return super()._build_res5_block(cfg)
        res = cfg.MODEL.RESNETS
        if res.DEFORM_ON_PER_STAGE[-1]:
            raise ValueError("MODEL.RESNETS.DEFORM_ON_PER_STAGE: the SE res5 head has no "
                             "deformable blocks")
        factor = 2 ** 3  # res5 relative to res2
        out_channels = res.RES2_OUT_CHANNELS * factor
        blocks = ResNet.make_stage(
            SEBottleneckBlock, 3, stride_per_block=[2, 1, 1], in_channels=out_channels // 2,
            bottleneck_channels=res.NUM_GROUPS * res.WIDTH_PER_GROUP * factor,
            out_channels=out_channels, num_groups=res.NUM_GROUPS, norm=res.NORM,
            stride_in_1x1=res.STRIDE_IN_1X1, se_reduction=cfg.MODEL.SE.REDUCTION)
        return nn.Sequential(*blocks), out_channels
