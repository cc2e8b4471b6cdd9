"""C3 / SE ResNetV1c backbones and C3 / SE ResNet plugins for mmseg's MODELS registry.

* ``C3ResNetV1c``: mmseg's ResNetV1c with a C3 block in front of chosen stages (default: in
  front of layer2, layer3, layer4 with windows 28/14/7, zero_init — the detectron2 adapter's
  defaults). New keys: ``layerN.c3.*``; a plain ResNetV1c checkpoint loads with only those
  missing, and a C3 checkpoint (``init_cfg``/``pretrained``) keeps its C3 weights.
* ``SEResNetV1c``: SE in every Bottleneck (after conv3, before the addition) through mmseg
  ResNet's ``plugins=``; keys ``layerN.i.se_plugin.*``.
* ``C3Plugin`` / ``SEPlugin``: the blocks as ResNet plugins, e.g.
  ``plugins=[dict(cfg=dict(type='C3Plugin', window=14), position='after_conv3',
  stages=(False, True, True, True))]``.
"""
from __future__ import annotations

from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS

from c3_dense.openmmlab.plugins import C3Plugin, SEPlugin
from c3_dense.openmmlab.resnet import C3InFront, SEPluginInBottlenecks

MODELS.register_module(module=C3Plugin)
MODELS.register_module(module=SEPlugin)


@MODELS.register_module()
class C3ResNetV1c(C3InFront, ResNetV1c):
    """ResNetV1c with C3 blocks in front of stages ``c3_stages`` (0-based: 1, 2, 3 = in front of
    layer2, layer3, layer4), each through ``C3ResLayer`` (:mod:`c3_dense.openmmlab.resnet`;
    keys ``layerN.c3.*``).

    Args:
        c3_stages: indices of the stages that get a C3 block in front.
        c3_windows: one window per stage (int or (h, w)).
        c3_cfg: further C3Block options (mode, reduction, group_size, grouping, include_self,
            norm, final_relu, variant, zero_init — zero_init defaults to True here).
    """

    c3_block = C3Plugin


@MODELS.register_module()
class SEResNetV1c(SEPluginInBottlenecks, ResNetV1c):
    """ResNetV1c with SE in every Bottleneck of ``se_stages`` (plugins after conv3)."""
