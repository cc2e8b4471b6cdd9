"""C3 and SE blocks as OpenMMLab ResNet plugins, shared by the mmseg and mmdet adapters (each
also registers them in its own registry): ``plugins=[dict(cfg=dict(type='C3Plugin',
window=14), position='after_conv3', stages=(False, True, True, True))]``.

Registered in mmengine's root registry: mmcv's ``build_plugin_layer`` looks there when no
default scope is set, e.g. when a backbone is built outside a Runner."""
from __future__ import annotations

from typing import Optional

from mmengine.registry import MODELS as ROOT_MODELS

from c3_dense import SEBlock

from .resnet import C3_DEFAULTS, InitC3Block


@ROOT_MODELS.register_module()
class C3Plugin(InitC3Block):
    """C3Block as an mmcv ResNet plugin (``in_channels`` is accepted and unused: C3's size
    does not depend on the channel count); ``init_weights`` as :class:`InitC3Block`."""

    _abbr_ = "c3_plugin"

    def __init__(self, in_channels: Optional[int] = None, window=14, **kwargs):
        super().__init__(window, **{**C3_DEFAULTS, **kwargs})


@ROOT_MODELS.register_module()
class SEPlugin(SEBlock):
    """SEBlock as an mmcv ResNet plugin (r = 16 with biases by default)."""

    _abbr_ = "se_plugin"

    def __init__(self, in_channels: int, reduction: int = 16, bias: bool = True):
        super().__init__(in_channels, reduction=reduction, bias=bias)
