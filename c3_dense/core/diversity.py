"""Channel diversity (docs/method.md, "Diversity"): how alike the channels of one layer are.

paper (default): for channels flattened to x_i with mean v_i and std σ_i,
    c_ij = <x_i - v_i, x_j - v_j> / (‖x_i - v_i‖ ‖x_j - v_j‖)     (Pearson correlation)
    d    = (1/n²) Σ_i Σ_j |c_ij|                                  (lower = more diverse)
identical channels give 1, mutually uncorrelated channels 1/n (the diagonal counts).

authors: the authors' code centres each pixel by its mean across channels instead of each
channel by its own mean, then takes the same normalised |inner products|, diagonal included.

A constant channel has no direction: its correlations count as 0.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterable, Optional, Sequence

import torch
import torch.nn as nn

METHODS = ("paper", "authors")


def channel_diversity(x: torch.Tensor, method: str = "paper", reduce: bool = True,
                      eps: float = 1e-12) -> torch.Tensor:
    """Diversity d of a feature map ``x`` (B×C×H×W or C×H×W).

    Returns the mean over the batch (``reduce=True``) or one value per sample.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"channel_diversity expects B×C×H×W or C×H×W, got {tuple(x.shape)}")
    flat = x.detach().float().flatten(2)                       # B×C×A
    if method == "paper":
        centred = flat - flat.mean(dim=2, keepdim=True)
    else:
        centred = flat - flat.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=2)                                # B×C
    unit = centred / norms.clamp_min(eps)[..., None]
    unit = unit * (norms > eps * (flat.abs().amax(dim=2) + 1))[..., None]
    corr = unit @ unit.transpose(1, 2)                         # B×C×C
    d = corr.abs().mean(dim=(1, 2))
    return d.mean() if reduce else d


class DiversityProbe:
    """Records the diversity of the input and output of every matching module in a model.

        probe = DiversityProbe(model)            # every C3Block by default
        stats = probe.measure(loader, max_batches=10)
        # {"c3_1": {"input": 0.41, "output": 0.33}, ...}

        probe = DiversityProbe(detector, names=["backbone.bottom_up.res3"])
        with probe.recording():                  # any way of running the model
            predictor(image)
        stats = probe.results()
    """

    def __init__(self, model: nn.Module, module_types: Optional[tuple] = None,
                 method: str = "paper", names: Optional[Sequence[str]] = None) -> None:
        modules = dict(model.named_modules())
        if names is not None:
            missing = [n for n in names if n not in modules]
            if missing:
                raise ValueError(f"the model has no module {missing[0]!r} to probe")
            self.names = list(names)
        else:
            if module_types is None:
                from .c3 import C3Block
                module_types = (C3Block,)
            self.names = [n for n, m in model.named_modules() if isinstance(m, module_types)]
            if not self.names:
                raise ValueError(f"the model has no {', '.join(t.__name__ for t in module_types)} "
                                 "to probe")
        self.model, self.method = model, method
        self._sums: Dict[str, Dict[str, float]] = {}
        self._count: Dict[str, int] = {}

    def _hook(self, name: str):
        def record(module, inputs, output):
            sums = self._sums.setdefault(name, {"input": 0.0, "output": 0.0})
            sums["input"] += float(channel_diversity(inputs[0], self.method, reduce=False).sum())
            sums["output"] += float(channel_diversity(output, self.method, reduce=False).sum())
            self._count[name] = self._count.get(name, 0) + inputs[0].shape[0]
        return record

    @contextlib.contextmanager
    def recording(self):
        """Hooks on the probed modules, model in eval mode and no autograd, for the duration;
        counts start from zero."""
        self._sums, self._count = {}, {}
        modules = dict(self.model.named_modules())
        handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.names]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield self
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)

    def results(self) -> Dict[str, Dict[str, float]]:
        """Mean input/output diversity per probed module over what was recorded."""
        return {n: {k: v / self._count[n] for k, v in self._sums[n].items()}
                for n in self.names if n in self._sums}

    def measure(self, batches: Iterable, max_batches: Optional[int] = None) -> Dict[str, Dict[str, float]]:
        """Run the model (eval mode) over ``batches`` (tensors, or tuples whose first item is
        the input) and return mean input/output diversity per probed module."""
        with self.recording():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
                self.model(inputs)
        return self.results()
