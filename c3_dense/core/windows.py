"""Spatial windows for the C3 block: how a B×C×H×W map becomes N×C×A channel vectors and back.

Three modes (docs/method.md, "Spatial window"):

* ``resize`` – nearest-resize the map to the window, and the block's update back to H×W.
* ``tile``   – cut the map into h_w×w_w windows that cover it (evenly spread, overlapping when
  H, W are not multiples of the window), process all windows as one batch and average the
  updates by per-pixel coverage. A map smaller than the window in a dimension is first
  nearest-resized up to the window in that dimension.
* ``native`` – the window is the map itself; the input size must equal the window.

Everything here is batched tensor operations, except overlapping tiles: one slice copy per
window there (a few dozen, each over all channels; faster on CPU than gathering by index).
This is the eager path; tracing, scripting, ONNX export and torch.compile run the block's
portable path instead (:mod:`.portable`, ``C3Block.portable_forward``).
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple, Optional, Tuple

import torch

from .portable import nearest_index

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


AddBack = Callable[..., torch.Tensor]  # add_back(update, from_vectors=False)


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


def channels_last(t: torch.Tensor) -> bool:
    """Whether a 4-D tensor is laid out channels-last (and not also plainly contiguous, as a
    tensor with one channel or a 1×1 map is): then the resize path works on its N×H×W×C view,
    keeps that layout on its output and copies no full map."""
    return (t.dim() == 4 and not t.is_contiguous()
            and t.is_contiguous(memory_format=torch.channels_last))


def _source_pixels(plan: "_ResizePlan", w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The row and column of each window pixel's source (non-integer factors)."""
    return plan.flat // w, plan.flat % w


