"""C3 / SE ResNets for mmdet's MODELS registry, on mmdet's own ``ResNet`` (7×7 stem, the
ImageNet weights mmdet's configs load), made of the pieces the mmseg wing uses
(:mod:`c3_dense.openmmlab`):

* ``C3ResNet``: C3 blocks in front of ``c3_stages`` (default layer2, layer3, layer4 with
  windows 28/14/7, zero_init): keys ``layerN.c3.*``; a plain ResNet checkpoint loads with only
  those missing.
* ``SEResNet``: SE in every Bottleneck of ``se_stages`` (plugin after conv3, before the
  addition): keys ``layerN.i.se_plugin.*``, as mmseg's ``SEResNetV1c``.

New blocks train in frozen stages unless ``freeze_new_blocks=True`` (as in the other wings).
"""
from __future__ import annotations

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from c3_dense.openmmlab.plugins import C3Plugin, SEPlugin
from c3_dense.openmmlab.resnet import C3InFront, SEPluginInBottlenecks

MODELS.register_module(module=C3Plugin)
MODELS.register_module(module=SEPlugin)


@MODELS.register_module()
class C3ResNet(C3InFront, ResNet):
    """mmdet's ResNet with C3 blocks in front of stages ``c3_stages`` (0-based: 1, 2, 3 = in
    front of layer2, layer3, layer4), ``c3_windows`` one per stage, ``c3_cfg`` further C3Block
    options (zero_init True here: a pretrained network starts unchanged)."""

    c3_block = C3Plugin


@MODELS.register_module()
class SEResNet(SEPluginInBottlenecks, ResNet):
    """mmdet's ResNet with SE in every Bottleneck of ``se_stages`` (plugins after conv3)."""
