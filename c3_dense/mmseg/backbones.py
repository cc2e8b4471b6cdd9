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

from typing import Optional, Sequence

from mmseg.models.backbones import ResNetV1c
from mmseg.registry import MODELS

from c3_dense.openmmlab.plugins import C3Plugin, SEPlugin
from c3_dense.openmmlab.resnet import NewBlocksTrain, put_c3_in_front

MODELS.register_module(module=C3Plugin)
MODELS.register_module(module=SEPlugin)


@MODELS.register_module()
class C3ResNetV1c(NewBlocksTrain, ResNetV1c):
    """ResNetV1c with C3 blocks in front of stages ``c3_stages`` (0-based: 1, 2, 3 = in front of
    layer2, layer3, layer4), each through ``C3ResLayer`` (:mod:`c3_dense.openmmlab.resnet`;
    keys ``layerN.c3.*``).

    Args:
        c3_stages: indices of the stages that get a C3 block in front.
        c3_windows: one window per stage (int or (h, w)).
        c3_cfg: further C3Block options (mode, reduction, group_size, grouping, include_self,
            norm, final_relu, variant, zero_init — zero_init defaults to True here).
    """

    def __init__(self, c3_stages: Sequence[int] = (1, 2, 3),
                 c3_windows: Sequence = (28, 14, 7), c3_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        put_c3_in_front(self, c3_stages, c3_windows, c3_cfg, C3Plugin)
        self._train_new_blocks()


@MODELS.register_module()
class SEResNetV1c(NewBlocksTrain, ResNetV1c):
    """ResNetV1c with SE in every Bottleneck of ``se_stages`` (plugins after conv3)."""

    def __init__(self, se_stages: Sequence[bool] = (True, True, True, True),
                 se_cfg: Optional[dict] = None, plugins: Optional[list] = None, **kwargs):
        depth = kwargs.get("depth")
        if depth in (18, 34):
            raise ValueError(f"SEResNetV1c needs Bottleneck blocks (depth 50, 101, 152), got "
                             f"depth={depth}: mmseg's BasicBlock takes no plugins")
        se = dict(cfg=dict(type="SEPlugin", **(se_cfg or {})), position="after_conv3",
                  stages=tuple(bool(s) for s in se_stages))
        super().__init__(plugins=list(plugins or []) + [se], **kwargs)
        self._train_new_blocks()
