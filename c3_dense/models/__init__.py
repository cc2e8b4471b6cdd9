"""The paper's classification backbones, by name: ``create("cifar_resnet56_c3")``.

CIFAR (100 classes by default): cifar_resnet{20,32,44,56,62,74,86,98,110} and cifar_wrn20_10,
each plain, ``_se`` and ``_c3``. ImageNet (torchvision): resnet{18,50,101}, each plain, ``_se``
and ``_c3``. Keyword arguments go to the model (num_classes) and, for ``_c3``, to every
C3Block (mode, reduction, include_self, …).
"""
from __future__ import annotations

from typing import Callable, Dict, List

import torch.nn as nn

from .cifar import CifarResNet

_MODELS: Dict[str, Callable[..., nn.Module]] = {}


def _register_family(prefix: str, make: Callable[..., nn.Module]) -> None:
    for suffix, attention in (("", None), ("_se", "se"), ("_c3", "c3")):
        _MODELS[prefix + suffix] = (lambda a: lambda **kw: make(attention=a, **kw))(attention)


for _depth in (20, 32, 44, 56, 62, 74, 86, 98, 110):
    _register_family(f"cifar_resnet{_depth}",
                     (lambda d: lambda **kw: CifarResNet(d, **kw))(_depth))
_register_family("cifar_wrn20_10", lambda **kw: CifarResNet(20, widen=10, **kw))


def _imagenet(depth: int, **kwargs) -> nn.Module:
    from .imagenet import build_imagenet_resnet  # imports torchvision, only when needed

    return build_imagenet_resnet(depth, **kwargs)


for _depth in (18, 50, 101):
    _register_family(f"resnet{_depth}", (lambda d: lambda **kw: _imagenet(d, **kw))(_depth))


def list_models() -> List[str]:
    return sorted(_MODELS)


def create(name: str, **kwargs) -> nn.Module:
    """Build a model by name; see :func:`list_models`."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return _MODELS[name](**kwargs)


__all__ = ["create", "list_models", "CifarResNet"]
