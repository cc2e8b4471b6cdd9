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

from typing import Optional, Sequence

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from c3_dense.openmmlab.plugins import C3Plugin, SEPlugin
from c3_dense.openmmlab.resnet import NewBlocksTrain, put_c3_in_front

MODELS.register_module(module=C3Plugin)
MODELS.register_module(module=SEPlugin)


@MODELS.register_module()
class C3ResNet(NewBlocksTrain, ResNet):
    """mmdet's ResNet with C3 blocks in front of stages ``c3_stages`` (0-based: 1, 2, 3 = in
    front of layer2, layer3, layer4).

    Args:
        c3_stages: indices of the stages that get a C3 block in front.
        c3_windows: one window per stage (int or (h, w)).
        c3_cfg: further C3Block options (form, mode, reduction, ..., zero_init — True here).
    """

    def __init__(self, c3_stages: Sequence[int] = (1, 2, 3),
                 c3_windows: Sequence = (28, 14, 7), c3_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        put_c3_in_front(self, c3_stages, c3_windows, c3_cfg, C3Plugin)
        self._train_new_blocks()


@MODELS.register_module()
class SEResNet(NewBlocksTrain, ResNet):
    """mmdet's ResNet with SE in every Bottleneck of ``se_stages`` (plugins after conv3)."""

    def __init__(self, se_stages: Sequence[bool] = (True, True, True, True),
                 se_cfg: Optional[dict] = None, plugins: Optional[list] = None, **kwargs):
        depth = kwargs.get("depth")
        if depth in (18, 34):
            raise ValueError(f"SEResNet needs Bottleneck blocks (depth 50, 101, 152), got "
                             f"depth={depth}: mmdet's BasicBlock takes no plugins")
        se = dict(cfg=dict(type="SEPlugin", **(se_cfg or {})), position="after_conv3",
                  stages=tuple(bool(s) for s in se_stages))
        super().__init__(plugins=list(plugins or []) + [se], **kwargs)
        self._train_new_blocks()