def _window_columns(plan: "_ResizePlan") -> torch.Tensor:
    """The window column each output column takes (the 1 in each column of ``select``)."""
    return plan.select.argmax(dim=0)


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
        ctx.channels_last = channels_last(x)
        b, c, h, w = x.shape
        if plan.factors is not None:
            return x[:, :, ::plan.factors[0], ::plan.factors[1]].reshape(b, c, -1)
        if ctx.channels_last:  # gathers the window's pixels only (a reshape would copy x)
            rows, cols = _source_pixels(plan, w)
            return x[:, :, rows, cols]
        return x.reshape(b * c, h * w).index_select(1, plan.flat).reshape(b, c, -1)

    @staticmethod
    def backward(ctx, grad):
        (b, c, h, w), plan = ctx.shape, ctx.plan
        passed, ctx.carrier.grad = ctx.carrier.grad, None
        layout = torch.channels_last if ctx.channels_last else torch.contiguous_format
        if passed is None:
            full = torch.empty((b, c, h, w), dtype=grad.dtype, device=grad.device,
                               memory_format=layout).zero_()
        else:
            full = passed.clone(memory_format=layout)
        if plan.factors is not None:
            fh, fw = plan.factors
            full[:, :, ::fh, ::fw] += grad.reshape(b, c, h // fh, w // fw)
        elif ctx.channels_last:  # summed at the source pixels (shared when the map is smaller)
            rows, cols = _source_pixels(plan, w)
            full.permute(2, 3, 0, 1).index_put_((rows, cols), grad.permute(2, 0, 1),
                                                accumulate=True)
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
        if channels_last(x):  # on the N×H×W×C views, the output channels-last as x
            out = torch.empty_like(x, memory_format=torch.channels_last)
            wh, ww = u.shape[1], u.shape[2]
            small = u.reshape(b, c, wh, ww).permute(0, 2, 3, 1)            # N×h_w×w_w×C view
            x_view, out_view = x.permute(0, 2, 3, 1), out.permute(0, 2, 3, 1)
            if plan.factors is not None:  # broadcast over each window pixel's block
                fh, fw = plan.factors
                torch.add(x_view.view(b, wh, fh, ww, fw, c), small[:, :, None, :, None, :],
                          out=out_view.view(b, wh, fh, ww, fw, c))
            else:  # per output row, its window row through the 0/1 column map (one GEMM)
                rows = small.index_select(1, plan.rows).reshape(b * h, ww, c)
                torch.baddbmm(x_view.reshape(b * h, w, c), plan.select.t().expand(b * h, w, ww),
                              rows, out=out_view.view(b * h, w, c))
            return out
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
        if ctx.needs_input_grad[1] and channels_last(grad):
            b, c = ctx.shape[:2]
            g = grad.permute(0, 2, 3, 1)                                    # N×H×W×C view
            if plan.factors is not None:
                fh, fw = plan.factors
                summed = g.reshape(b, wh, fh, ww, fw, c).sum(dim=(2, 4))
            else:
                per_col = g.new_zeros(b, h, ww, c).index_add_(2, _window_columns(plan), g)
                summed = g.new_zeros(b, wh, ww, c).index_add_(1, plan.rows, per_col)
            grad_u = summed.permute(0, 3, 1, 2).reshape(n, wh, ww)
        elif ctx.needs_input_grad[1]:
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


class _TilePlan(NamedTuple):
    """Where tile mode's windows lie on a map (brought up to at least the window first)."""
    up: Optional[Tuple[torch.Tensor, torch.Tensor]]    # rows, columns to bring the map up
    down: Optional[Tuple[torch.Tensor, torch.Tensor]]  # and back down; None if not needed
    starts: Tuple[Tuple[int, ...], Tuple[int, ...]]    # the windows' first rows and columns
    window: Tuple[int, int]
    exact: bool                                        # windows side by side, no overlap
    inverse_coverage: Optional[torch.Tensor]  # 1 / windows per pixel (H×W); None if exact


@functools.lru_cache(maxsize=256)
def _tile_plan(h: int, w: int, window: Tuple[int, int], device: torch.device) -> _TilePlan:
    ph, pw = max(h, window[0]), max(w, window[1])
    up = down = None
    if (ph, pw) != (h, w):
        up = nearest_index(h, ph, device)[:, None], nearest_index(w, pw, device)
        down = nearest_index(ph, h, device)[:, None], nearest_index(pw, w, device)
    starts = tuple(tile_starts(ph, window[0])), tuple(tile_starts(pw, window[1]))
    if ph == len(starts[0]) * window[0] and pw == len(starts[1]) * window[1]:
        return _TilePlan(up, down, starts, window, True, None)
    rows, cols = ([s + k for s in st for k in range(size)] for st, size in zip(starts, window))
    # Windows per pixel, counted in Python (the plan is made once per size; no bincount,
    # which PyTorch lists among the ops that are nondeterministic on CUDA).
    coverage = (torch.tensor([rows.count(i) for i in range(ph)])[:, None]
                * torch.tensor([cols.count(j) for j in range(pw)])[None, :])
    return _TilePlan(up, down, starts, window, False,
                     coverage.reciprocal().to(device=device, dtype=torch.float64))


def _tiles_of(t: torch.Tensor, plan: _TilePlan):
    """(window view of ``t`` B×C×H×W, the matching slot of a B×n_h×n_w×C×h_w×w_w tensor)
    index pairs, one per window."""
    (wh, ww), (row_starts, col_starts) = plan.window, plan.starts
    for i, r in enumerate(row_starts):
        for j, c in enumerate(col_starts):
            yield (slice(None), slice(None), slice(r, r + wh), slice(c, c + ww)), (slice(None), i, j)


class _TileGather(torch.autograd.Function):
    """The windows of ``t`` (B×C×H×W), overlapping ones included, as (B·T)×C×A vectors: one
    slice copy per window. Its adjoint is :class:`_TileScatter` (each one's backward is the
    other), so double backward works."""

    @staticmethod
    def forward(ctx, t, plan: _TilePlan):
        ctx.plan, ctx.shape = plan, t.shape
        (b, c), (nh, nw), (wh, ww) = t.shape[:2], map(len, plan.starts), plan.window
        out = t.new_empty(b, nh, nw, c, wh, ww)
        for window, slot in _tiles_of(t, plan):
            out[slot].copy_(t[window])
        return out.reshape(b * nh * nw, c, wh * ww)

    @staticmethod
    def backward(ctx, grad):
        return _TileScatter.apply(grad, ctx.plan, ctx.shape), None


class _TileScatter(torch.autograd.Function):
    """The sum over windows of (B·T)×C×A vectors put back at their places on a zero B×C×H×W
    map (overlaps add up): one in-place slice addition per window."""

    @staticmethod
    def forward(ctx, u, plan: _TilePlan, shape):
        ctx.plan = plan
        (b, c, h, w), (nh, nw), (wh, ww) = shape, map(len, plan.starts), plan.window
        tiles = u.reshape(b, nh, nw, c, wh, ww)
        out = u.new_zeros(b, c, h, w)
        for window, slot in _tiles_of(out, plan):
            out[window] += tiles[slot]
        return out

    @staticmethod
    def backward(ctx, grad):
        return _TileGather.apply(grad, ctx.plan), None, None


def to_windows(x: torch.Tensor, window: Tuple[int, int], mode: str) -> Tuple[torch.Tensor, AddBack]:
    """Turn ``x`` (B×C×H×W) into channel vectors (N×C×A) and return the way back.

    ``add_back(update, from_vectors=False)`` takes the block's N×C×A update and returns
    x + update at full size (nearest-resized, or tiles averaged by coverage); with autograd
    off it is never a view (a caller may modify it in place, e.g. under activation
    checkpointing, where a view made without autograd is an error). Resize mode is two
    autograd Functions, :class:`_ResizeDown` and :class:`_ResizeUpAdd`: the same values as
    F.interpolate, several times faster on CPU. ``from_vectors=True`` promises that the update
    is computed from the returned vectors (as the block's is); ∂L/∂x is then made in one
    full-size map, by the vectors' backward. Without that promise it is made as autograd
    would, by adding the two paths' gradients.
    """
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
        # Windows evenly spread over the map: side by side when the map is a multiple of the
        # window (a view: cut out and put back by one permuted copy and one addition), else
        # overlapping (one slice copy per window, and back one slice addition per window,
        # then the average by coverage).
        plan = _tile_plan(h, w, window, x.device)
        padded = x if plan.up is None else x[:, :, plan.up[0], plan.up[1]]
        ph, pw = int(padded.shape[2]), int(padded.shape[3])
        (nh, nw) = (len(s) for s in plan.starts)
        tiles = nh * nw
        if plan.exact:
            vectors = padded.reshape(b, c, nh, wh, nw, ww).permute(0, 2, 4, 1, 3, 5)
            vectors = vectors.reshape(b * tiles, c, area)
        else:
            vectors = _TileGather.apply(padded, plan)

        def add_back(u: torch.Tensor, from_vectors: bool = False) -> torch.Tensor:
            u = cast(u)
            if plan.exact:
                u = u.reshape(b, nh, nw, c, wh, ww).permute(0, 3, 1, 4, 2, 5)
                if plan.down is None:
                    if torch.is_grad_enabled():
                        return (x.reshape(b, c, nh, wh, nw, ww) + u).reshape(b, c, h, w)
                    # Without autograd (e.g. inside activation checkpointing) never a view: a
                    # view made there cannot be changed in place once autograd is back on.
                    out = torch.empty((b, c, h, w), dtype=x.dtype, device=x.device)
                    torch.add(x.reshape(b, c, nh, wh, nw, ww), u,
                              out=out.view(b, c, nh, wh, nw, ww))
                    return out
                update = u.reshape(b, c, ph, pw)
            else:
                update = _TileScatter.apply(u, plan, (b, c, ph, pw))
                if plan.down is None:
                    return torch.addcmul(x, update, plan.inverse_coverage.to(update.dtype))
                update = update * plan.inverse_coverage.to(update.dtype)
            return x + update[:, :, plan.down[0], plan.down[1]]

        return vectors, add_back

    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
