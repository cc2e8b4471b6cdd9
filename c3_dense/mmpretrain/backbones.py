"""Classification backbones for mmpretrain's MODELS registry (see the package docstring)."""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmpretrain.models.backbones import ResNet, ResNetV1c
from mmengine.logging import print_log
from mmpretrain.registry import MODELS

from c3_dense import SEBlock
from c3_dense.models.cifar import CIFAR_C3_WINDOWS, CifarResNet
from c3_dense.openmmlab.resnet import C3InFront, NewBlocksTrain

# Pretraining from scratch: the authors' init (Kaiming), not the fine-tuning zero_init.
SCRATCH_C3 = dict(zero_init=False)


@MODELS.register_module()
class C3CifarResNet(CifarResNet):
    """The paper's CIFAR network without its classifier (mmpretrain's head replaces it):
    ``depth`` 20…110 (6n + 2), ``widen`` 10 for WRN-20-10, ``attention`` None, "se" or "c3";
    further keyword arguments go to every C3Block. Returns the last stage's map, as a tuple."""

    def __init__(self, depth: int, widen: int = 1, attention: Optional[str] = None,
                 c3_windows: Sequence[int] = CIFAR_C3_WINDOWS, **c3_kwargs):
        super().__init__(depth, num_classes=1, widen=widen, attention=attention,
                         c3_windows=c3_windows, **c3_kwargs)
        del self.fc

    def forward(self, x: torch.Tensor):
        return (self.features(x),)


class _C3InFront(C3InFront):
    """C3 in front of ``c3_stages`` of an mmpretrain ResNet (keys ``layerN.c3.*``), from
    scratch by default (:data:`SCRATCH_C3`)."""

    c3_defaults = SCRATCH_C3


@MODELS.register_module()
class C3ResNet(_C3InFront, ResNet):
    """mmpretrain's ResNet (7×7 stem) with C3 in front of ``c3_stages`` (0-based: 1, 2, 3 = in
    front of layer2, layer3, layer4) with ``c3_windows``; ``c3_cfg``: further C3Block options
    (zero_init defaults to False here: training from scratch, as the authors)."""


@MODELS.register_module()
class C3ResNetV1c(_C3InFront, ResNetV1c):
    """mmpretrain's ResNetV1c with C3 as :class:`C3ResNet`; converted with
    ``tools/convert_weights.py --to mmseg`` it loads into mmseg's ``C3ResNetV1c``."""


class SEThenDropPath(nn.Module):
    """SE in mmpretrain's own slot between a block's last norm and its addition: the block's
    ``drop_path`` (an Identity without stochastic depth), which this module runs after the SE
    (r = 16 with biases, as the detectron2 and mmseg adapters' SE). Keys
    ``layerN.i.drop_path.se.*``; the block's forward stays mmpretrain's (with_cp included)."""

    def __init__(self, channels: int, drop_path: nn.Module):
        super().__init__()
        self.se = SEBlock(channels, reduction=16, bias=True)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.se(x))


class _SEInEveryBlock(NewBlocksTrain):
    """Mixin: SE in every block of an mmpretrain ResNet, through :class:`SEThenDropPath`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.res_layers:
            for block in getattr(self, name):
                block.drop_path = SEThenDropPath(block.out_channels, block.drop_path)
        self.train(self.training)  # frozen_stages (and freeze_new_blocks) cover the SE too


@MODELS.register_module()
class ResNetSE(_SEInEveryBlock, ResNet):
    """mmpretrain's ResNet (7×7 stem) with SE in every block (:class:`SEThenDropPath`); keys
    ``layerN.i.drop_path.se.*`` (``tools/convert_weights.py`` turns them into detectron2's or
    mmseg's). A name of its own: mmpretrain's ``SEResNet`` is another implementation with other
    keys and Bottleneck blocks only."""


@MODELS.register_module()
class SEResNetV1c(_SEInEveryBlock, ResNetV1c):
    """mmpretrain's ResNetV1c with SE in every block (:class:`SEThenDropPath`); converts to
    mmseg's ``SEResNetV1c`` (the same network under the same name in mmseg's registry)."""


@MODELS.register_module()
class ResNetV1cSE(SEResNetV1c):
    """The earlier name of :class:`SEResNetV1c`, accepted with a deprecation line."""

    def __init__(self, *args, **kwargs):
        print_log("backbone type 'ResNetV1cSE' is deprecated: it is now 'SEResNetV1c' (the "
                  "name mmseg's registry uses too); rename it in the config",
                  logger="current", level=logging.WARNING)
        super().__init__(*args, **kwargs)
