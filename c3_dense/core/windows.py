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
from typing import Callable, NamedTuple, Optional, Tuple

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


class _ResizePlan(NamedTuple):
    """How resize mode goes from an H×W map to its h_w×w_w window and back (nearest)."""
    factors: Optional[Tuple[int, int]]  # (H/h_w, W/w_w) when both divide, else None
    flat: Optional[torch.Tensor]        # else: the source pixel of each window pixel (A,)
    rows: Optional[torch.Tensor]        # else: the window row of each output row (H,)
    select: torch.Tensor                # 0/1, one 1 per column: window column of each output
    # column, w_w × W; with factors, repeated H/h_w times side by side (w_w × H/h_w·W), the
    # columns of one block of H/h_w output rows


# The plan of a map size is made once and kept (small, read-only): on small maps the block's
# time is mostly per-operation overhead, and making it is a dozen operations.
@functools.lru_cache(maxsize=256)
def _resize_plan(h: int, w: int, wh: int, ww: int, device: torch.device,
                 dtype: torch.dtype) -> _ResizePlan:
    select = torch.zeros(ww, w, dtype=dtype, device=device)
    select[nearest_index(ww, w, device), torch.arange(w, device=device)] = 1
    if h % wh == 0 and w % ww == 0:
        return _ResizePlan((h // wh, w // ww), None, None, select.repeat(1, h // wh))
    flat = (nearest_index(h, wh, device)[:, None] * w + nearest_index(w, ww, device)).reshape(-1)
    return _ResizePlan(None, flat, nearest_index(wh, h, device), select)


class _GradientCarrier:
    """Hands the output's gradient from :class:`_ResizeUpAdd`'s backward to the
    :class:`_ResizeDown` backward of the same block call, so that ∂L/∂x (= ∂L/∂out + the
    window's gradient put back at its source pixels) is made in one new map: autograd would
    add two full-size maps, one of them mostly zeros."""

    __slots__ = ("grad",)

    def __init__(self):
        self.grad = None


class _ResizeDown(torch.autograd.Function):
    """The window's pixels of x (B×C×H×W) as B×C×A channel vectors: every (H/h_w)-th row and
    (W/w_w)-th column for integer factors, else one index_select over the flattened map.

    Backward returns the whole ∂L/∂x of the block: the output's gradient, handed over by
    :class:`_ResizeUpAdd` (whose backward runs first: this one's input gradient comes from
    it), plus the window's gradient added at its source pixels."""

    @staticmethod
    def forward(ctx, x, plan: _ResizePlan, carrier: _GradientCarrier):
        ctx.shape, ctx.plan, ctx.carrier = x.shape, plan, carrier
        b, c, h, w = x.shape
        if plan.factors is not None:
            return x[:, :, ::plan.factors[0], ::plan.factors[1]].reshape(b, c, -1)
        return x.reshape(b * c, h * w).index_select(1, plan.flat).reshape(b, c, -1)

    @staticmethod
    def backward(ctx, grad):
        (b, c, h, w), plan = ctx.shape, ctx.plan
        passed, ctx.carrier.grad = ctx.carrier.grad, None
        if passed is None:
            full = grad.new_zeros(b, c, h, w)
        else:
            full = passed.clone(memory_format=torch.contiguous_format)
        if plan.factors is not None:
            fh, fw = plan.factors
            full[:, :, ::fh, ::fw] += grad.reshape(b, c, h // fh, w // fw)
        else:
            full.view(b * c, h * w).index_add_(1, plan.flat, grad.reshape(b * c, -1))
        return full, None, None


class _ResizeUpAdd(torch.autograd.Function):
    """x + u resized up to H×W (nearest), for x B×C×H×W and u (B·C)×h_w×w_w, as one GEMM
    x + u' @ select that writes the output once (exact: ``select`` has one 1 per column).
    Integer factors: u' = u itself, over blocks of H/h_w output rows; else u' = u's rows
    picked for each output row. On CPU this beats F.interpolate plus an addition, and
    broadcasting the rows, at every ResNet stage size.

    Backward: ∂u sums the output's gradient over the pixels each window pixel fed (integer
    factors: strided additions, faster on CPU than a GEMM or a reduction over two inner
    dimensions); ∂x goes to :class:`_ResizeDown` through ``carrier`` when there is one, i.e.
    when the caller promised that u is computed from _ResizeDown's output (its backward then
    always follows, since u reaches x only through it). Backward uses
    differentiable ops only, so double backward works."""

    @staticmethod
    def forward(ctx, x, u, plan: _ResizePlan, carrier: _GradientCarrier):
        ctx.shape, ctx.u_shape, ctx.plan, ctx.carrier = x.shape, u.shape, plan, carrier
        b, c, h, w = x.shape
        out = torch.empty((b, c, h, w), dtype=x.dtype, device=x.device)
        if plan.factors is not None:
            rows = b * c * (h // plan.factors[0])
            torch.addmm(x.reshape(rows, -1), u.reshape(rows, -1), plan.select,
                        out=out.view(rows, -1))
        else:
            picked = u.index_select(1, plan.rows).reshape(b * c * h, -1)
            torch.addmm(x.reshape(b * c * h, w), picked, plan.select, out=out.view(b * c * h, w))
        return out

    @staticmethod
    def backward(ctx, grad):
        (h, w), (n, wh, ww), plan = ctx.shape[2:], ctx.u_shape, ctx.plan
        grad_u = grad_x = None
        if ctx.needs_input_grad[1]:
            if plan.factors is not None:
                fh, fw = plan.factors
                by_rows = grad.reshape(n, wh, fh, w)
                summed = by_rows[:, :, 0]
                for i in range(1, fh):
                    summed = summed + by_rows[:, :, i]
                by_cols = summed.reshape(n, wh, ww, fw)
                grad_u = by_cols[..., 0]
                for j in range(1, fw):
                    grad_u = grad_u + by_cols[..., j]
                grad_u = grad_u.reshape(n, wh, ww)
            else:
                with torch.autocast(device_type=grad.device.type, enabled=False):
                    per_row = torch.mm(grad.reshape(n * h, w), plan.select.t()).reshape(n, h, ww)
                grad_u = per_row.new_zeros(n, wh, ww).index_add_(1, plan.rows, per_row)
        if ctx.needs_input_grad[0]:
            if ctx.needs_input_grad[1] and ctx.carrier is not None:
                ctx.carrier.grad = grad
            else:  # u does not depend on x (or no promise that it does): no hand-over
                grad_x = grad
        return grad_x, grad_u, None, None


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


def to_windows(x: torch.Tensor, window: Tuple[int, int], mode: str) -> Tuple[torch.Tensor, AddBack]:
    """Turn ``x`` (B×C×H×W) into channel vectors (N×C×A) and return the way back.

    ``add_back(update, from_vectors=False)`` takes the block's N×C×A update and returns
    x + update at full size
    (nearest-resized, or tiles averaged by coverage), always a new tensor, never a view (a
    caller may modify it in place, e.g. under activation checkpointing). Resize mode is two
    autograd Functions, :class:`_ResizeDown` and :class:`_ResizeUpAdd`: the same values as
    F.interpolate, several times faster on CPU. ``from_vectors=True`` promises that the update
    is computed from the returned vectors (as the block's is); ∂L/∂x is then made in one
    full-size map, by the vectors' backward. Without that promise it is made as autograd
    would, by adding the two paths' gradients.
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
        return x.reshape(b, c, area), lambda u, from_vectors=False: x + cast(u).reshape(b, c, h, w)

    if mode == "resize":
        plan, carrier = _resize_plan(h, w, wh, ww, x.device, x.dtype), _GradientCarrier()

        def add_back(u: torch.Tensor, from_vectors: bool = False) -> torch.Tensor:
            with torch.autocast(device_type=x.device.type, enabled=False):  # keep x's dtype
                return _ResizeUpAdd.apply(x, cast(u).reshape(b * c, wh, ww), plan,
                                          carrier if from_vectors else None)

        return _ResizeDown.apply(x, plan, carrier), add_back

    if mode == "tile":
        # A map smaller than the window is first brought up to it (nearest), per dimension.
        up, index, coverage, down = _tile_plan(h, w, window, x.device)
        padded = x if up is None else x[:, :, up[0], up[1]]
        ph, pw = int(padded.shape[2]), int(padded.shape[3])
        tiles = index.shape[0]
        flat = padded.reshape(b, c, ph * pw).index_select(2, index.reshape(-1))
        vectors = flat.reshape(b, c, tiles, area).transpose(1, 2).reshape(b * tiles, c, area)

        def add_back(u: torch.Tensor, from_vectors: bool = False) -> torch.Tensor:
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
        return x.flatten(2), lambda u, from_vectors=False: x + u.to(x.dtype).reshape(x.shape)
    small = F.interpolate(x, size=window, mode="nearest")

    def add_back(u: torch.Tensor, from_vectors: bool = False) -> torch.Tensor:
        u = u.to(x.dtype).reshape(small.shape)
        return x + F.interpolate(u, size=x.shape[-2:], mode="nearest")

    return small.flatten(2), add_back
