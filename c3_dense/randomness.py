"""One seed from several numbers (framework-free): the adapters seed their generators per
epoch, iteration or sample from (run seed, position, rank), so that a resumed run draws what
the uninterrupted one drew."""
from __future__ import annotations

_MIX = 0x9E3779B1  # spreads consecutive numbers over the seed space


def mixed_seed(*parts: int) -> int:
    """A seed in [0, 2^31 - 1) that depends on every part and on their order."""
    value = 0
    for part in parts:
        value = (value * _MIX + int(part) + 1) % (2 ** 31 - 1)
    return value
