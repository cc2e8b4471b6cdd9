"""Parameters and FLOPs of the paper's backbones, plain / +SE / +C3, next to the paper's numbers.

FLOPs are counted with fvcore (imported only when counting): one fused multiply-add = 1 FLOP,
for convolutions, linear layers and matmuls (the C3 encoder, decoder and channel mixing
included); BatchNorm counts one per element, nearest resizing one per output element, and
ReLU, softmax and additions are not counted. C3 is counted as this package computes it (the
decoder's first layer folded into the encoder's second, mixing the A/k-vectors), which is less
than the literal equations. The paper's baseline FLOPs follow a 2019
thop-style count instead (conv: C_in × output elements × (kernel area + bias), BN 4/element,
ReLU 1/element), so they differ from fvcore's by a model-dependent factor; the paper's C3 FLOP
increases match no single convention (docs/method.md). Parameter counts follow one convention
only and are comparable directly.
"""
from __future__ import annotations

import logging
import warnings
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn

# (params M, FLOPs) as printed in the paper; None where the paper has no entry.
PAPER_CIFAR100: Dict[str, Tuple[Optional[float], Optional[str]]] = {
    "cifar_resnet20": (0.28, "41.7M"), "cifar_resnet20_se": (0.28, "41.8M"),
    "cifar_resnet20_c3": (0.35, "46.0M"),
    "cifar_resnet56": (0.86, "128.2M"), "cifar_resnet56_se": (0.87, "128.5M"),
    "cifar_resnet56_c3": (0.93, "132.5M"),
    "cifar_resnet110": (1.74, "257.9M"), "cifar_resnet110_se": (1.76, "258.5M"),
    "cifar_resnet110_c3": (1.81, "262.2M"),
    "cifar_wrn20_10": (26.86, "3.84G"), "cifar_wrn20_10_se": (27.26, "3.84G"),
    "cifar_wrn20_10_c3": (26.93, "3.87G"),
    # "C3 saves depth" model-size table (ResNet-110's 1.80 there disagrees with 1.81 above).
    "cifar_resnet62": (0.96, None), "cifar_resnet62_c3": (1.03, None),
    "cifar_resnet74": (1.15, None), "cifar_resnet74_c3": (1.22, None),
    "cifar_resnet86": (1.35, None), "cifar_resnet86_c3": (1.41, None),
    "cifar_resnet98": (1.54, None), "cifar_resnet98_c3": (1.61, None),
    "resnet18": (11.7, None), "resnet18_se": (11.8, None), "resnet18_c3": (12.0, None),
    "resnet50": (25.6, None), "resnet50_c3": (25.9, None),
    "resnet101": (44.6, None), "resnet101_c3": (44.9, None),
}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: Tuple[int, ...]) -> int:
    """fvcore FLOPs (fused multiply-add = 1) of one forward pass on zeros of ``input_shape``."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("FLOP counting needs fvcore: pip install fvcore") from exc
    model = model.eval()
    analysis = FlopCountAnalysis(model, torch.zeros(input_shape))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # fvcore traces with torch.jit, which warns it is deprecated
        warnings.simplefilter("ignore")
        return int(analysis.total())


def _fmt_flops(value: float) -> str:
    return f"{value / 1e9:.2f}G" if value >= 1e9 else f"{value / 1e6:.1f}M"


def complexity_rows(names: Iterable[str], flops: bool = True) -> List[Dict[str, str]]:
    """One row per model name: params (M, 2 decimals), fvcore FLOPs and the paper's values."""
    from ..models import create

    rows = []
    for name in names:
        model = create(name)
        size = 224 if name.startswith("resnet") else 32
        paper_params, paper_flops = PAPER_CIFAR100.get(name, (None, None))
        rows.append({
            "model": name,
            "params (M)": f"{count_params(model) / 1e6:.2f}",
            "paper params (M)": "-" if paper_params is None else f"{paper_params:.2f}",
            "FLOPs (fvcore)": _fmt_flops(count_flops(model, (1, 3, size, size))) if flops else "-",
            "paper FLOPs": paper_flops or "-",
        })
    return rows
