"""C3 in front of a stage: the one way every backbone here places a C3 block.

The paper puts C3 in front of whole stages (CIFAR: stages 1-3; ImageNet: layer2-4; see
docs/method.md). :class:`C3Stage` is that stage: an ``nn.Sequential`` that runs the C3 block
first and then the stage's own blocks. The blocks keep their keys (``0.*``, ``1.*``, ...), the
C3 block adds ``c3.*``, so a plain checkpoint loads into the C3 network with only the
``<stage>.c3.*`` keys missing, and the same keys appear in every framework.

Memory: in training, the stage's first layers store their input (the C3 output, a full-size
map) for backward, while the map before the block is stored anyway (by the previous stage's
last ReLU, or by an FPN lateral). The stage therefore stores, in the C3 output's place, a
recipe: the block's input and its small update, and rebuilds the output in backward (one
add-back, a fraction of the block's time). The gradients are the same; the C3 network then
stores about as much as the plain one.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable, Union

import torch
import torch.nn as nn


class C3Stage(nn.Sequential):
    """``c3`` followed by ``blocks`` (an ``nn.Sequential`` stage or an iterable of modules)."""

    def __init__(self, c3: nn.Module, blocks: Union[nn.Sequential, Iterable[nn.Module]]):
        named = (list(blocks.named_children()) if isinstance(blocks, nn.Module)
                 else [(str(i), b) for i, b in enumerate(blocks)])
        if any(name == "c3" for name, _ in named):
            raise ValueError("this stage already has a C3 block in front")
        super().__init__(OrderedDict([("c3", c3)] + named))

    #: Store the C3 output for backward as a recipe (see the module docstring); False stores
    #: it as a tensor, as a plain ``nn.Sequential`` would.
    recompute_c3_output = True

    def stage_blocks(self):
        """The stage's own blocks, without the C3 block."""
        return [m for name, m in self.named_children() if name != "c3"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # scripted models store nothing for backward here
            for block in self:
                x = block(x)
            return x
        if torch.compiler.is_compiling():  # the compiler plans what backward stores itself
            return super().forward(x)
        return self._forward_storing_recipe(x)

    @torch.jit.unused
    def _forward_storing_recipe(self, x: torch.Tensor) -> torch.Tensor:
        capture = getattr(self.c3, "capturing_recompute", None)
        if not (self.recompute_c3_output and torch.is_grad_enabled() and capture is not None):
            return super().forward(x)
        with capture() as captured:
            out = self.c3(x)
        blocks = self.stage_blocks()
        if len(captured) != 1 or captured[0][0] is not out:  # e.g. a hook replaced the output
            for block in blocks:
                out = block(out)
            return out
        recipe = _StoredAsRecipe(out, captured[0][1])
        # Until the blocks have run, the output stays referenced here, so that its memory cannot
        # be reused by a tensor of the same geometry that pack would then take for it.
        first = out
        with torch.autograd.graph.saved_tensors_hooks(recipe.pack, recipe.unpack):
            for block in blocks:
                out = block(out)
        del first
        return out


class _StoredAsRecipe:
    """saved_tensors_hooks that store one tensor (exactly it: same storage, offset, shape and
    strides) as a recipe and rebuild it on unpack; other tensors are stored as they are. The
    rebuilt tensor is shared by the unpacks of one backward and dropped after the last."""

    def __init__(self, tensor: torch.Tensor, recompute: Callable[[], torch.Tensor]):
        self.key = self._key(tensor)
        self.recompute = recompute
        self.pending = 0
        self.rebuilt = None

    @staticmethod
    def _key(t: torch.Tensor):
        # The version counter (autograd's own record of in-place changes) is part of the key:
        # a block that modifies the output in place before saving it gets it stored as is,
        # since the recipe rebuilds the values the C3 block returned. (torch has no public
        # accessor for the counter.)
        return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(),
                t.dtype, t.device, t._version)

    def pack(self, t: torch.Tensor):
        if self._key(t) != self.key:
            return t
        self.pending += 1
        return self

    def unpack(self, packed):
        if packed is not self:
            return packed
        rebuilt = self.rebuilt if self.rebuilt is not None else self.recompute()
        self.pending -= 1
        self.rebuilt = rebuilt if self.pending > 0 else None
        return rebuilt
