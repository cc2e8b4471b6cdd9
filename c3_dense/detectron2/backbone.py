"""C3 and SE ResNet backbones (C4 and FPN) and the matching res5 ROI heads for detectron2.

The trunk is built stage by stage with ``ResNet.make_stage`` from the MODEL.RESNETS keys; SE
enters each block through detectron2's own slot after its last norm (:func:`add_se`: the last
``Conv2d``'s ``activation``) and C3 through :class:`c3_dense.C3Stage` (C3 in front of a stage).
Keys of a plain detectron2 ResNet stay where they are, so ImageNet checkpoints load with only
the new blocks missing: ``<stage>.c3.*`` (trunk, and ``roi_heads.res5.c3.*`` in a C4 ROI head)
and ``<stage>.<i>.conv3.activation.*`` (``conv2`` in R-18/34).

New blocks always train: FREEZE_AT freezes the pretrained stem/stages (and turns their BN
into FrozenBN) but never a C3 or SE block, which starts from scratch.
"""
from __future__ import annotations

from typing import Dict, List

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


def add_se(blocks, reduction: int) -> None:
    """SE (r = ``reduction``, with biases) in detectron2's own slot after each block's last
    norm: the ``activation`` of its last ``Conv2d`` (conv3 of a BottleneckBlock, conv2 of a
    BasicBlock), which detectron2's ResNet blocks leave empty and apply after the norm, before
    the shortcut's addition. Keys ``<stage>.<i>.conv3.activation.*``; the blocks' forward stays
    detectron2's. Added after ``freeze``, the SE trains even inside a frozen stage (new)."""
    for block in blocks:
        last = block.conv3 if hasattr(block, "conv3") else block.conv2
        if last.activation is not None:
            raise ValueError(f"{type(block).__name__}'s last convolution already has an "
                             f"activation ({last.activation}); SE goes in that slot")
        last.activation = SEBlock(block.out_channels, reduction=reduction, bias=True).to(
            last.weight)


def build_resnet_stages(cfg, input_shape: ShapeSpec):
    """The stem and the four stages (lists of blocks) that MODEL.RESNETS describes, as
    detectron2's ``build_resnet_backbone`` builds them."""
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
        if basic:
            kwargs["block_class"] = BasicBlock
        else:
            kwargs.update(block_class=BottleneckBlock, bottleneck_channels=bottleneck_channels,
                          stride_in_1x1=res.STRIDE_IN_1X1, dilation=dilation,
                          num_groups=res.NUM_GROUPS)
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

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        kwargs = c3_block_kwargs(cfg)
        if "res5" in kwargs:
            ret["res5"] = C3Stage(C3Block(**kwargs["res5"]), ret["res5"])
        return ret


# --------------------------------------------------------------------------------------- SE
def _se_trunk(cfg, input_shape: ShapeSpec) -> ResNet:
    stages_with_se = se_stages(cfg)
    check_c4_roi_head(cfg, "se", stages_with_se)
    stem, stages = build_resnet_stages(cfg, input_shape)
    trunk = ResNet(stem, stages, out_features=cfg.MODEL.RESNETS.OUT_FEATURES,
                   freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)
    for name in trunk.stage_names:
        if name in stages_with_se:
            add_se(getattr(trunk, name), cfg.MODEL.SE.REDUCTION)
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
    """Res5ROIHeads whose res5 blocks carry SE (when MODEL.SE.STAGES has res5): the stage
    Res5ROIHeads builds, with :func:`add_se` applied to its blocks."""

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        if "res5" in se_stages(cfg):
            add_se(ret["res5"], cfg.MODEL.SE.REDUCTION)
        return ret
