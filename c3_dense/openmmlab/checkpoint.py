"""Let mmengine checkpoints load under torch >= 2.6's ``weights_only=True`` default.

A Runner checkpoint holds, beside tensors, the message hub's HistoryBuffer objects and numpy
scalars/arrays; the safe unpickler refuses them and ``resume``/``load_from`` break. Rather
than turning ``weights_only`` off (which would run arbitrary pickled code from any file),
the few types an mmengine checkpoint holds are added to torch's allow-list. The pickled
HistoryBuffer refers to its statistic methods through ``getattr(HistoryBuffer, "min")``;
plain ``getattr`` would open the door to arbitrary code, so the allow-list gets a getattr
that serves exactly those attributes and refuses everything else. Checkpoints that hold
anything else still fail, with torch's message naming the type.
"""
from __future__ import annotations

import pickle

import torch


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to what mmengine checkpoints pickle: HistoryBuffer's statistics."""
    from mmengine.logging.history_buffer import HistoryBuffer

    # The built-in statistics (filled into _statistics_methods on first use) and custom ones.
    allowed = {"min", "max", "current", "mean"} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f"checkpoint asks for getattr({obj!r}, {name!r}); only "
                                 "mmengine HistoryBuffer statistics are allowed")


def allow_mmengine_checkpoints() -> None:
    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is None:  # torch < 2.4 loads everything anyway
        return
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = [HistoryBuffer, np.ndarray, np.dtype]
    multiarray = getattr(np, "_core", None) or getattr(np, "core")
    allowed.append(multiarray.multiarray._reconstruct)
    allowed.append(multiarray.multiarray.scalar)
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "float16", "int64", "int32",
                                            "int16", "int8", "uint8", "bool")]
    add(allowed + [(_history_buffer_getattr, "builtins.getattr")])
