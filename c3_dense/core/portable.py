"""The C3 block's portable path: plain tensor operations that ``torch.jit.script`` compiles,
``torch.jit.trace`` / ONNX export record with symbolic sizes and ``torch.compile`` captures
as one graph, so an exported, scripted or compiled model runs at any input size and computes
what the eager block computes.

The eager block (:mod:`.c3`, :mod:`.windows`) is faster (autograd Functions, cached index
plans, grouped S×S matrices), but none of that can be scripted, exported or compiled. Here,
per call:

* nearest resizing gathers the source pixels F.interpolate picks, by index tensors computed
  from the sizes (ONNX's own nearest Resize picks other pixels at some sizes);
* messages lay the channels out as G groups × S slots (S = the largest group; a smaller
  group's empty slots send nothing), as the eager block does: G·S×S affinities per sample,
  not C×C (half the work at 1024 channels, a quarter at 2048). The layout is computed from
  the channel count, which a model fixes, so the graph still holds for every map size.

Each function here is scriptable on its own (type annotations, no Python-only constructs).
"""
from __future__ import annotations

from typing import List, Tuple

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


def group_layout(sizes: List[int], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """(slots, valid) for channel groups of ``sizes``, laid out as G groups × S slots (S the
    largest size): ``slots`` (G·S,) is the channel in each slot (C, one past the last channel,
    in an empty slot); ``valid`` the slots that hold a channel, in channel order."""
    size, channels = max(sizes), sum(sizes)
    slots: List[int] = []
    valid: List[int] = []
    start = 0
    for group, count in enumerate(sizes):
        for j in range(size):
            if j < count:
                slots.append(start + j)
                valid.append(group * size + j)
            else:
                slots.append(channels)
        start += count
    return (torch.tensor(slots, dtype=torch.long, device=device),
            torch.tensor(valid, dtype=torch.long, device=device))


def messages(v: torch.Tensor, values: torch.Tensor, sizes: List[int],
             include_self: bool) -> torch.Tensor:
    """m_i = Σ_j a_ij values_j, a_ij = softmax_j(-(v_i - v_j)²) over the senders j in i's
    group (j ≠ i unless ``include_self``); a channel without sender gets the zero message.
    ``v`` N×C, ``values`` N×C×D, ``sizes`` the groups' (:func:`group_sizes`)."""
    channels, depth = values.shape[1], values.shape[2]
    groups, size = len(sizes), max(sizes)
    if groups * size == channels:  # equal groups: a reshape, no empty slot
        if groups == 1:  # (a group axis of 1 makes Inductor's kernels slower)
            v_slots, value_slots = v, values
        else:
            v_slots = v.reshape(-1, groups, size)
            value_slots = values.reshape(-1, groups, size, depth)
        scores = -(v_slots.unsqueeze(-1) - v_slots.unsqueeze(-2)).square()  # N×G×S×S
        if include_self:
            weights = torch.softmax(scores, dim=-1)
        else:
            receiver = torch.arange(size, device=v.device)
            weights = torch.softmax(scores.masked_fill(
                receiver.unsqueeze(1) == receiver.unsqueeze(0), -1.0e30), dim=-1)
            if size == 1:  # a lone channel: no sender, the zero message
                weights = weights * 0.0
        return torch.matmul(weights, value_slots).reshape(-1, channels, depth)
    slots, valid = group_layout(sizes, v.device)
    # A zero channel fills the empty slots of the smaller groups; they send nothing.
    v_slots = torch.cat([v, torch.zeros_like(v[:, :1])], dim=1).index_select(1, slots)
    value_slots = torch.cat([values, torch.zeros_like(values[:, :1])],
                            dim=1).index_select(1, slots)
    v_slots = v_slots.reshape(-1, groups, size)
    value_slots = value_slots.reshape(-1, groups, size, depth)
    scores = -(v_slots.unsqueeze(-1) - v_slots.unsqueeze(-2)).square()      # N×G×S×S
    invalid = (slots == channels).reshape(groups, 1, size).expand(groups, size, size)
    if not include_self:
        receiver = torch.arange(size, device=v.device)
        invalid = invalid | (receiver.unsqueeze(1) == receiver.unsqueeze(0))
    # A masked score's exp() is 0 beside any real one; finite, so that rows without senders
    # stay NaN-free (compute dtypes are float32 or float64).
    weights = torch.softmax(scores.masked_fill(invalid, -1.0e30), dim=-1)
    weights = weights * (~invalid).any(dim=-1, keepdim=True).to(weights.dtype)
    mixed = torch.matmul(weights, value_slots).reshape(-1, groups * size, depth)
    return mixed.index_select(1, valid)
