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
* output paths (a file where a folder belongs, not writable, a finished run, the file that is
  the command's own input): :func:`check_output_dir`, :func:`check_output_file`,
  :func:`refuse_overwriting_inputs` and the tools' run-folder checks;
* options that decide how a run computes (a ``torch.compile`` backend): :func:`check_compile_backend`.

Faults of a running job end the same way: a full disk (:class:`RunStopped`, raised by the
whole-or-nothing writers of ``c3_dense.files``) with one ``error:`` line and exit code 2, Ctrl-C
(:class:`RunInterrupted`) with one ``interrupted:`` line and exit code 130; both name the
command that resumes the run.
"""
import argparse
import importlib.util
import os
import shlex
import shutil
import sys
from typing import Callable, Iterable, List, Optional, Sequence


class UserInputError(Exception):
    """Bad input from the user (config, data, checkpoint, argument); the message says what is
    wrong and how to fix it."""


class RunStopped(UserInputError):
    """A training run stopped by a cause the user can remove (a full disk), after which
    ``--resume`` continues it from its last complete checkpoint; the command line adds the
    exact command."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where the run stopped and what it left
    (a KeyboardInterrupt, so that everything else treats it as one)."""


def _one_line(exc: Exception) -> str:
    """The message of ``exc`` on one line. An error raised in a DataLoader worker comes back
    wrapped in the worker's traceback; its last line is ``module.UserInputError: message``."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    last = lines[-1]
    marker = "UserInputError: "
    return last.split(marker, 1)[1] if marker in last else " ".join(l.strip() for l in lines)


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a job stopped by Ctrl-C


def run_cli(fn: Callable[[], object], resume: Optional[Callable[[], str]] = None) -> int:
    """Run a command line's body: 0 on success, one ``error:`` line and 2 on UserInputError,
    one ``interrupted:`` line and 130 on Ctrl-C. ``resume``: the command that continues the
    run (for a training tool), added to the line of a stopped or interrupted run."""
    try:
        fn()
    except UserInputError as exc:
        line = _one_line(exc)
        if isinstance(exc, RunStopped) and resume is not None:
            line += f"; then resume with: {resume()}"
        print(f"error: {line}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        line = _missing_framework(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if isinstance(exc, RunInterrupted) and str(exc):
            line = str(exc) + (f"; resume with: {resume()}" if resume is not None else "")
        else:  # not a training run's loop: the same command does the work again
            line = "stopped by Ctrl-C; run the command again to do its work"
        print(f"interrupted: {line}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return 0


def _missing_framework(exc: ModuleNotFoundError) -> Optional[str]:
    """The one line for a framework (or a module of one) that is not installed at all, naming
    the command that installs it; None for any other missing module."""
    from c3_dense.stack import missing_part_message

    top = (exc.name or "").split(".")[0]
    try:
        installed = bool(top) and importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):  # a finder that cannot say: as good as missing
        installed = False
    if not top or installed:
        return None  # installed, a part of it missing: not ours to word
    return missing_part_message(top)


def command_line(argv: Optional[Sequence[str]] = None, drop: Iterable[str] = (),
                 add_first: Iterable[str] = ()) -> str:
    """The command that ran this process as a user would type it again (``argv``: the tool's
    arguments, default ``sys.argv[1:]``), without the flags ``drop`` and with ``add_first``
    in front of the arguments (after options that take the rest of the line, such as
    detectron2's KEY VALUE overrides, a flag at the end would be read as an override)."""
    args = list(sys.argv[1:] if argv is None else argv)
    args = [a for a in args if a not in set(drop)]
    args = [a for a in add_first if a not in args] + args
    program = sys.argv[0] if sys.argv else ""
    if program.startswith("c3_dense "):  # python -m c3_dense TOOL (see c3_dense.__main__)
        head = [sys.executable, "-m", "c3_dense", program.split()[1]]
    elif program.endswith(".py"):
        head = [sys.executable, program]
    else:  # a console script (c3-train-det)
        head = [program]
    return shlex.join(head + args)


def resume_command(argv: Optional[Sequence[str]] = None) -> str:
    """The command that resumes this training run: the same with ``--resume`` (and without
    ``--overwrite``, which would have nothing left to do)."""
    return command_line(argv, drop=("--overwrite",), add_first=("--resume",))


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


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (through symlinks, hard links, ``..`` and relative or
    absolute spellings)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting_inputs(outputs: Iterable[str], inputs: Iterable[Optional[str]],
                              what: str = "output") -> None:
    """No file a command writes may be a file it reads: UserInputError naming both (before
    any work, so nothing is lost)."""
    inputs = [p for p in inputs if p and os.path.exists(p)]
    for out in outputs:
        for source in inputs:
            if same_file(out, source):
                raise UserInputError(f"{what} {out} is the input {source} (the same file); "
                                     "write the output to another path")


def check_output_file(path: str, what: str) -> None:
    """A file to write: not a folder, in a folder that exists or can be made and written."""
    if os.path.isdir(path):
        raise UserInputError(f"{what} {path} is a folder; give a file path")
    check_output_dir(os.path.dirname(os.path.abspath(path)), f"the folder of {what}")


# Backends that torch lists whether or not what they run on is installed: what each needs.
_BACKEND_NEEDS = {
    "tvm": ("module", "tvm", "pip install apache-tvm"),
    "openxla": ("module", "torch_xla", "pip install torch_xla"),
    "openxla_eval": ("module", "torch_xla", "pip install torch_xla"),
    "cudagraphs": ("cuda", None, "a CUDA GPU"),
}


def _backend_problem(name: str) -> Optional[str]:
    """Why backend ``name`` (listed by torch) cannot run here, or None; cheap (no compile)."""
    import torch

    kind, module, fix = _BACKEND_NEEDS.get(name, (None, None, None))
    if kind == "module" and importlib.util.find_spec(module) is None:
        return f"needs the module {module}, which is not installed ({fix})"
    if kind == "cuda" and not torch.cuda.is_available():
        return "needs a CUDA GPU, and this machine has none"
    if name == "inductor" and not torch.cuda.is_available() and not any(
            shutil.which(c) for c in (os.environ.get("CXX", "c++"), "g++", "clang++")):
        return "needs a C++ compiler on the CPU (g++ or clang++), and none is on the PATH"
    return None


def _trial_compile(name: str) -> Optional[str]:
    """Compile a one-line function with backend ``name``; why it failed, or None."""
    import torch

    try:
        torch.compile(lambda x: x * 2 + 1, backend=name)(torch.ones(2))
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises is the answer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"does not run here ({type(exc).__name__}: {first})"
    finally:
        torch.compiler.reset()
    return None


def usable_compile_backends() -> List[str]:
    """The torch.compile backends that can run on this machine (the listed ones whose needs
    are met, plus the debugging backends aot_eager and eager)."""
    import torch

    listed = [b for b in torch.compiler.list_backends() if _backend_problem(b) is None]
    return listed + [b for b in ("aot_eager", "eager") if b not in listed]


def check_compile_backend(backend: str, key: str) -> None:
    """``backend`` (the value of config key ``key``) is a torch.compile backend that runs on
    this machine: listed by torch, and what it needs installed. Checked before any output is
    written or any model built (a compile fails only at the first batch otherwise)."""
    import torch

    if not isinstance(backend, str) or backend not in torch.compiler.list_backends(
            exclude_tags=()):
        raise UserInputError(f"{key} {backend!r} is not a torch.compile backend; use one of "
                             f"{', '.join(usable_compile_backends())}")
    problem = _backend_problem(backend)
    if problem is None and backend not in ("inductor", "eager", "aot_eager"):
        problem = _trial_compile(backend)  # any other backend: try it (a second or two)
    if problem:
        raise UserInputError(f"{key} {backend!r} {problem}; or use one of "
                             f"{', '.join(usable_compile_backends())}")
