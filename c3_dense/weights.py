"""Reading weights files without running code from them (framework-free).

A pickle can name any Python callable, and unpickling calls it: a crafted ``.pkl`` "weights"
file could run arbitrary code. The model files that are plain pickles (MSRA/Detectron ImageNet
``.pkl``, detectron2's converted torchvision ``.pkl``) hold only dicts, lists, strings, numbers
and numpy arrays. :func:`load_weights_pickle` admits exactly those and refuses every other
global with :class:`UnsafeWeightsFile`. (``.pth`` files are read with torch's
``weights_only=True`` loader, torch's default since 2.6.)
"""
from __future__ import annotations

import functools
import logging
import math
import os
import pickle
import re
import sys
from typing import Any, BinaryIO, Dict, List, Mapping, Optional, Tuple

import torch

from .errors import RunInterrupted, RunStopped, UserInputError
from .files import free_bytes, size_text

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


class _TrainingLogStandIn:
    """What a training framework's log buffer (mmengine's HistoryBuffer, pickled in every
    Runner checkpoint beside the weights) becomes when that framework is not installed: its
    fields as plain data; nothing of it is ever called."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


def _stand_in_getattr(obj, name: str):
    """``getattr`` as a Runner checkpoint pickles it (a log buffer's statistic, by name),
    without mmengine: the name itself."""
    if obj is _TrainingLogStandIn and isinstance(name, str) and not name.startswith("_"):
        return name
    raise pickle.UnpicklingError(f"checkpoint asks for getattr({obj!r}, {name!r})")


def _history_buffer_getattr(obj, name: str):
    """``getattr`` as mmengine pickles a HistoryBuffer's statistic methods
    (``getattr(HistoryBuffer, "mean")``), restricted to exactly that: public attributes of
    HistoryBuffer's own class (built-in and registered statistics). Plain getattr would let a
    file reach any attribute of any allowed object."""
    from mmengine.logging.history_buffer import HistoryBuffer

    if obj is HistoryBuffer and isinstance(name, str) and not name.startswith("_") \
            and name in vars(HistoryBuffer):
        return getattr(obj, name)
    raise pickle.UnpicklingError(f"checkpoint asks for getattr({obj!r}, {name!r}); only "
                                 "mmengine HistoryBuffer statistics are allowed")


_HISTORY_BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"


@functools.lru_cache(maxsize=1)
def checkpoint_globals() -> tuple:
    """What torch's ``weights_only`` loader must admit, beyond tensors, for the checkpoints
    the frameworks' trainers write: numpy arrays and scalars (both numpy 1.x and 2.x paths)
    and mmengine's log buffers (the real HistoryBuffer when mmengine is installed, so that a
    Runner resumes its logs; a plain-data stand-in otherwise). One list, used by every reader
    here and registered for mmengine's own loader by :mod:`c3_dense.openmmlab`."""
    import numpy as np

    allowed: list = [np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "float16", "int64", "int32",
                                            "int16", "int8", "uint8", "bool")]
    core = getattr(np, "_core", None) or np.core  # files name either path, by numpy version
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(core.multiarray._reconstruct, f"{module}._reconstruct"),
                    (core.multiarray.scalar, f"{module}.scalar")]
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:
        allowed += [(_TrainingLogStandIn, _HISTORY_BUFFER),
                    (_stand_in_getattr, "builtins.getattr")]
    else:
        allowed += [HistoryBuffer, (_history_buffer_getattr, "builtins.getattr")]
    return tuple(allowed)


def allow_checkpoint_globals() -> None:
    """Add :func:`checkpoint_globals` to torch's ``weights_only`` allow-list for the whole
    process: the frameworks call ``torch.load`` themselves (mmengine's resume and
    ``load_from``), and torch's scoped ``safe_globals`` would remove them again on exit."""
    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is not None:  # torch < 2.4 loads everything anyway
        add(list(checkpoint_globals()))


