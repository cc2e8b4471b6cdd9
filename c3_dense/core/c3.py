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

Implementation note (why it is fast): the message, the decoder's first layer and the encoder's
second layer are all linear, and Σ_j a_ij = 1, so

    W3 m_i + b3 = Σ_j a_ij (W3 W2 h_j + W3 b2) + b3,     h_j = ReLU(y_j),

and v_i = mean(W2) · h_i + mean(b2). The block therefore mixes the short A/k vectors
(W3 W2) h_j instead of the long A-vectors z_j and never materialises z. A channel with no
sender (a group of one with ``include_self=False``) gets the zero message, i.e. W3·0 + b3.
Affinities, softmax and mixing run in fp32 under autocast.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .windows import MODES, to_windows

VARIANTS = ("full", "enc_dec", "message")
NORMS = ("none", "bn")


def _window_pair(window: Union[int, Tuple[int, int], list]) -> Tuple[int, int]:
    if isinstance(window, bool):
        raise ValueError(f"window must be a positive int or a pair (h, w) of them, got {window!r}")
    if isinstance(window, int):
        window = (window, window)
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in window)):
        raise ValueError(f"window must be a positive int or a pair (h, w) of them, got {window!r}")
    return int(window[0]), int(window[1])


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _fp32(t: torch.Tensor):
    """Autocast off: affinities, softmax and mixing stay fp32 (no fp16 overflow or NaN)."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def channel_affinity(v: torch.Tensor, group_size: int, include_self: bool) -> torch.Tensor:
    """Attention weights a_ij from channel summaries ``v`` (N×C), grouped.

    Returns (N, G, S, S) fp32 weights for G groups of S = min(C, group_size) contiguous channels
    (the last group is padded; padded senders get weight 0). Rows without any sender are zero.
    """
    n, c = v.shape
    size = min(c, group_size)
    groups = -(-c // size)
    padded = groups * size != c
    v = v.float()
    if padded:
        v = F.pad(v, (0, groups * size - c))
    v = v.reshape(n, groups, size)
    scores = -(v[..., :, None] - v[..., None, :]).square()
    if include_self and not padded:
        return torch.softmax(scores, dim=-1)
    sender = torch.arange(groups * size, device=v.device).reshape(groups, size)
    invalid = (sender >= c)[:, None, :].expand(groups, size, size)
    if not include_self:
        receiver = torch.arange(size, device=v.device)
        invalid = invalid | (receiver[:, None] == receiver[None, :])  # no bool eye in ONNX
    # A finite fill (not -inf) keeps rows without senders NaN-free in forward and backward.
    weights = torch.softmax(scores.masked_fill(invalid, torch.finfo(torch.float32).min), dim=-1)
    last_group = c - (groups - 1) * size
    if include_self or last_group > 1:
        return weights  # every receiver has at least one sender
    return weights * (~invalid).any(dim=-1, keepdim=True)  # lone channels: zero message


def mix_channels(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """m_i = Σ_j a_ij values_j inside each group; ``values`` is N×C×D, result fp32 N×C×D."""
    n, c, d = values.shape
    groups, size = weights.shape[1], weights.shape[2]
    values = values.float()
    if groups * size != c:
        values = F.pad(values, (0, 0, 0, groups * size - c))
    mixed = torch.matmul(weights, values.reshape(n, groups, size, d))
    return mixed.reshape(n, groups * size, d)[:, :c]


class C3Block(nn.Module):
    """Cross-channel Communication block (see the module docstring for the equations).

    Args:
        window: spatial window (h_w, w_w) or one int for a square; A = h_w·w_w positions.
        mode: ``"resize"`` (default, the authors' final code), ``"tile"`` or ``"native"``.
        reduction: k, the encoder/decoder bottleneck is A // k (at least 1). Paper: 8.
        group_size: channels exchange messages only inside contiguous groups of this size.
        include_self: False = the paper (j ≠ i); True = the authors' code (j = i included).
        norm: ``"bn"`` adds BatchNorm1d over the A positions after the decoder (the older
            code); ``"none"`` (default) has none (the final code).
        final_relu: return ReLU(x + x̄) as the authors' code does (default: plain x + x̄).
        variant: ``"full"`` (C3), ``"enc_dec"`` (encoder/decoder without message passing) or
            ``"message"`` (message passing on the raw maps, no encoder/decoder).
        zero_init: start the decoded update at exactly zero (last layer, or the BN's γ, set to
            0), so the block is the identity at init and a pretrained network is unchanged.
    """

    def __init__(self, window: Union[int, Tuple[int, int]] = 14, *, mode: str = "resize",
                 reduction: int = 8, group_size: int = 512, include_self: bool = False,
                 norm: Optional[str] = "none", final_relu: bool = False, variant: str = "full",
                 zero_init: bool = False) -> None:
        super().__init__()
        self.window = _window_pair(window)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        norm = "none" if norm is None else norm
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS} (or None), got {norm!r}")
        self.mode = mode
        self.reduction = _check_positive_int("reduction", reduction)
        self.group_size = _check_positive_int("group_size", group_size)
        self.include_self = _check_bool("include_self", include_self)
        self.final_relu = _check_bool("final_relu", final_relu)
        self.zero_init = _check_bool("zero_init", zero_init)
        self.variant = variant
        self.norm_type = norm
        area = self.window[0] * self.window[1]
        hidden = max(1, area // self.reduction)
        self.area, self.hidden = area, hidden

        if variant == "message" and zero_init and norm == "none":
            raise ValueError("zero_init needs a layer to zero: variant='message' has no decoder, "
                             "so use norm='bn' with it or zero_init=False")
        if variant != "message":
            self.enc_fc1 = nn.Linear(area, hidden)
            self.enc_fc2 = nn.Linear(hidden, area)
            self.dec_fc1 = nn.Linear(area, hidden)
            self.dec_fc2 = nn.Linear(hidden, area)
        self.norm = nn.BatchNorm1d(area) if norm == "bn" else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal FC weights, zero biases, BN γ=1 β=0 (authors' code); zero_init last."""
        for fc in self._linears():
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
            nn.init.zeros_(fc.bias)
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
        return (f"window={self.window}, mode={self.mode!r}, reduction={self.reduction}, "
                f"group_size={self.group_size}, include_self={self.include_self}, "
                f"norm={self.norm_type!r}, final_relu={self.final_relu}, "
                f"variant={self.variant!r}, zero_init={self.zero_init}")

    def update(self, vectors: torch.Tensor) -> torch.Tensor:
        """The decoded update x̄ for channel vectors N×C×A (before the residual)."""
        if self.variant == "message":
            with _fp32(vectors):
                weights = channel_affinity(vectors.float().mean(dim=-1), self.group_size,
                                           self.include_self)
                out = mix_channels(weights, vectors).to(vectors.dtype)
        else:
            hidden = F.relu(self.enc_fc1(vectors))                      # h_i: N×C×A/k
            w2, b2 = self.enc_fc2.weight, self.enc_fc2.bias
            w3 = self.dec_fc1.weight
            # (W3 W2) h + W3 b2 = W3 z, computed on the short vectors; see module docstring.
            decoded = F.linear(hidden, w3 @ w2, torch.mv(w3, b2))
            if self.variant == "full":
                with _fp32(hidden):
                    summary = F.linear(hidden.float(), w2.float().mean(0, keepdim=True),
                                       b2.float().mean(0, keepdim=True)).squeeze(-1)  # v_i
                    weights = channel_affinity(summary, self.group_size, self.include_self)
                    decoded = mix_channels(weights, decoded).to(hidden.dtype)
            out = self.dec_fc2(F.relu(decoded + self.dec_fc1.bias))
        if self.norm is not None:
            n, c, a = out.shape
            out = self.norm(out.reshape(n * c, a)).reshape(n, c, a)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"C3Block expects a B×C×H×W tensor, got shape {tuple(x.shape)}")
        vectors, add_back = to_windows(x, self.window, self.mode)
        out = add_back(self.update(vectors))
        return F.relu(out) if self.final_relu else out
