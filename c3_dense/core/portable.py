"""The C3 block's portable path: plain tensor operations that ``torch.jit.script`` compiles,
``torch.jit.trace`` / ONNX export record with symbolic sizes and ``torch.compile`` captures
as one graph, so an exported, scripted or compiled model runs at any input size and computes
what the eager block computes.

The eager block (:mod:`.c3`, :mod:`.windows`) is faster (autograd Functions, cached index
plans, grouped S×S matrices), but none of that can be scripted, exported or compiled. Here,
per call:

* nearest resizing gathers the source pixels F.interpolate picks, by index tensors computed
  from the sizes (ONNX's own nearest Resize picks other pixels at some sizes);
* messages use one C×C affinity matrix with the channel groups as a mask (the eager block
  lays the groups out as G×S×S; the weights are the same).

Each function here is scriptable on its own (type annotations, no Python-only constructs).
"""
from __future__ import annotations

from typing import List

import torch


def nearest_index(size_in: int, size_out: int, device: torch.device) -> torch.Tensor:
    """Source index of each output position of a nearest resize, as F.interpolate's
    ``mode="nearest"`` computes it (floor(i · in/out) in float32, clamped), in tensor
    operations: under tracing the sizes stay symbolic."""
    source = torch.scalar_tensor(size_in, dtype=torch.float32)
    scale = source / torch.scalar_tensor(size_out, dtype=torch.float32)
    index = (torch.arange(size_out, dtype=torch.float32) * scale).floor()
    return torch.minimum(index, source - 1).long().to(device)


def resize_nearest(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.interpolate(x, (height, width), mode="nearest")`` as two index gathers."""
    rows = nearest_index(x.shape[-2], height, x.device)
    cols = nearest_index(x.shape[-1], width, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def group_sizes(channels: int, group_size: int, grouping: str) -> List[int]:
    """Sizes of the contiguous channel groups (see :func:`c3_dense.core.c3.channel_groups`,
    which checks the arguments)."""
    sizes: List[int] = []
    if grouping == "equal":
        count = max(1, channels // group_size)
        base, extra = channels // count, channels % count
        for i in range(count):
            sizes.append(base + 1 if i < extra else base)
    else:
        for _ in range(channels // group_size):
            sizes.append(group_size)
        if channels % group_size:
            sizes.append(channels % group_size)
    return sizes


def group_ids(sizes: List[int], device: torch.device) -> torch.Tensor:
    """The group of each channel (C,), for groups of the given sizes (built from the sizes as
    numbers: repeat_interleave's data-dependent output shape would break a compiled graph)."""
    parts: List[torch.Tensor] = []
    for group, size in enumerate(sizes):
        parts.append(torch.full([size], group, dtype=torch.long, device=device))
    return torch.cat(parts)


def messages(v: torch.Tensor, values: torch.Tensor, groups: torch.Tensor,
             include_self: bool) -> torch.Tensor:
    """m_i = Σ_j a_ij values_j, a_ij = softmax_j(-(v_i - v_j)²) over the senders j in i's
    group (j ≠ i unless ``include_self``); a channel without sender gets the zero message.
    ``v`` N×C, ``values`` N×C×D, ``groups`` (C,) from :func:`group_ids`."""
    scores = -(v.unsqueeze(-1) - v.unsqueeze(-2)).square()
    invalid = groups.unsqueeze(1) != groups.unsqueeze(0)
    if not include_self:
        receiver = torch.arange(groups.shape[0], device=groups.device)
        invalid = invalid | (receiver.unsqueeze(1) == receiver.unsqueeze(0))
    # A masked score's exp() is 0 beside any real one; finite, so that rows without senders
    # stay NaN-free (compute dtypes are float32 or float64).
    weights = torch.softmax(scores.masked_fill(invalid, -1.0e30), dim=-1)
    weights = weights * (~invalid).any(dim=-1, keepdim=True).to(weights.dtype)
    return torch.matmul(weights, values)
