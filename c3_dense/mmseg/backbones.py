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
from mmengine.registry import MODELS as ROOT_MODELS
from mmseg.registry import MODELS

from c3_dense import C3Block, C3Stage, SEBlock

C3_DEFAULTS = dict(zero_init=True)


# Plugins go in mmengine's root registry too: mmcv's build_plugin_layer looks there when no
# default scope (mmseg) is set, e.g. when a backbone is built outside a Runner.
@ROOT_MODELS.register_module()
@MODELS.register_module()
class C3Plugin(C3Block):
    """C3Block as an mmcv/mmseg ResNet plugin (``in_channels`` is accepted and unused: C3's
    size does not depend on the channel count). ``init_weights`` re-applies the block's own
    init (zero_init included) after the ResNet's init_cfg has set every BatchNorm weight to 1,
    and before a ``Pretrained`` checkpoint is loaded (mmengine's order), so a checkpoint's C3
    weights are kept."""

    _abbr_ = "c3_plugin"

    def __init__(self, in_channels: Optional[int] = None, window=14, **kwargs):
        super().__init__(window, **{**C3_DEFAULTS, **kwargs})

    def init_weights(self):
        self.reset_parameters()


@ROOT_MODELS.register_module()
@MODELS.register_module()
class SEPlugin(SEBlock):
    """SEBlock as an mmcv/mmseg ResNet plugin (r = 16 with biases by default)."""

    _abbr_ = "se_plugin"

    def __init__(self, in_channels: int, reduction: int = 16, bias: bool = True):
        super().__init__(in_channels, reduction=reduction, bias=bias)


class C3ResLayer(C3Stage):
    """A ResNet layer with a C3 block in front (:class:`c3_dense.C3Stage`) that passes
    mmengine's ``init_weights`` on to its blocks, as mmseg's ResLayer does."""

    def init_weights(self):
        for child in self.children():
            if hasattr(child, "init_weights"):
                child.init_weights()


class NewBlocksTrain:
    """Mixin for mmseg ResNets: ``frozen_stages`` freezes the pretrained layers, but the C3 and
    SE blocks inside them are new and always train (as in the detectron2 adapter)."""

    def _train_new_blocks(self, mode: bool = True) -> None:
        for module in self.modules():
            if isinstance(module, (C3Block, SEBlock)):
                module.train(mode)
                module.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        self._train_new_blocks(mode)
        return self


@MODELS.register_module()
class C3ResNetV1c(NewBlocksTrain, ResNetV1c):
    """ResNetV1c with C3 blocks in front of stages ``c3_stages`` (0-based: 1, 2, 3 = in front of
    layer2, layer3, layer4), each through :class:`C3ResLayer` (keys ``layerN.c3.*``).

    Args:
        c3_stages: indices of the stages that get a C3 block in front.
        c3_windows: one window per stage (int or (h, w)).
        c3_cfg: further C3Block options (mode, reduction, group_size, grouping, include_self,
            norm, final_relu, variant, zero_init — zero_init defaults to True here).
    """

    def __init__(self, c3_stages: Sequence[int] = (1, 2, 3),
                 c3_windows: Sequence = (28, 14, 7), c3_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        stages, windows = list(c3_stages), list(c3_windows)
        if any(not isinstance(s, int) or not 0 <= s < self.num_stages for s in stages):
            raise ValueError(f"c3_stages {stages}: stages are 0..{self.num_stages - 1} "
                             "(1, 2, 3 = in front of layer2, layer3, layer4)")
        if len(windows) != len(stages):
            raise ValueError(f"c3_windows has {len(windows)} entries for {len(stages)} c3_stages; "
                             "give one window per stage")
        options = {**C3_DEFAULTS, **(c3_cfg or {})}
        for stage, window in zip(stages, windows):
            name = self.res_layers[stage]
            block = C3Plugin(window=tuple(window) if isinstance(window, (list, tuple)) else window,
                             **options)
            setattr(self, name, C3ResLayer(block, getattr(self, name)))
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
