"""The paper's classification tables (CIFAR-100 top-1, %), as printed; the parameter counts
are in :data:`c3_dense.analysis.complexity.PAPER_CIFAR100`. Keys are c3_dense.models names."""
from __future__ import annotations

from typing import Dict, Tuple

# Table "CIFAR-100": baseline / + SE / + C3.
CIFAR100_TOP1: Dict[str, float] = {
    "cifar_resnet20": 67.73, "cifar_resnet20_se": 68.57, "cifar_resnet20_c3": 69.34,
    "cifar_resnet56": 71.05, "cifar_resnet56_se": 72.00, "cifar_resnet56_c3": 72.27,
    "cifar_resnet110": 72.01, "cifar_resnet110_se": 72.47, "cifar_resnet110_c3": 73.36,
    "cifar_wrn20_10": 77.96, "cifar_wrn20_10_se": 78.57, "cifar_wrn20_10_c3": 78.34,
}

# Table "Performance for different combinations": (C3 variant, depth) -> top-1.
ABLATION_TOP1: Dict[Tuple[str, int], float] = {
    ("enc_dec", 20): 68.70, ("enc_dec", 56): 71.95, ("enc_dec", 110): 72.65,
    ("message", 20): 69.13, ("message", 56): 71.79, ("message", 110): 72.74,
    ("full", 20): 69.34, ("full", 56): 72.27, ("full", 110): 73.36,
}
