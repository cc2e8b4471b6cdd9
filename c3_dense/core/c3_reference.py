"""A literal, loop-based C3 forward pass: the equations as written, one tile, one group and one
channel at a time. It shares the parameters of a :class:`C3Block` and exists to check the fast
implementation (tests) and to measure it (bench/). Not for training: it is slow on purpose.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .c3 import C3Block
from .windows import tile_starts


def _messages(block: C3Block, z: torch.Tensor) -> torch.Tensor:
    """m_i = Σ_{j in group(i)} a_ij z_j for one window's C×A matrix ``z``."""
    out = torch.zeros_like(z)
    start = 0
    for size in block.groups(z.shape[0]):
        group = z[start:start + size]
        v = group.mean(dim=1)
        for i in range(group.shape[0]):
            senders = [j for j in range(group.shape[0]) if block.include_self or j != i]
            if not senders:
                continue  # no sender: zero message
            s = torch.stack([-(v[i] - v[j]) ** 2 for j in senders])
            a = torch.softmax(s, dim=0)
            out[start + i] = sum(a[k] * group[j] for k, j in enumerate(senders))
        start += size
    return out


def _update(block: C3Block, x: torch.Tensor) -> torch.Tensor:
    """x̄ for one window's C×A matrix ``x``, straight from the equations."""
    if block.variant == "message":
        out = _messages(block, x)
    else:
        z = block.enc_fc2(F.relu(block.enc_fc1(x)))
        m = _messages(block, z) if block.variant == "full" else z
        out = block.dec_fc2(F.relu(block.dec_fc1(m)))
    return out


def reference_forward(block: C3Block, x: torch.Tensor) -> torch.Tensor:
    """The C3 block's output for ``x`` (B×C×H×W), computed with explicit loops.

    With ``norm='bn'`` the BatchNorm statistics are batch-wide, so the reference supports it
    only in eval mode (running statistics).
    """
    if block.norm is not None and block.training:
        raise ValueError("reference_forward supports norm='bn' only in eval mode")
    b, c, h, w = x.shape
    wh, ww = block.window
    out = torch.zeros_like(x)

    def decode(patch: torch.Tensor) -> torch.Tensor:  # patch: C×wh×ww
        u = _update(block, patch.reshape(c, wh * ww))
        if block.norm is not None:
            u = block.norm(u)
        return u.reshape(c, wh, ww)

    for n in range(b):
        if block.mode == "native":
            out[n] = x[n] + decode(x[n])
        elif block.mode == "resize":
            small = F.interpolate(x[n:n + 1], size=(wh, ww), mode="nearest")[0]
            upd = F.interpolate(decode(small)[None], size=(h, w), mode="nearest")[0]
            out[n] = x[n] + upd
        else:  # tile
            ph, pw = max(h, wh), max(w, ww)
            big = F.interpolate(x[n:n + 1], size=(ph, pw), mode="nearest")[0]
            total = torch.zeros_like(big)
            count = torch.zeros(ph, pw, dtype=x.dtype)
            for r in tile_starts(ph, wh):
                for q in tile_starts(pw, ww):
                    total[:, r:r + wh, q:q + ww] += decode(big[:, r:r + wh, q:q + ww])
                    count[r:r + wh, q:q + ww] += 1
            upd = F.interpolate((total / count)[None], size=(h, w), mode="nearest")[0]
            out[n] = x[n] + upd
    return F.relu(out) if block.final_relu else out
