"""Pick a channel block by name: ``create_block("c3", channels, window=14)``."""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from .c3 import C3Block
from .se import SEBlock

BLOCKS = ("c3", "se", "none")


def create_block(name: Optional[str], channels: Optional[int] = None, **kwargs) -> nn.Module:
    """Build ``"c3"`` (C3Block(**kwargs); its size does not depend on ``channels``),
    ``"se"`` (SEBlock(channels, **kwargs)) or ``"none"``/None (nn.Identity)."""
    key = "none" if name is None else str(name).lower()
    if key == "c3":
        return C3Block(**kwargs)
    if key == "se":
        if channels is None:
            raise ValueError("create_block('se') needs channels")
        return SEBlock(channels, **kwargs)
    if key == "none":
        return nn.Identity()
    raise ValueError(f"unknown block {name!r}; choose one of {BLOCKS}")
