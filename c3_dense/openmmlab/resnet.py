"""C3 in OpenMMLab ResNets (mmseg's and mmpretrain's share their layout: ``res_layers``,
``num_stages``, ``frozen_stages``): the pieces both adapters' C3 backbones are made of."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch.nn as nn

from c3_dense import C3Block, C3Stage, SEBlock
from c3_dense.core import C3_OPTIONS, C3OptionError

C3_DEFAULTS = dict(zero_init=True)  # a pretrained network starts unchanged


class InitC3Block(C3Block):
    """C3Block with mmengine's ``init_weights``: it re-applies the block's own init (zero_init
    included) after the ResNet's init_cfg has set every BatchNorm weight to 1, and before a
    ``Pretrained`` checkpoint is loaded (mmengine's order), so a checkpoint's C3 weights are
    kept."""

    def init_weights(self):
        self.reset_parameters()


class C3ResLayer(C3Stage):
    """A ResNet layer with a C3 block in front (:class:`c3_dense.C3Stage`) that passes
    mmengine's ``init_weights`` on to its blocks, as OpenMMLab's ResLayer does."""

    def init_weights(self):
        for child in self.children():
            if hasattr(child, "init_weights"):
                child.init_weights()


class NewBlocksTrain:
    """Mixin for OpenMMLab ResNets: ``frozen_stages`` freezes the pretrained layers, but the C3
    and SE blocks inside them are new and train (as in the detectron2 adapter).

    ``freeze_new_blocks=True`` keeps mmseg's and mmpretrain's own contract instead: every
    parameter of a frozen stage is frozen, the new blocks' too (their backbone tests check
    this; a fine-tune from our own C3 checkpoint may want it)."""

    def __init__(self, *args, freeze_new_blocks: bool = False, **kwargs):
        self.freeze_new_blocks = bool(freeze_new_blocks)
        super().__init__(*args, **kwargs)

    def _train_new_blocks(self, mode: bool = True) -> None:
        if self.freeze_new_blocks:
            return  # the framework's own freezing stands
        for module in self.modules():
            if isinstance(module, (C3Block, SEBlock)):
                module.train(mode)
                module.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        self._train_new_blocks(mode)
        return self


def put_c3_in_front(backbone: nn.Module, stages: Sequence[int], windows: Sequence,
                    options: dict, make_block: Callable[..., nn.Module]) -> None:
    """Wrap ``backbone``'s layers ``stages`` (0-based: 1, 2, 3 = in front of layer2, layer3,
    layer4) in :class:`C3ResLayer` with ``make_block(window=..., **options)`` in front; keys
    ``layerN.c3.*``."""
    stages, windows = list(stages), list(windows)
    if any(not isinstance(s, int) or not 0 <= s < backbone.num_stages for s in stages):
        raise ValueError(f"c3_stages {stages}: stages are 0..{backbone.num_stages - 1} "
                         "(1, 2, 3 = in front of layer2, layer3, layer4)")
    if len(windows) != len(stages):
        raise ValueError(f"c3_windows has {len(windows)} entries for {len(stages)} c3_stages; "
                         "give one window per stage")
    unknown = sorted(set(options or {}) - set(C3_OPTIONS))
    if unknown:
        raise ValueError(f"c3_cfg key {unknown[0]!r} is not a C3 option; use "
                         f"{', '.join(C3_OPTIONS)} (c3_stages and c3_windows are the "
                         "backbone's own arguments)")
    options = {**C3_DEFAULTS, **(options or {})}
    for i, (stage, window) in enumerate(zip(stages, windows)):
        name = backbone.res_layers[stage]
        try:
            block = make_block(window=tuple(window) if isinstance(window, (list, tuple))
                               else window, **options)
        except C3OptionError as exc:  # named by the config key that set it
            key = f"c3_windows[{i}]" if exc.argument == "window" else f"c3_cfg.{exc.argument}"
            raise C3OptionError(exc.argument, f"{key}: {exc}; fix it in the backbone's "
                                "config") from None
        setattr(backbone, name, C3ResLayer(block, getattr(backbone, name)))


class C3InFront(NewBlocksTrain):
    """Mixin for an OpenMMLab ResNet (mmseg's, mmdet's, mmpretrain's): C3 blocks in front of
    stages ``c3_stages`` (0-based: 1, 2, 3 = in front of layer2, layer3, layer4), one window
    each from ``c3_windows``, further C3Block options in ``c3_cfg``; keys ``layerN.c3.*``.
    A class sets ``c3_block`` (what builds a block) and ``c3_defaults`` (its options' defaults
    over :data:`C3_DEFAULTS`)."""

    c3_block: Callable[..., nn.Module] = InitC3Block
    c3_defaults: dict = {}

    def __init__(self, c3_stages: Sequence[int] = (1, 2, 3), c3_windows: Sequence = (28, 14, 7),
                 c3_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        put_c3_in_front(self, c3_stages, c3_windows, {**self.c3_defaults, **(c3_cfg or {})},
                        type(self).c3_block)
        self._train_new_blocks()


class SEPluginInBottlenecks(NewBlocksTrain):
    """Mixin for an mmcv-style ResNet that takes ``plugins`` (mmseg's, mmdet's): SE in every
    Bottleneck of ``se_stages`` (one flag per stage), a plugin after conv3 (``SEPlugin``,
    options ``se_cfg``); keys ``layerN.i.se_plugin.*``."""

    def __init__(self, se_stages: Sequence[bool] = (True, True, True, True),
                 se_cfg: Optional[dict] = None, plugins: Optional[list] = None, **kwargs):
        depth = kwargs.get("depth")
        if depth in (18, 34):
            raise ValueError(f"{type(self).__name__} needs Bottleneck blocks (depth 50, 101, "
                             f"152), got depth={depth}: BasicBlock takes no plugins")
        se = dict(cfg=dict(type="SEPlugin", **(se_cfg or {})), position="after_conv3",
                  stages=tuple(bool(s) for s in se_stages))
        super().__init__(plugins=list(plugins or []) + [se], **kwargs)
        self._train_new_blocks()
