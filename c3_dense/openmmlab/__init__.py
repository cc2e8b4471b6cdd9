"""What the OpenMMLab adapters (``c3_dense.mmseg``, ``c3_dense.mmpretrain``) share; needs
mmengine and mmcv (or mmcv-lite), and never the frameworks themselves.

:func:`prepare` (idempotent, run by each adapter on import) puts the ``mmcv.ops`` stand-in in
place when mmcv's compiled ops are missing, and lets mmengine checkpoints load under torch's
``weights_only`` default. :mod:`.engine` drives mmengine's Runner for the adapters' tools.
"""
from __future__ import annotations

from . import ops_fallback, seeding  # noqa: F401  (seeding: registers its hook)
from .checkpoint import allow_mmengine_checkpoints


def prepare() -> None:
    ops_fallback.install()
    allow_mmengine_checkpoints()


__all__ = ["prepare", "ops_fallback", "allow_mmengine_checkpoints"]