def pickled_globals(path: str) -> List[str]:
    """The globals (``module.name``) the pickle inside torch checkpoint ``path`` asks for,
    read from its opcodes without unpickling anything; [] when it cannot be read."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            data = archive.read(name)
        names, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
        return list(dict.fromkeys(names))
    except Exception:  # not a zip checkpoint, or broken: the caller has its own message
        return []


# Globals a weights file may name: torch's tensor machinery, containers, numpy, and what
# :func:`checkpoint_globals` admits. Anything else is what made the safe loader refuse it.
_KNOWN_PREFIXES = ("torch.", "collections.", "numpy.", "_codecs.", "builtins.", "__builtin__.",
                   "mmengine.logging.history_buffer.")


def load_torch_file(path: str):
    """torch.load with torch's safe ``weights_only=True`` loader, admitting what the
    frameworks' checkpoints hold (:func:`checkpoint_globals`); a broken file, or one holding
    anything else, becomes one clear error (UnreadableWeightsFile / UnsafeWeightsFile) naming
    what it asks for."""
    allow_checkpoint_globals()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file: EOFError, RuntimeError, IndexError, ...
        text = str(exc).strip()
        if isinstance(exc, pickle.UnpicklingError) and (
                "Weights only load failed" in text or "Unsupported global" in text):
            foreign = [g for g in pickled_globals(path) if not g.startswith(_KNOWN_PREFIXES)]
            what = (f"asks to load {foreign[0]}" if foreign else
                    "holds Python objects other than tensors, numbers and training logs")
            raise UnsafeWeightsFile(f"weights file {path} {what}, which weights files do not "
                                    "hold; refusing to unpickle it (it could run code) - use a "
                                    "genuine checkpoint") from None
        first = text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
        raise UnreadableWeightsFile(f"weights file {path} cannot be read ({first}); it is "
                                    "truncated or not a checkpoint - use an intact copy") from None


def checkpoint_origin(ckpt: Any) -> str:
    """Which trainer wrote a loaded checkpoint, by its layout: "mmengine" (mmseg, mmpretrain:
    ``state_dict`` with ``meta`` or ``message_hub``), "detectron2" (``model`` with
    ``iteration`` or detectron2's ``__author__``), else ""."""
    if not isinstance(ckpt, dict):
        return ""
    if isinstance(ckpt.get("state_dict"), dict) and ("meta" in ckpt or "message_hub" in ckpt):
        return "mmengine"
    if isinstance(ckpt.get("model"), dict) and ("iteration" in ckpt or "__author__" in ckpt):
        return "detectron2"
    return ""


def is_new_block_key(key: str) -> bool:
    """Whether a state-dict key belongs to a C3 or SE block this package adds (a plain
    checkpoint cannot hold it; detectron2's SE is the ``activation`` of a block's last
    convolution, which plain ResNets leave empty)."""
    parts = set(key.split(".")[:-1])
    return bool(parts & {"c3", "se", "se_plugin", "c3_plugin", "activation"})


# Where a block's SE sits, in each framework's slot after the block's last norm (detectron2,
# mmpretrain, torchvision); this package's earlier versions kept it at ``<block>.se.*``.
SE_SLOTS = ("conv3.activation", "conv2.activation", "drop_path.se", "bn3.se", "bn2.se")
_EARLIER_SE = re.compile(r"^(.*\.\d+)\.se\.(.*)$")


def _current_se_key(own: Mapping, key: str) -> Optional[str]:
    """Where a model whose state dict is ``own`` keeps the SE tensor that this package's
    earlier versions named ``key``; None when ``key`` is not such a name."""
    match = _EARLIER_SE.match(key)
    if not match or key in own:
        return None
    moved = (f"{match.group(1)}.{slot}.{match.group(2)}" for slot in SE_SLOTS)
    return next((k for k in moved if k in own), None)


def upgrade_se_keys(own: Mapping, state: Mapping) -> Dict:
    """``state`` with SE tensors under this package's earlier keys (``<block>.se.*``) moved to
    where a model whose state dict is ``own`` keeps them; every other key as it is."""
    return {(_current_se_key(own, k) or k): v for k, v in state.items()}


def _window_text(positions: int) -> str:
    side = math.isqrt(positions)
    return f"{side}×{side}" if side * side == positions else f"{positions} positions"


def c3_window_positions(state: Mapping) -> Dict[str, Tuple[int, int]]:
    """{C3 block prefix: (window positions A, bottleneck A/k)} of a state dict, read from the
    encoder's first layer (A/k × A) or, for the message-only variant, its norm (A)."""
    found: Dict[str, Tuple[int, int]] = {}
    for key, value in state.items():
        shape = tuple(getattr(value, "shape", ()))
        if key.endswith(".c3.enc_fc1.weight") and len(shape) == 2:
            found[key[:-len(".enc_fc1.weight")]] = (shape[1], shape[0])
        elif key.endswith(".c3.norm.weight") and len(shape) == 1:
            found.setdefault(key[:-len(".norm.weight")], (shape[0], 0))
    return found


def _stem(keys) -> str:
    """"deep (ResNetV1c)" (three 3×3 convolutions: ``stem.0``…), "7×7" (``conv1`` or
    detectron2's ``stem.conv1``) or "" (neither)."""
    if any(re.search(r"(^|\.)stem\.\d", k) for k in keys):
        return "deep (ResNetV1c)"
    if any(re.search(r"^(backbone\.)?conv1\.weight$|(^|\.)stem\.conv1\.weight$", k)
           for k in keys):
        return "7×7"
    return ""


def _paired_blocks(own: Mapping, state: Mapping):
    """(model's C3 block, its (A, A/k), the weights' (A, A/k)) for each C3 block of the model
    that the weights have too; names are paired when one ends with the other (detectron2's
    ``backbone.bottom_up.res3.c3`` and a backbone file's ``res3.c3``)."""
    ours, theirs = c3_window_positions(own), c3_window_positions(state)
    for key, size in ours.items():
        match = next((t for t in theirs if t == key or key.endswith("." + t)
                      or t.endswith("." + key)), None)
        if match is not None:
            yield key, size, theirs[match]


def describe_c3_misfit(own: Mapping, state: Mapping) -> str:
    """How the weights' C3 blocks differ from the model's (windows, else bottlenecks), or ""."""
    pairs = list(_paired_blocks(own, state))
    windows = [f"{k} {_window_text(w[0])} in the weights, {_window_text(m[0])} in the model"
               for k, m, w in pairs if m[0] != w[0]]
    if windows:
        return f"the C3 windows differ ({'; '.join(windows)})"
    widths = [f"{k} {w[1]} in the weights, {m[1]} in the model" for k, m, w in pairs
              if m[1] != w[1]]
    if widths:
        return ("the C3 bottlenecks (window positions // reduction) differ "
                f"({'; '.join(widths)})")
    return ""


def describe_misfit(own: Mapping, state: Mapping, allow_new_blocks: bool = True) -> str:
    """What keeps ``state`` from being the weights of a model whose state dict is ``own``, or
    "" when it fits, most telling first: C3 windows or bottlenecks that differ (per block),
    another stem, tensors of other shapes (other widths or depth), tensors the model does not
    have, missing tensors (with ``allow_new_blocks``, the C3/SE blocks a plain checkpoint
    cannot hold, and BatchNorm's batch counters, are allowed to be missing)."""
    c3 = describe_c3_misfit(own, state)
    if c3:
        return c3
    stems = _stem(state), _stem(own)
    if all(stems) and stems[0] != stems[1]:
        return f"the weights have a {stems[0]} stem, the model a {stems[1]} one"
    shapes = [k for k, v in own.items() if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(v.shape)]
    if shapes:
        k = shapes[0]
        return (f"{len(shapes)} tensors have other shapes (other widths or depth; e.g. {k}: "
                f"{tuple(state[k].shape)} in the weights, {tuple(own[k].shape)} in the model)")
    unexpected = [k for k in state if k not in own]
    moved = [(k, new) for k in unexpected if (new := _current_se_key(own, k))]
    if moved:
        return (f"its SE tensors have this package's earlier names (e.g. {moved[0][0]}, now "
                f"{moved[0][1]}); rename them with c3_dense.weights.upgrade_se_keys")
    if unexpected:
        extra = [k for k in unexpected if is_new_block_key(k)]
        if extra and len(extra) == len(unexpected):
            return (f"its C3/SE blocks ({len(extra)} tensors, e.g. {extra[0]}) are not in the "
                    "model")
        return f"{len(unexpected)} of its tensors are not in the model (e.g. {unexpected[0]})"
    missing = [k for k in own if k not in state and not (allow_new_blocks and (
        is_new_block_key(k) or k.endswith("num_batches_tracked")))]
    if missing:
        return f"{len(missing)} of the model's tensors are missing (e.g. {missing[0]})"
    return ""


def check_state_dict_fits(model: torch.nn.Module, state: dict) -> str:
    """What keeps ``state`` from being ``model``'s weights, or "" when it fits (see
    :func:`describe_misfit`; the C3/SE blocks a plain checkpoint cannot hold may be missing)."""
    return describe_misfit(model.state_dict(), state)


def windows_of_weights(own: Mapping, state: Mapping) -> Optional[str]:
    """The square windows the weights' C3 blocks have, in the model's block order, as a list
    to put on a command line ("[28,14,7]"), when they differ from the model's (what a config
    must set to take the weights); else None."""
    pairs = list(_paired_blocks(own, state))
    if not pairs or len(pairs) != len(c3_window_positions(own)) or all(
            m[0] == w[0] for _, m, w in pairs):
        return None
    sides = [math.isqrt(w[0]) for _, _, w in pairs]
    if any(side * side != w[0] for side, (_, _, w) in zip(sides, pairs)):
        return None  # not square: no single override to name
    return "[" + ",".join(map(str, sides)) + "]"


# ------------------------------------------------------------------ checkpoints of a run folder
def run_checkpoints(folder: str, pattern: str) -> List[str]:
    """Names in ``folder`` that belong to an earlier run: ``last_checkpoint`` and the files
    whose names match ``pattern`` (what training there would overwrite)."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder)
                  if n == "last_checkpoint" or re.fullmatch(pattern, n))


def run_would_overwrite(folder: str, path: str, pattern: str) -> bool:
    """Whether ``path`` (through any spelling or link) is a file in run folder ``folder`` whose
    name matches ``pattern``: a checkpoint that training there writes over."""
    if not path or not os.path.isfile(path) or not os.path.isdir(folder):
        return False
    real = os.path.realpath(path)
    return (os.path.samefile(os.path.dirname(real), folder)
            and re.fullmatch(pattern, os.path.basename(real)) is not None)


def resume_candidates(folder: str, named: str, pattern: str) -> List[str]:
    """Checkpoints to resume from, best first: ``named`` (what ``last_checkpoint`` names; kept
    when it is gone, so that :func:`first_readable` says so), then the files of ``folder``
    matching ``pattern``, newest first by the first number in their name; a name without one
    (model_final.pth) counts as the newest."""
    def newness(name: str) -> float:
        number = re.search(r"\d+", name)
        return int(number.group()) if number else float("inf")

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
    """The first of ``paths`` that reads, with what it holds; missing or unreadable (truncated)
    ones are skipped with a warning on stderr (and ``logger``). None when none reads. A file
    holding code still stops everything (UnsafeWeightsFile)."""
    for path in paths:
        try:
            if not os.path.isfile(path):
                raise UnreadableWeightsFile(f"{path} does not exist (last_checkpoint names it)")
            return path, read_weights_file(path)
        except UnreadableWeightsFile as exc:
            message = f"resume: skipping {path}: {exc}"
            if logger is not None:
                logger.warning(message)
            print(f"warning: {message}", file=sys.stderr)
    return None


# ------------------------------------------------------------------ writing checkpoints
def checkpoint_size(model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer] = None
                    ) -> int:
    """About how many bytes a training checkpoint of ``model`` takes: its state dict, plus
    the optimizer's state per trainable parameter once it has stepped (one tensor for
    momentum, two for Adam's moments)."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if optimizer is None:
        return weights
    defaults = getattr(optimizer, "defaults", {})
    per_parameter = 2 if "betas" in defaults else 1 if defaults.get("momentum") else 0
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return weights + per_parameter * trainable


def check_room(folder: str, needed: int, fix: str) -> None:
    """Refuse, before any work, a run whose checkpoint (about ``needed`` bytes) cannot fit
    in the free space of ``folder``'s disk."""
    free = free_bytes(folder)
    if free < needed:
        raise UserInputError(f"the disk of {folder} has {size_text(free)} free, but a "
                             f"checkpoint of this run takes about {size_text(needed)}; {fix}")


def torch_bytes(obj: Any) -> bytes:
    """``obj`` as torch.save writes it."""
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def resume_advice(last: str) -> str:
    """The fix of a run stopped by a full disk whose last complete checkpoint is ``last``."""
    return "free space on that disk (" + (
        f"resuming continues from {last}" if last else
        "no checkpoint was complete yet: resuming starts anew") + ")"


def run_interrupted(done: int, total: int, last: str, where: str = "") -> RunInterrupted:
    """Ctrl-C after ``done`` of ``total`` iterations (``where``: e.g. the epoch), with the
    run's last complete checkpoint ``last`` ("" when none)."""
    return RunInterrupted(f"training stopped after {done} of {total} iterations{where}; " + (
        f"its last complete checkpoint is {last}" if last else "no checkpoint was written yet"))


def disk_full_stop(exc: OSError, folder: str, fix: str) -> RunStopped:
    """A full disk met outside a checkpoint (a log, a metrics file) as a stopped run."""
    where = exc.filename or folder
    return RunStopped(f"the disk is full (writing {where}; {size_text(free_bytes(folder))} "
                      f"free) - {fix}")
