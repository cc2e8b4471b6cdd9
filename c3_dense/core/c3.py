"""Cross-channel Communication (C3) block — Yang et al., NeurIPS 2019.

Each channel's map, flattened over a window of A positions, is one vector x_i. The block lets
the channels of one layer exchange messages:

    encoder      y_i = W1 x_i + b1,          z_i = W2 ReLU(y_i) + b2          (A → A/k → A)
    affinities   v_i = mean_A(z_i),          s_ij = -(v_i - v_j)²
                 a_ij = softmax_j(s_ij)      over senders j ≠ i (``include_self=False``, the
                                             paper) or all j (``include_self=True``, the
                                             authors' code); only within a channel group
    message      m_i = Σ_j a_ij z_j
    decoder      x̄_i = W4 ReLU(W3 m_i + b3) + b4      (+ BatchNorm1d over the A positions)
    residual     out = x + x̄                          (+ ReLU with ``final_relu``)

Two published forms, by name (``form``): ``"paper"`` (default) is the paper's figure and
equations, j ≠ i and a plain residual; ``"authors"`` is the authors' final code, which made
the paper's CIFAR and ImageNet tables: j = i included and ReLU(x + x̄)
(``include_self=True, final_relu=True``). ``include_self`` / ``final_relu`` given
explicitly override the form's.

Implementation note (why it is fast): the message, the decoder's first layer and the encoder's
second layer are all linear, and Σ_j a_ij = 1, so

    W3 m_i + b3 = Σ_j a_ij (W3 W2 h_j + W3 b2) + b3,     h_j = ReLU(y_j),

and v_i = mean(W2) · h_i + mean(b2). The block therefore mixes the short A/k vectors
(W3 W2) h_j instead of the long A-vectors z_j and never materialises z. A channel with no
sender (a group of one with ``include_self=False``) gets the zero message, i.e. W3·0 + b3.
Affinities, softmax and mixing run in at least fp32 (half precisions go up, float64 stays),
with autocast off. The method, its sources and where this block follows which version of the
authors' code: docs/method.md.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import math
from typing import Iterable, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from . import portable
from .windows import MODES, tile_starts, to_windows

VARIANTS = ("full", "enc_dec", "message")
# The block's published forms and the options each sets (docs/method.md): the paper's figure
# and equations, and the authors' final code (which made the paper's tables).
FORMS = {"paper": dict(include_self=False, final_relu=False),
         "authors": dict(include_self=True, final_relu=True)}
# A block's parameters grow with the window's area squared: 2^30 of them (4 GiB in float32,
# a 181×181 window at k = 8) is far beyond any useful window (the paper's largest: 28×28).
MAX_PARAMETERS = 2 ** 30
NORMS = ("none", "bn")
# How the message step is computed (same values): "function", the block's own autograd
# Function (one S×S matrix kept for backward); "sdpa", PyTorch's fused attention
# (F.scaled_dot_product_attention: on CUDA FlashAttention-style kernels that never store the
# S×S weights); "auto", the one chosen per device (the Function everywhere until a GPU
# measurement says otherwise: on this CPU fused attention is slower).
MESSAGE_IMPLS = ("auto", "function", "sdpa")
GROUPINGS = ("equal", "fixed")


class C3OptionError(ValueError):
    """An invalid :class:`C3Block` option. ``argument`` names it, so that an adapter can name
    its own config key for it without reading the message."""

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument = argument


def _window_pair(window: Union[int, Tuple[int, int], list]) -> Tuple[int, int]:
    if isinstance(window, bool):
        raise C3OptionError("window", "window must be a positive int or a pair (h, w) of them, "
                            f"got {window!r}")
    if isinstance(window, int):
        window = (window, window)
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in window)):
        raise C3OptionError("window", "window must be a positive int or a pair (h, w) of them, "
                            f"got {window!r}")
    return int(window[0]), int(window[1])


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise C3OptionError(name, f"{name} must be True or False, got {value!r}")
    return value


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise C3OptionError(name, f"{name} must be a positive int, got {value!r}")
    return value


def _check_choice(name: str, value, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise C3OptionError(name, f"{name} must be one of {choices}, got {value!r}")
    return value


def check_c3_options(window: Union[int, Tuple[int, int]] = 14, *, form: str = "paper",
                     mode: str = "resize", reduction: int = 8, group_size: int = 512,
                     grouping: str = "equal", include_self: Optional[bool] = None,
                     norm: Optional[str] = "none", final_relu: Optional[bool] = None,
                     variant: str = "full", zero_init: bool = False,
                     message_impl: str = "auto") -> dict:
    """:class:`C3Block`'s options checked (the first invalid one raises :class:`C3OptionError`
    naming it) and normalised (window as a pair, norm None as "none", include_self and
    final_relu None as the form's); nothing is allocated, so a window too large for memory is
    refused from its parameter count."""
    window = _window_pair(window)
    form = _check_choice("form", form, tuple(FORMS))
    include_self = FORMS[form]["include_self"] if include_self is None else include_self
    final_relu = FORMS[form]["final_relu"] if final_relu is None else final_relu
    options = dict(window=window, form=form, mode=_check_choice("mode", mode, MODES),
                   reduction=_check_positive_int("reduction", reduction),
                   group_size=_check_positive_int("group_size", group_size),
                   grouping=_check_choice("grouping", grouping, GROUPINGS),
                   include_self=_check_bool("include_self", include_self),
                   norm=_check_choice("norm", "none" if norm is None else norm, NORMS),
                   final_relu=_check_bool("final_relu", final_relu),
                   variant=_check_choice("variant", variant, VARIANTS),
                   zero_init=_check_bool("zero_init", zero_init),
                   message_impl=_check_choice("message_impl", message_impl, MESSAGE_IMPLS))
    area = window[0] * window[1]
    hidden = max(1, area // reduction)
    count = 0 if variant == "message" else 2 * (2 * area * hidden + area + hidden)
    if count > MAX_PARAMETERS:  # refuse before allocating (an allocation error says less)
        raise C3OptionError(
            "window", f"window {window[0]}x{window[1]} gives the block {count:,} parameters "
            f"({count * 4 / 2 ** 30:,.0f} GiB in float32; the limit is {MAX_PARAMETERS:,}): "
            "the encoder and decoder grow with the window's area squared; choose a smaller "
            "window (the paper: half the side of the map the block sees)")
    if variant == "message" and zero_init and options["norm"] == "none":
        raise C3OptionError("zero_init", "zero_init needs a layer to zero: variant='message' "
                            "has no decoder, so use norm='bn' with it or zero_init=False")
    return options


# The options a C3Block takes besides its window (check_c3_options' keyword arguments).
C3_OPTIONS = tuple(name for name in inspect.signature(check_c3_options).parameters
                   if name != "window")


def check_c3_option_names(owner: str, names: Iterable[str]) -> None:
    """Keyword arguments that ``owner`` (a network whose extra keyword arguments go to its
    C3 blocks) passes on must be C3 options: a misspelled argument of the network itself is
    named as the network's (the TypeError Python gives), not reported by the block."""
    unknown = sorted(set(names) - set(C3_OPTIONS))
    if unknown:
        raise TypeError(f"{owner}() got an unexpected keyword argument {unknown[0]!r}: neither "
                        f"one of its own arguments nor a C3 option ({', '.join(C3_OPTIONS)})")


@torch.jit.unused
def _compiling() -> bool:
    """Under torch.compile (Dynamo): the block then runs its portable path, plain tensor
    operations that Inductor fuses (the eager path's autograd Functions and cached plans are
    opaque to it)."""
    return torch.compiler.is_compiling()


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least fp32: half precisions go up (no fp16 overflow or NaN), float64 stays float64."""
    return torch.promote_types(dtype, torch.float32)


def _autocast_off(t: torch.Tensor):
    """Autocast off, so that affinities, softmax and mixing run in :func:`compute_dtype`."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def channel_groups(channels: int, group_size: int, grouping: str = "equal") -> List[int]:
    """Sizes of the contiguous channel groups inside which messages flow.

    ``"equal"`` (the authors' rule): max(1, C // group_size) groups of equal size, e.g. with
    group_size 512: 768 -> [768], 1024 -> [512, 512], 1280 -> [640, 640]. When C is not a
    multiple of the group count, the sizes differ by one (the authors' code cannot split such C).
    ``"fixed"``: groups of exactly ``group_size`` and one smaller remainder group
    (1280 -> [512, 512, 256]).
    """
    _check_choice("grouping", grouping, GROUPINGS)
    return portable.group_sizes(channels, group_size, grouping)


class _GroupLayout:
    """Channels laid out as G groups × S slots (S = the largest group); ``index`` is None when
    all groups have size S (a plain reshape), else a (G, S) map into the channels, where the
    value C marks an empty slot."""

    def __init__(self, sizes: List[int], device: torch.device):
        self.channels, self.groups, self.size = sum(sizes), len(sizes), max(sizes)
        self.sizes = sizes
        self.index = self.valid = None
        if any(s != self.size for s in sizes):
            rows, start = [], 0
            for s in sizes:
                rows.append(list(range(start, start + s)) + [self.channels] * (self.size - s))
                start += s
            self.index = torch.tensor(rows, device=device)
            self.valid = torch.nonzero(self.index.reshape(-1) < self.channels).squeeze(1)

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """N×C(×D) -> N×G×S(×D); empty slots hold zeros."""
        n, tail = t.shape[0], t.shape[2:]
        if self.index is None:
            return t.reshape(n, self.groups, self.size, *tail)
        padded = torch.cat([t, t.new_zeros(n, 1, *tail)], dim=1)
        return padded.index_select(1, self.index.reshape(-1)).reshape(n, self.groups, self.size,
                                                                      *tail)

    def scatter(self, t: torch.Tensor) -> torch.Tensor:
        """N×G×S×D -> N×C×D (drops the empty slots)."""
        n, d = t.shape[0], t.shape[-1]
        flat = t.reshape(n, self.groups * self.size, d)
        return flat if self.index is None else flat.index_select(1, self.valid)


@functools.lru_cache(maxsize=256)
def _cached_layout(sizes: Tuple[int, ...], device: torch.device) -> _GroupLayout:
    """Layouts are read-only; made once per (group sizes, device)."""
    return _GroupLayout(list(sizes), device)


def _layout(groups: Union[List[int], _GroupLayout], device: torch.device) -> _GroupLayout:
    return groups if isinstance(groups, _GroupLayout) else _cached_layout(tuple(groups), device)


def channel_affinity(v: torch.Tensor, groups: List[int], include_self: bool) -> torch.Tensor:
    """Attention weights a_ij from channel summaries ``v`` (N×C) for channel groups of the
    sizes ``groups`` (see :func:`channel_groups`).

    Returns (N, G, S, S) weights in :func:`compute_dtype` of ``v`` (S = the largest group;
    empty slots of smaller groups get weight 0). Rows without any sender are zero.
    """
    layout = _layout(groups, v.device)
    sizes = layout.sizes
    v = layout.gather(v.to(compute_dtype(v.dtype)))
    scores = -(v[..., :, None] - v[..., None, :]).square()
    if include_self and layout.index is None:
        return torch.softmax(scores, dim=-1)
    invalid = torch.zeros(layout.groups, layout.size, layout.size, dtype=torch.bool,
                          device=v.device)
    if layout.index is not None:
        invalid = invalid | (layout.index == layout.channels)[:, None, :]
    if not include_self:
        receiver = torch.arange(layout.size, device=v.device)
        invalid = invalid | (receiver[:, None] == receiver[None, :])  # no bool eye in ONNX
    # A finite fill (not -inf) keeps rows without senders NaN-free in forward and backward.
    weights = torch.softmax(scores.masked_fill(invalid, torch.finfo(scores.dtype).min), dim=-1)
    if include_self or min(sizes) > 1:
        return weights  # every receiver has at least one sender
    return weights * (~invalid).any(dim=-1, keepdim=True)  # lone channels: zero message


def mix_channels(weights: torch.Tensor, values: torch.Tensor, groups: List[int]) -> torch.Tensor:
    """m_i = Σ_j a_ij values_j inside each group; ``values`` is N×C×D, the result N×C×D in the
    weights' dtype."""
    layout = _layout(groups, values.device)
    mixed = torch.matmul(weights, layout.gather(values.to(weights.dtype)))
    return layout.scatter(mixed)


class _ChannelMessages(torch.autograd.Function):
    """m_i = Σ_j a_ij values_j with a_ij = softmax_j(-(v_i - v_j)²) for B = N·G groups laid
    out as B×S (``v``) and B×S×D (``values``), in few passes over the S×S matrices, keeping
    one of them for backward. First-order only: a second derivative raises
    (``once_differentiable``) rather than coming out silently incomplete.

    Forward: with q_ij = (v_i - v_j)² (masked senders set to +inf) and q_i = min_j q_ij, the
    weights are E_ij / Z_i with E_ij = exp(q_i - q_ij) ≤ 1 (the softmax's own stabilisation,
    the row maximum being exactly q_i) and Z_i = Σ_j E_ij, which comes out of the same matmul
    as Σ_j E_ij values_j (values get a column of ones). A row without sender has Z_i = 0 and
    gets the zero message. Backward, with P = E / Z, g = ∂L/∂m and r_i = g_i·m_i:
        ∂L/∂values = Pᵀ g,   ∂L/∂s_ij = P_ij (g_i·values_j - r_i),
        ∂L/∂v_i = -2 Σ_j (∂s_ij + ∂s_ji)(v_i - v_j).
    The S×S matrix ∂s is never formed: its row sums vanish (Σ_j P_ij = 1) and the other sums
    it enters are products of P or Pᵀ with thin matrices (values, g, r, each also times v),
    so backward reads the stored E twice, in two matmuls, whatever D. v is centred first
    (the gradient depends only on differences of v; centring keeps a large common offset from
    cancelling digits). Checked against autograd through the plain ops by gradcheck in the
    tests.
    """

    @staticmethod
    def forward(ctx, v, values, include_self: bool, empty_slots):
        q = v.unsqueeze(-2) - v.unsqueeze(-1)  # (v_j - v_i)², squared below; faster order on CPU
        q.mul_(q)
        if not include_self:
            q.diagonal(dim1=-2, dim2=-1).fill_(math.inf)
        if empty_slots is not None:  # (B, 1, S): slots of smaller groups send nothing
            q.masked_fill_(empty_slots, math.inf)
        nearest = q.amin(dim=-1, keepdim=True)
        nearest.masked_fill_(nearest == math.inf, 0.0)  # no sender: the row stays all zero
        weights = torch.sub(nearest, q, out=q).exp_()  # E, in place of q
        ones = values.new_ones(*values.shape[:-1], 1)
        summed = torch.bmm(weights, torch.cat([values, ones], dim=-1))
        total = summed[..., -1:]
        scale = torch.where(total > 0, total.reciprocal(), torch.zeros_like(total))
        messages = summed[..., :-1] * scale
        ctx.save_for_backward(v, values, weights, scale, messages)
        return messages

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        v, values, weights, scale, messages = ctx.saved_tensors
        d = values.shape[-1]
        with torch.autocast(device_type=grad.device.type, enabled=False):
            g = grad * scale                                        # g_i / Z_i
            r = (g * messages).sum(-1, keepdim=True)                # (g_i·m_i) / Z_i
            centred = (v - v.mean(-1, keepdim=True)).unsqueeze(-1)
            # Explicit 3-D bmm: on CPU several times faster than matmul on 4-D operands here.
            # Eᵀ [g, v g, r, v r]: ∂L/∂values and what the column sums of ∂s need.
            cols = torch.bmm(weights.transpose(1, 2),
                             torch.cat([g, centred * g, r, centred * r], dim=-1))
            grad_values = cols[..., :d]
            # E [v values, v]: what the rows of ∂s weighted by v need.
            rows = torch.bmm(weights, torch.cat([centred * values, centred], dim=-1))
            col_sum = (values * grad_values).sum(-1) - cols[..., 2 * d]         # Σ_j ∂s_ji
            col_v = (values * cols[..., d:2 * d]).sum(-1) - cols[..., 2 * d + 1]  # Σ_j ∂s_ji v_j
            row_v = (g * rows[..., :d]).sum(-1) - r[..., 0] * rows[..., d]      # Σ_j ∂s_ij v_j
            grad_v = -2 * (centred[..., 0] * col_sum - row_v - col_v)
        return grad_v, grad_values, None, None


def channel_messages_sdpa(v: torch.Tensor, values: torch.Tensor,
                          groups: Union[List[int], _GroupLayout],
                          include_self: bool) -> torch.Tensor:
    """:func:`channel_messages` through ``F.scaled_dot_product_attention``: the scores
    s_ij = -(v_i - v_j)² are, up to -v_i² (constant along a softmax row), the dot products
    of two-dimensional queries q_i = (2 v_i, -1) and keys k_j = (v_j, v_j²), at scale 1; v is
    centred in each group first (a shift leaves the scores unchanged and keeps the products
    small). Senders that are masked: empty slots of smaller groups, and i itself unless
    ``include_self``. A receiver without any sender attends to itself alone and its message is
    then set to zero (a fully masked row would be NaN in forward and backward)."""
    layout = _layout(groups, v.device)
    dtype = compute_dtype(v.dtype)
    v = layout.gather(v.to(dtype))                                            # N×G×S
    v = v - v.mean(dim=-1, keepdim=True)
    values = layout.gather(values.to(dtype))                                  # N×G×S×D
    query = torch.stack([2 * v, -torch.ones_like(v)], dim=-1)
    key = torch.stack([v, v * v], dim=-1)
    size = layout.size
    allowed = torch.ones(layout.groups, size, size, dtype=torch.bool, device=v.device)
    if layout.index is not None:
        allowed = allowed & (layout.index != layout.channels)[:, None, :]
    if not include_self:
        allowed = allowed & ~torch.eye(size, dtype=torch.bool, device=v.device)
    # A lone channel (a group of one, without itself): known from the sizes, no device sync.
    has_lonely = not include_self and min(layout.sizes) == 1
    if has_lonely:
        lonely = ~allowed.any(dim=-1, keepdim=True)                           # G×S×1
        allowed = allowed | (lonely & torch.eye(size, dtype=torch.bool, device=v.device))
    with _autocast_off(v):
        mixed = F.scaled_dot_product_attention(query, key, values, attn_mask=allowed,
                                               scale=1.0)
    if has_lonely:
        mixed = mixed.masked_fill(lonely, 0.0)
    return layout.scatter(mixed)


def channel_messages(v: torch.Tensor, values: torch.Tensor,
                     groups: Union[List[int], _GroupLayout], include_self: bool) -> torch.Tensor:
    """The messages m_i = Σ_j a_ij values_j for channel summaries ``v`` (N×C) and ``values``
    (N×C×D), in :func:`compute_dtype`: the values of ``mix_channels(channel_affinity(...))``
    computed in fewer passes and less memory (the eager path; exports and compiled models
    use :func:`.portable.messages`)."""
    layout = _layout(groups, v.device)
    dtype = compute_dtype(v.dtype)
    v, values = v.to(dtype), values.to(dtype)
    n, groups_, size = v.shape[0], layout.groups, layout.size
    empty = None
    if layout.index is not None:
        empty = (layout.index == layout.channels).repeat(n, 1)[:, None, :]
    mixed = _ChannelMessages.apply(layout.gather(v).reshape(n * groups_, size),
                                   layout.gather(values).reshape(n * groups_, size, -1),
                                   include_self, empty)
    return layout.scatter(mixed.reshape(n, groups_, size, -1))


class C3Block(nn.Module):
    """Cross-channel Communication block (see the module docstring for the equations).

    Args:
        window: spatial window (h_w, w_w) or one int for a square; A = h_w·w_w positions.
        form: ``"paper"`` (default: j ≠ i, plain residual) or ``"authors"`` (the authors'
            final code, which made the paper's tables: j = i included, ReLU(x + x̄)); sets
            the defaults of ``include_self`` and ``final_relu``.
        mode: ``"resize"`` (default, the authors' final code), ``"tile"`` or ``"native"``.
        reduction: k, the encoder/decoder bottleneck is A // k (at least 1). Paper: 8.
        group_size, grouping: channels exchange messages only inside contiguous groups:
            ``"equal"`` (default, the authors' rule) makes max(1, C // group_size) groups of
            equal size, ``"fixed"`` groups of exactly ``group_size`` plus a remainder group;
            see :func:`channel_groups`.
        include_self: False = the paper (j ≠ i); True = the authors' code (j = i included);
            None (default): the form's.
        norm: ``"bn"`` adds BatchNorm1d over the A positions after the decoder (the older
            code); ``"none"`` (default) has none (the final code).
        final_relu: return ReLU(x + x̄) as the authors' code does, or plain x + x̄ (the
            paper); None (default): the form's.
        variant: ``"full"`` (C3), ``"enc_dec"`` (encoder/decoder without message passing) or
            ``"message"`` (message passing on the raw maps, no encoder/decoder).
        zero_init: start the decoded update at exactly zero (last layer, or the BN's γ, set to
            0), so the block is the identity at init and a pretrained network is unchanged.
        message_impl: how the eager path computes the message step, with the same values:
            ``"function"`` (the block's autograd Function), ``"sdpa"`` (PyTorch's fused
            attention) or ``"auto"`` (default: the Function, until a GPU measurement decides
            per device). Exports and compiled models use the portable path either way.
    """

    def __init__(self, window: Union[int, Tuple[int, int]] = 14, *, form: str = "paper",
                 mode: str = "resize", reduction: int = 8, group_size: int = 512,
                 grouping: str = "equal", include_self: Optional[bool] = None,
                 norm: Optional[str] = "none", final_relu: Optional[bool] = None,
                 variant: str = "full", zero_init: bool = False,
                 message_impl: str = "auto") -> None:
        super().__init__()
        options = check_c3_options(window, form=form, mode=mode, reduction=reduction,
                                   group_size=group_size, grouping=grouping,
                                   include_self=include_self, norm=norm, final_relu=final_relu,
                                   variant=variant, zero_init=zero_init,
                                   message_impl=message_impl)
        self.window, self.mode, self.variant = options["window"], mode, variant
        self.reduction, self.group_size, self.grouping = reduction, group_size, grouping
        self.form = form
        self.include_self, self.final_relu = options["include_self"], options["final_relu"]
        self.zero_init, self.message_impl = zero_init, message_impl
        self.norm_type = norm = options["norm"]
        area = self.window[0] * self.window[1]
        hidden = max(1, area // self.reduction)
        self.area, self.hidden = area, hidden
        if variant != "message":
            self.enc_fc1 = nn.Linear(area, hidden)
            self.enc_fc2 = nn.Linear(hidden, area)
            self.dec_fc1 = nn.Linear(area, hidden)
            self.dec_fc2 = nn.Linear(hidden, area)
        self.norm = nn.BatchNorm1d(area) if norm == "bn" else None
        self._recompute_sink = None  # a list while capturing_recompute() is active
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As the authors' final code: Kaiming-normal FC weights, PyTorch's default (uniform)
        FC biases, BN γ=1 β=0; then, with ``zero_init``, the last layer (or BN) set to zero."""
        for fc in self._linears():
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
            bound = 1.0 / math.sqrt(fc.in_features)
            nn.init.uniform_(fc.bias, -bound, bound)
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.zero_init:
            last = self.norm if self.norm is not None else self.dec_fc2
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def _linears(self):
        if self.variant == "message":
            return []
        return [self.enc_fc1, self.enc_fc2, self.dec_fc1, self.dec_fc2]

    def extra_repr(self) -> str:
        return (f"window={self.window}, form={self.form!r}, mode={self.mode!r}, "
                f"reduction={self.reduction}, "
                f"group_size={self.group_size}, grouping={self.grouping!r}, include_self={self.include_self}, "
                f"norm={self.norm_type!r}, final_relu={self.final_relu}, "
                f"variant={self.variant!r}, zero_init={self.zero_init}, "
                f"message_impl={self.message_impl!r}")

    def groups(self, channels: int) -> List[int]:
        """The sizes of the channel groups for ``channels`` channels."""
        return channel_groups(channels, self.group_size, self.grouping)

    @torch.jit.unused
    def _messages(self, v: torch.Tensor, values: torch.Tensor, layout: _GroupLayout):
        """The message step by ``message_impl`` (see :data:`MESSAGE_IMPLS`)."""
        fused = self.message_impl == "sdpa"
        return (channel_messages_sdpa if fused else channel_messages)(v, values, layout,
                                                                      self.include_self)

    def update(self, vectors: torch.Tensor) -> torch.Tensor:
        """The decoded update x̄ for channel vectors N×C×A (before the residual)."""
        layout = _layout(self.groups(int(vectors.shape[1])), vectors.device)
        if self.variant == "message":
            with _autocast_off(vectors):
                exact = vectors.to(compute_dtype(vectors.dtype))
                out = self._messages(exact.mean(dim=-1), exact, layout).to(vectors.dtype)
        else:
            hidden = F.relu(self.enc_fc1(vectors))                      # h_i: N×C×A/k
            w2, b2 = self.enc_fc2.weight, self.enc_fc2.bias
            w3 = self.dec_fc1.weight
            # (W3 W2) h + W3 b2 = W3 z, computed on the short vectors; see module docstring.
            decoded = F.linear(hidden, w3 @ w2, torch.mv(w3, b2))
            if self.variant == "full":
                with _autocast_off(hidden):
                    dtype = compute_dtype(hidden.dtype)
                    summary = F.linear(hidden.to(dtype), w2.to(dtype).mean(0, keepdim=True),
                                       b2.to(dtype).mean(0, keepdim=True)).squeeze(-1)  # v_i
                    decoded = self._messages(summary, decoded, layout).to(hidden.dtype)
            out = self.dec_fc2(F.relu(decoded + self.dec_fc1.bias))
        if self.norm is not None:
            out = self.norm(out.flatten(0, 1)).reshape(out.shape)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # alone: TorchScript then compiles nothing after it
            return self.portable_forward(x)
        if _compiling() and self.mode == "tile":
            return self._compiled_tile_forward(x)
        if torch.jit.is_tracing() or _compiling():
            return self.portable_forward(x)
        return self._fast_forward(x)

    def portable_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block in plain tensor operations (:mod:`.portable`): what ``torch.jit.script``
        compiles, tracing / ONNX export record and ``torch.compile`` fuses, at any input size
        in resize and native mode. Same values as the eager path (tested against it and the
        loop reference)."""
        if x.dim() != 4:
            raise ValueError("C3Block expects a B×C×H×W tensor")
        if self.mode == "tile":  # (TorchScript takes no global string: windows.py's text)
            raise ValueError("C3Block(mode='tile') cannot be traced, scripted or exported: its "
                             "windows depend on the input size; export the same weights with "
                             "mode='resize' (or 'native' for one fixed size)")
        wh, ww = self.window[0], self.window[1]
        if self.mode == "native" and (x.shape[2] != wh or x.shape[3] != ww):
            raise ValueError("C3Block(mode='native') expects inputs of its window's size; use "
                             "mode='resize' for other sizes")
        small = portable.resize_nearest(x, wh, ww)
        update = self._portable_update(small.flatten(2), x.shape[1])
        update = update.to(x.dtype).reshape(small.shape)
        out = x + portable.resize_nearest(update, x.shape[2], x.shape[3])
        if self.final_relu:
            out = F.relu(out)
        return out

    def _portable_update(self, vectors: torch.Tensor, channels: int) -> torch.Tensor:
        """:meth:`update` in plain tensor operations (no autocast switches, no cached
        layouts); the message step on the G×S×S layout of :func:`.portable.messages`."""
        dtype = torch.promote_types(vectors.dtype, torch.float32)
        groups = portable.group_sizes(channels, self.group_size, self.grouping)
        if hasattr(self, "enc_fc1"):  # not the "message" variant
            hidden = F.relu(self.enc_fc1(vectors))
            w2, b2 = self.enc_fc2.weight, self.enc_fc2.bias
            w3 = self.dec_fc1.weight
            decoded = F.linear(hidden, w3 @ w2, torch.mv(w3, b2))
            if self.variant == "full":
                summary = F.linear(hidden.to(dtype), w2.to(dtype).mean(0, keepdim=True),
                                   b2.to(dtype).mean(0, keepdim=True)).squeeze(-1)
                decoded = portable.messages(summary, decoded.to(dtype), groups,
                                            self.include_self).to(hidden.dtype)
            out = self.dec_fc2(F.relu(decoded + self.dec_fc1.bias))
        else:
            exact = vectors.to(dtype)
            out = portable.messages(exact.mean(dim=-1), exact, groups,
                                    self.include_self).to(vectors.dtype)
        if self.norm is not None:
            out = self.norm(out.flatten(0, 1)).reshape(out.shape)
        return out

    @torch.jit.unused
    def _compiled_tile_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tile mode for torch.compile, in plain tensor operations: the windows' places are
        numbers computed from the input's size (as the eager path's plan), so Dynamo
        specialises on the map size (one graph per size) and captures slices and in-place
        slice additions instead of the eager path's autograd Functions and cached plans.
        Same windows, average by coverage and nearest resizing (maps smaller than the window)
        as :func:`~c3_dense.core.windows.to_windows`."""
        if x.dim() != 4:
            raise ValueError(f"C3Block expects a B×C×H×W tensor, got shape {tuple(x.shape)}")
        b, c, h, w = (int(v) for v in x.shape)
        wh, ww = self.window
        ph, pw = max(h, wh), max(w, ww)
        padded = x if (ph, pw) == (h, w) else portable.resize_nearest(x, ph, pw)
        rows, cols = tile_starts(ph, wh), tile_starts(pw, ww)
        places = [(r, s) for r in rows for s in cols]
        vectors = torch.stack([padded[:, :, r:r + wh, s:s + ww] for r, s in places], 1)
        update = self._portable_update(vectors.reshape(b * len(places), c, wh * ww), c)
        update = update.to(x.dtype).reshape(b, len(places), c, wh, ww)
        total = x.new_zeros(b, c, ph, pw)
        coverage = x.new_zeros(ph, pw)
        for k, (r, s) in enumerate(places):
            total[:, :, r:r + wh, s:s + ww] += update[:, k]
            coverage[r:r + wh, s:s + ww] += 1
        total = total / coverage
        if (ph, pw) != (h, w):
            total = portable.resize_nearest(total, h, w)
        out = x + total
        return F.relu(out) if self.final_relu else out

    @torch.jit.unused
    def _fast_forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"C3Block expects a B×C×H×W tensor, got shape {tuple(x.shape)}")
        vectors, add_back = to_windows(x, self.window, self.mode)
        update = self.update(vectors)
        out = add_back(update, from_vectors=True)
        out = F.relu(out) if self.final_relu else out
        sink = getattr(self, "_recompute_sink", None)
        if sink is not None:
            sink.append((out, functools.partial(_add_back_again, add_back, update.detach(),
                                                self.final_relu)))
        return out

    @contextlib.contextmanager
    def capturing_recompute(self) -> Iterator[list]:
        """While active, each forward call appends ``(output, recompute)`` to the yielded list;
        ``recompute()`` gives the output's values again, without autograd, from the input and
        the small update, which the block keeps. :class:`~c3_dense.core.stage.C3Stage` uses it
        so that the full-size output need not be stored for backward."""
        self._recompute_sink = sink = []
        try:
            yield sink
        finally:
            self._recompute_sink = None


def _add_back_again(add_back, update: torch.Tensor, final_relu: bool) -> torch.Tensor:
    with torch.no_grad():
        out = add_back(update)
        return F.relu(out) if final_relu else out
