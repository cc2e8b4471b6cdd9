"""The JSON files our tools write for people and other tools to read (metrics, predictions,
diversity): strict JSON, where a number that is not defined (COCO's AP of a size with no
objects is NaN) is ``null`` rather than the ``NaN`` that Python's json writes and other
readers refuse."""
from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any

from .files import write_whole


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) as None, numbers of other types
    (numpy, torch scalars) as int or float, containers rebuilt."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, numbers.Integral):  # numpy's integers
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def metrics_path(evaluated: str) -> str:
    """Where the metrics of evaluating a file (a checkpoint, a predictions file) go when the
    user does not say: beside it, named after it (``model_final.pth`` →
    ``model_final_eval.json``), so that the metrics of two checkpoints of one run stay apart
    and are found with what they measure."""
    stem = os.path.splitext(os.path.basename(evaluated))[0]
    return os.path.join(os.path.dirname(os.path.abspath(evaluated)), f"{stem}_eval.json")


def write_json(path: str, data: Any, indent: int = 2) -> str:
    """Write ``data`` to ``path`` as strict JSON (see :func:`json_safe`), whole or not at all
    (:func:`c3_dense.files.write_whole`); returns ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    text = json.dumps(json_safe(data), indent=indent, allow_nan=False)
    write_whole(path, text.encode(), "free space on that disk or write the file elsewhere")
    return path
