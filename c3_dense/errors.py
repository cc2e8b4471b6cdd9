"""Bad input, by kind, turned into one ``error:`` line and exit code 2 by every command line.

Where each kind is checked, once, where it enters:

* arguments: :class:`CliParser` (every tool's parser; ``positive_int`` for counts);
* config keys and values: ``c3_dense.detectron2.engine.setup_cfg`` and, for the
  OpenMMLab tools, ``c3_dense.openmmlab.engine`` with ``c3_dense.mmseg.engine.check_config``
  / ``c3_dense.mmpretrain.engine.check_config``;
* data (missing folders, empty split files, broken annotations, unknown classes or category
  ids, class counts that disagree with the model, unreadable images, label values, CIFAR
  files of the wrong layout or holding code): ``c3_dense.detectron2.data.check_dataset``,
  ``c3_dense.mmseg.engine.check_config`` and ``c3_dense.mmpretrain`` (``LocalCIFAR100``,
  ``engine.check_config``);
  images that cannot be decoded during training, where they are read;
* weights files (missing, truncated, not a checkpoint, holding code, of another model):
  ``c3_dense.weights`` and the frameworks' checkpoint loaders built on it;
* output paths (a file where a folder belongs, not writable, a finished run): :func:`check_output_dir`,
  :func:`check_output_file` and the tools' run-folder checks.
"""
import argparse
import os
import sys
from typing import Callable


class UserInputError(Exception):
    """Bad input from the user (config, data, checkpoint, argument); the message says what is
    wrong and how to fix it."""


def _one_line(exc: Exception) -> str:
    """The message of ``exc`` on one line. An error raised in a DataLoader worker comes back
    wrapped in the worker's traceback; its last line is ``module.UserInputError: message``."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    last = lines[-1]
    marker = "UserInputError: "
    return last.split(marker, 1)[1] if marker in last else " ".join(l.strip() for l in lines)


def run_cli(fn: Callable[[], object]) -> int:
    """Run a command line's body: 0 on success, one ``error:`` line and 2 on UserInputError."""
    try:
        fn()
    except UserInputError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def summary(doc: str) -> str:
    """A tool's ``--help`` description: the first paragraph of its docstring, on one line (its
    first line alone can stop mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


class CliParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as UserInputError (one ``error:`` line, exit 2,
    through :func:`run_cli`) instead of printing the usage and exiting itself."""

    def error(self, message: str):
        raise UserInputError(f"{self.prog}: {message}; see {self.prog} --help")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def check_device(device: str) -> str:
    """``device`` ("cpu", "cuda", "cuda:N") checked against this machine; returned as is."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise UserInputError(f"--device {device} is not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UserInputError(f"--device {device}: this machine has no CUDA device (torch "
                                 "sees none); use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UserInputError(f"--device {device}: there are {torch.cuda.device_count()} "
                                 "CUDA devices, numbered from 0")
    elif parsed.type != "cpu":
        raise UserInputError(f"--device {device}: only cpu and cuda are supported")
    return device


def check_output_dir(path: str, what: str) -> None:
    """An output folder must be a folder we can write (made if missing)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserInputError(f"{what} {path} is a file, not a folder; choose a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{what} {path} cannot be made ({exc.strerror}); choose a "
                             "writable folder") from None
    if not os.access(path, os.W_OK):
        raise UserInputError(f"{what} {path} is not writable; choose a writable folder")


def check_output_file(path: str, what: str) -> None:
    """A file to write: not a folder, in a folder that exists or can be made and written."""
    if os.path.isdir(path):
        raise UserInputError(f"{what} {path} is a folder; give a file path")
    check_output_dir(os.path.dirname(os.path.abspath(path)), f"the folder of {what}")
