"""Spatial windows for the C3 block: how a B×C×H×W map becomes N×C×A channel vectors and back.

Three modes (docs/method.md, "Spatial window"):

* ``resize`` – nearest-resize the map to the window, and the block's update back to H×W.
* ``tile``   – cut the map into h_w×w_w windows that cover it (evenly spread, overlapping when
  H, W are not multiples of the window), process all windows as one batch and average the
  updates by per-pixel coverage. A map smaller than the window in a dimension is first
  nearest-resized up to the window in that dimension.
* ``native`` – the window is the map itself; the input size must equal the window.

Everything here is batched tensor indexing; no Python loop touches data. Under tracing
(``torch.jit.trace``, ONNX export) resize and native mode take a size-general path, so an
exported model runs at any input size; tile mode's layout depends on the input size, so it
refuses to be traced.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

MODES = ("resize", "tile", "native")


def tile_starts(length: int, window: int) -> list[int]:
    """Start offsets of the fewest windows of size ``window`` that cover ``length`` positions.

    The windows are spread evenly, so they overlap when ``length`` is not a multiple of
    ``window``; ``length >= window`` is required.
    """
    if length < window:
        raise ValueError(f"tile_starts: length {length} is smaller than window {window}")
    count = math.ceil(length / window)
    if count == 1:
        return [0]
    return [round(i * (length - window) / (count - 1)) for i in range(count)]


def tile_index(height: int, width: int, window: Tuple[int, int],
               device: torch.device) -> torch.Tensor:
    """Flat pixel indices of every tile: a (tiles, h_w·w_w) long tensor over a H×W map."""
    wh, ww = window
    rows = torch.tensor(tile_starts(height, wh), device=device)[:, None] + torch.arange(wh, device=device)
    cols = torch.tensor(tile_starts(width, ww), device=device)[:, None] + torch.arange(ww, device=device)
    # (nh, nw, wh, ww) flat indices, ordered tile by tile.
    flat = rows[:, None, :, None] * width + cols[None, :, None, :]
    return flat.reshape(-1, wh * ww)


def nearest_index(size_in: int, size_out: int, device: torch.device) -> torch.Tensor:
    """Source index of each output position of a nearest resize, exactly as F.interpolate's
    ``mode="nearest"`` computes it: floor(i · in/out) in float32, clamped."""
    scale = torch.tensor(size_in, dtype=torch.float32) / size_out
    index = (torch.arange(size_out, dtype=torch.float32) * scale).floor().long()
    return index.clamp_(max=size_in - 1).to(device)


AddBack = Callable[[torch.Tensor], torch.Tensor]


# The index tensors of a map size are made once and kept (small, read-only): on small maps the
# block's time is mostly per-operation overhead, and making them is a dozen operations.
@functools.lru_cache(maxsize=256)
def _resize_plan(h: int, w: int, wh: int, ww: int, device: torch.device,
                 dtype: torch.dtype) -> Tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
    """(flat indices of the window's pixels, or None for integer factors; source row of each
    output row; 0/1 column selection matrix ww×w) for resize mode."""
    flat = None
    if h % wh or w % ww:
        flat = (nearest_index(h, wh, device)[:, None] * w + nearest_index(w, ww, device)).reshape(-1)
    select = torch.zeros(ww, w, dtype=dtype, device=device)
    select[nearest_index(ww, w, device), torch.arange(w, device=device)] = 1
    return flat, nearest_index(wh, h, device), select


@functools.lru_cache(maxsize=256)
def _tile_plan(h: int, w: int, window: Tuple[int, int], device: torch.device):
    """(map brought up to at least the window: row and column indices, or None; tile index
    (T, A); per-pixel coverage; indices back down, or None) for tile mode."""
    ph, pw = max(h, window[0]), max(w, window[1])
    up = down = None
    if (ph, pw) != (h, w):
        up = nearest_index(h, ph, device)[:, None], nearest_index(w, pw, device)
        down = nearest_index(ph, h, device)[:, None], nearest_index(pw, w, device)
    index = tile_index(ph, pw, window, device)
    return up, index, torch.bincount(index.reshape(-1), minlength=ph * pw), down


def _needs_fresh_output() -> bool:
    """With autograd off (inference, or inside a custom autograd Function such as activation
    checkpointing, whose caller may modify the output in place) the block must return a fresh
    tensor, not a view; with autograd on, the fused ops that end in a reshape are faster."""
    return not torch.is_grad_enabled()


def to_windows(x: torch.Tensor, window: Tuple[int, int], mode: str) -> Tuple[torch.Tensor, AddBack]:
    """Turn ``x`` (B×C×H×W) into channel vectors (N×C×A) and return the way back.

    ``add_back(update)`` takes the block's N×C×A update and returns x + update at full size
    (nearest-resized, or tiles averaged by coverage). Nearest resizing down is a strided view
    for integer factors, else indexing; up and the addition are one matmul with a 0/1
    selection matrix: the same values as F.interpolate, several times faster on CPU. With autograd
    off the result is a fresh tensor, never a view (see ``_needs_fresh_output``).
    """
    if torch.jit.is_tracing():
        return _traceable_windows(x, window, mode)
    b, c, h, w = (int(v) for v in x.shape)
    wh, ww = window
    area = wh * ww

    def cast(u: torch.Tensor) -> torch.Tensor:
        return u.to(x.dtype)

    if mode == "native" or (mode == "resize" and (h, w) == (wh, ww)):
        if (h, w) != (wh, ww):
            raise ValueError(f"C3Block(mode='native') expects {wh}x{ww} inputs, got {h}x{w}; "
                             "use mode='resize' or mode='tile' for other sizes")
        return x.reshape(b, c, area), lambda u: x + cast(u).reshape(b, c, h, w)

    if mode == "resize":
        # Up: rows by index, columns by a 0/1 selection matrix (exact: one 1 per column), so
        # that upsampling and the addition are one GEMM, x + rows @ select; on CPU it beats
        # broadcasting views and gathers at every stage size.
        flat, rows_out, select = _resize_plan(h, w, wh, ww, x.device, x.dtype)
        if flat is None:  # integer factors: a strided view
            small = x[:, :, ::h // wh, ::w // ww]
        else:  # one index_select over the flattened map (fastest, forward and backward)
            small = x.reshape(b * c, h * w).index_select(1, flat)

        def add_back(u: torch.Tensor) -> torch.Tensor:
            rows = cast(u).reshape(b * c, wh, ww).index_select(1, rows_out).reshape(b * c * h, ww)
            with torch.autocast(device_type=x.device.type, enabled=False):  # keep x's dtype
                if _needs_fresh_output():
                    out = torch.empty((b, c, h, w), dtype=x.dtype, device=x.device)
                    torch.addmm(x.reshape(b * c * h, w), rows, select,
                                out=out.view(b * c * h, w))
                    return out
                return torch.addmm(x.reshape(b * c * h, w), rows, select).reshape(b, c, h, w)

        return small.reshape(b, c, area), add_back

    if mode == "tile":
        # A map smaller than the window is first brought up to it (nearest), per dimension.
        up, index, coverage, down = _tile_plan(h, w, window, x.device)
        padded = x if up is None else x[:, :, up[0], up[1]]
        ph, pw = int(padded.shape[2]), int(padded.shape[3])
        tiles = index.shape[0]
        flat = padded.reshape(b, c, ph * pw).index_select(2, index.reshape(-1))
        vectors = flat.reshape(b, c, tiles, area).transpose(1, 2).reshape(b * tiles, c, area)

        def add_back(u: torch.Tensor) -> torch.Tensor:
            u = cast(u).reshape(b, tiles, c, area).transpose(1, 2).reshape(b, c, tiles * area)
            # scatter_add (not index_add): it exports to ONNX with duplicate indices.
            summed = u.new_zeros(b, c, ph * pw).scatter_add(
                2, index.reshape(1, 1, -1).expand(b, c, -1), u)
            update = (summed / coverage.to(u.dtype)).reshape(b, c, ph, pw)
            if down is not None:
                update = update[:, :, down[0], down[1]]
            return x + update

        return vectors, add_back

    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _traceable_windows(x: torch.Tensor, window: Tuple[int, int],
                       mode: str) -> Tuple[torch.Tensor, AddBack]:
    """to_windows for tracing and export: sizes stay symbolic (the traced graph reads them from
    the input), nearest resizing is F.interpolate (the values of the fast eager path)."""
    if mode == "tile":
        raise ValueError("C3Block(mode='tile') cannot be traced or exported: its windows depend "
                         "on the input size; export the same weights with mode='resize' "
                         "(or 'native' for one fixed size)")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "native":
        return x.flatten(2), lambda u: x + u.to(x.dtype).reshape(x.shape)
    small = F.interpolate(x, size=window, mode="nearest")

    def add_back(u: torch.Tensor) -> torch.Tensor:
        u = u.to(x.dtype).reshape(small.shape)
        return x + F.interpolate(u, size=x.shape[-2:], mode="nearest")

    return small.flatten(2), add_back
