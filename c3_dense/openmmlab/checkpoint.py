"""Let mmengine's own checkpoint loading (resume, ``load_from``) work under torch >= 2.6's
``weights_only=True`` default.

A Runner checkpoint holds, beside tensors, the message hub's HistoryBuffer objects and numpy
scalars/arrays; the safe unpickler refuses them. Rather than turning ``weights_only`` off
(which would run arbitrary pickled code from any file), the types a Runner checkpoint holds
(:func:`c3_dense.weights.checkpoint_globals`, the one list every reader here uses) are added
to torch's allow-list, since mmengine calls ``torch.load`` itself. Checkpoints that hold
anything else still fail.
"""
from __future__ import annotations

from c3_dense.weights import allow_checkpoint_globals


def allow_mmengine_checkpoints() -> None:
    allow_checkpoint_globals()
