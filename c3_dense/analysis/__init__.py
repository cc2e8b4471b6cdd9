"""Analysis helpers: parameter and FLOP counts (complexity), diversity lives in c3_dense.core."""
from .complexity import PAPER_CIFAR100, count_flops, count_params, complexity_rows

__all__ = ["PAPER_CIFAR100", "count_flops", "count_params", "complexity_rows"]
