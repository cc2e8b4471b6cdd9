"""C3 in front of a stage: the one way every backbone here places a C3 block.

The paper puts C3 in front of whole stages (CIFAR: stages 1-3; ImageNet: layer2-4; see
docs/method.md). :class:`C3Stage` is that stage: an ``nn.Sequential`` that runs the C3 block
first and then the stage's own blocks. The blocks keep their keys (``0.*``, ``1.*``, ...), the
C3 block adds ``c3.*``, so a plain checkpoint loads into the C3 network with only the
``<stage>.c3.*`` keys missing, and the same keys appear in every framework.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Union

import torch.nn as nn


class C3Stage(nn.Sequential):
    """``c3`` followed by ``blocks`` (an ``nn.Sequential`` stage or an iterable of modules)."""

    def __init__(self, c3: nn.Module, blocks: Union[nn.Sequential, Iterable[nn.Module]]):
        named = (list(blocks.named_children()) if isinstance(blocks, nn.Module)
                 else [(str(i), b) for i, b in enumerate(blocks)])
        if any(name == "c3" for name, _ in named):
            raise ValueError("this stage already has a C3 block in front")
        super().__init__(OrderedDict([("c3", c3)] + named))

    def stage_blocks(self):
        """The stage's own blocks, without the C3 block."""
        return [m for name, m in self.named_children() if name != "c3"]
