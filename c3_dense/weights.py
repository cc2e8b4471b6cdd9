"""Reading weights files without running code from them (framework-free).

A pickle can name any Python callable, and unpickling calls it: a crafted ``.pkl`` "weights"
file could run arbitrary code. The model files that are plain pickles (MSRA/Detectron ImageNet
``.pkl``, detectron2's converted torchvision ``.pkl``) hold only dicts, lists, strings, numbers
and numpy arrays. :func:`load_weights_pickle` admits exactly those and refuses every other
global with :class:`UnsafeWeightsFile`. (``.pth`` files are read with torch's
``weights_only=True`` loader, torch's default since 2.6.)
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import sys
from typing import Any, BinaryIO, List, Optional, Tuple

import torch

from .errors import UserInputError

# (module, name) pairs a numpy array or scalar pickles as, across numpy 1.x (numpy.core) and
# 2.x (numpy._core), plus the container types model files use.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
}


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles call (as ``_codecs.encode``) to rebuild bytes; only latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"unexpected bytes encoding {encoding!r}")
    return text.encode("latin1")


class UnsafeWeightsFile(UserInputError):
    """The file asks to load something a weights file does not hold."""


class UnreadableWeightsFile(UserInputError):
    """The file is truncated, corrupt or not a weights file at all."""


class _WeightsUnpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, source: str, what: str = "weights file"):
        super().__init__(f, encoding="latin1")  # MSRA and CIFAR files were written by Python 2
        self.source, self.what = source, what

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        raise UnsafeWeightsFile(
            f"{self.what} {self.source} asks to load {module}.{name}, which {self.what}s do "
            "not hold; refusing to unpickle it (it could run code) - use a genuine copy")

    def persistent_load(self, pid):
        fix = "; name it .pth" if self.what == "weights file" else ""
        raise UnreadableWeightsFile(f"{self.what} {self.source} is a torch checkpoint, not a "
                                    f"pickle{fix}")


def load_weights_pickle(f: BinaryIO, source: str, what: str = "weights file") -> Any:
    """Unpickle a ``.pkl`` weights file (or, with ``what``, another plain-data pickle such as
    a CIFAR batch), admitting only containers, numbers, strings and numpy arrays
    (UnsafeWeightsFile for anything else, UnreadableWeightsFile when it is broken)."""
    try:
        return _WeightsUnpickler(f, source, what).load()
    except UserInputError:
        raise
    except Exception as exc:  # truncated or not a pickle: EOFError, UnpicklingError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableWeightsFile(f"{what} {source} cannot be read ({reason}); it is "
                                    f"truncated or not a {what} - use an intact copy"
                                    ) from None


def load_torch_file(path: str):
    """torch.load with torch's safe ``weights_only=True`` loader; a broken file or one holding
    code becomes one clear error (UnreadableWeightsFile / UnsafeWeightsFile)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file: EOFError, RuntimeError, IndexError, ...
        text = str(exc).strip()
        if isinstance(exc, pickle.UnpicklingError) and (
                "Weights only load failed" in text or "Unsupported global" in text):
            raise UnsafeWeightsFile(f"weights file {path} holds Python objects that weights "
                                    "files do not hold; refusing to load them (they could run "
                                    "code) - use a genuine checkpoint") from None
        first = text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
        raise UnreadableWeightsFile(f"weights file {path} cannot be read ({first}); it is "
                                    "truncated or not a checkpoint - use an intact copy") from None


def is_new_block_key(key: str) -> bool:
    """Whether a state-dict key belongs to a C3 or SE block this package adds (a plain
    checkpoint cannot hold it)."""
    parts = key.split(".")[:-1]
    return "c3" in parts or "se" in parts or "se_plugin" in parts or "c3_plugin" in parts


def check_state_dict_fits(model: torch.nn.Module, state: dict) -> str:
    """What keeps ``state`` from being ``model``'s weights, or "" when it fits: tensors of
    other shapes, tensors the model does not have, or missing tensors other than the C3/SE
    blocks a plain checkpoint cannot hold (those start from their own init)."""
    own = model.state_dict()
    shapes = [k for k, v in own.items() if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(v.shape)]
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not is_new_block_key(k)]
    if shapes:
        return f"{len(shapes)} tensors have other shapes (e.g. {shapes[0]})"
    if unexpected:
        return f"{len(unexpected)} of its tensors are not in the model (e.g. {unexpected[0]})"
    if missing:
        return f"{len(missing)} of the model's tensors are missing (e.g. {missing[0]})"
    return ""


# ------------------------------------------------------------------ checkpoints of a run folder
def run_checkpoints(folder: str, pattern: str) -> List[str]:
    """Names in ``folder`` that belong to an earlier run: ``last_checkpoint`` and the files
    whose names match ``pattern`` (what training there would overwrite)."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder)
                  if n == "last_checkpoint" or re.fullmatch(pattern, n))


def resume_candidates(folder: str, named: str, pattern: str) -> List[str]:
    """Checkpoints to resume from, best first: ``named`` (what ``last_checkpoint`` names, when
    it is a file), then the files of ``folder`` matching ``pattern``, newest first by the first
    number in their name; a name without one (model_final.pth) counts as the newest."""
    def newness(name: str) -> float:
        number = re.search(r"\d+", name)
        return int(number.group()) if number else float("inf")

    named = named if named and os.path.isfile(named) else ""
    numbered = sorted((n for n in run_checkpoints(folder, pattern) if n != "last_checkpoint"),
                      key=newness, reverse=True)
    paths = [os.path.join(folder, n) for n in numbered]
    return ([named] if named else []) + [p for p in paths if p != named]


def read_weights_file(path: str) -> Any:
    """A ``.pkl`` through :func:`load_weights_pickle`, anything else through
    :func:`load_torch_file`."""
    if path.endswith(".pkl"):
        with open(path, "rb") as f:
            return load_weights_pickle(f, path)
    return load_torch_file(path)


def first_readable(paths: List[str], logger: Optional[logging.Logger] = None
                   ) -> Optional[Tuple[str, Any]]:
    """The first of ``paths`` that reads, with what it holds; unreadable (truncated) ones are
    skipped with a warning on stderr (and ``logger``). None when none reads. A file holding
    code still stops everything (UnsafeWeightsFile)."""
    for path in paths:
        try:
            return path, read_weights_file(path)
        except UnreadableWeightsFile as exc:
            message = f"resume: skipping {path}: {exc}"
            if logger is not None:
                logger.warning(message)
            print(f"warning: {message}", file=sys.stderr)
    return None
