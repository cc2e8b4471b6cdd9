"""The frameworks c3_dense runs on, and how to install each into a Python environment: the one
recipe behind ``make setup`` (``tools/setup_env.py``, for a checkout's ``.venv/``) and
``c3-setup`` / ``python -m c3_dense setup`` (for an installed wheel, into the environment it
runs in). Standard library only: it runs before torch or any framework exists (the checkout's
set-up loads this file by its path).

Facts it encodes (measured on the machines this project is built on):

* detectron2 is not on the package index under its own name; ``sal-detectron2`` re-packages
  upstream detectron2 0.7 as a ``cp310``-tagged pure-Python wheel: it is downloaded and
  installed under the tag ``py3-none-any``, then its real needs (an installed detectron2, e.g.
  built from source on a GPU machine, is kept);
* mmpretrain's declared dependencies do not resolve (``modelindex`` is another project's
  name there; ``importlib-metadata`` 8.6 breaks it): installed without them, then its real
  ones;
* full mmcv (compiled ops) is kept when present; else ``mmcv-lite`` (``c3_dense.openmmlab``
  stands in for the pure-PyTorch ops mmseg and mmpretrain import);
* detectron2's model zoo and mmengine's ``mmseg::`` base configs import ``pkg_resources``,
  which setuptools 81 removed (torch brings 84): setuptools is pinned below 81, and at 77 or
  above, which torch 2.14 asks for (pip would upgrade an older one, as a fresh venv has, to
  the newest).
* MMDetection declares full mmcv: installed without its declared dependencies, then its real
  ones (``c3_dense.openmmlab`` stands in for the ops Faster R-CNN needs);
* OpenMMLab's ``mim`` (optional part): ``openmim`` declares ``opendatalab``, which pins old
  setuptools, tqdm, packaging and rich: installed without it (only ``mim download`` of data
  sets runs its ``odl`` command).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

SETUPTOOLS_PIN = "setuptools==80.9.0"
DETECTRON2_WHEEL = "sal-detectron2==0.7.2"
DETECTRON2_DEPS = ["fvcore", "iopath", "pycocotools", "omegaconf", "hydra-core", "yacs",
                   "termcolor", "tabulate", "cloudpickle", "tqdm", "matplotlib", "tensorboard",
                   "black", "packaging"]
MMCV_LITE_PIN = "mmcv-lite==2.1.0"
MMSEG_PINS = ["mmengine==0.10.7", "mmsegmentation==1.2.2", "ftfy", "regex"]
MMPRETRAIN_PIN = "mmpretrain==1.2.0"
MMPRETRAIN_DEPS = ["einops", "mat4py", "rich", "model-index", "ordered-set",
                   "importlib-metadata<8.6"]
# MMDetection: its metadata asks for full mmcv (a 45-minute build on a CPU), so without its
# declared dependencies, then its real ones; c3_dense.openmmlab stands in for the ops.
MMDET_PIN = "mmdet==3.3.0"
MMDET_DEPS = ["pycocotools", "scipy", "shapely", "six", "terminaltables", "tqdm"]
# OpenMMLab's `mim` (search / train / test): its declared `opendatalab` pins old setuptools,
# tqdm, packaging and rich (only `mim download` of data sets uses it), so without it.
MIM_PIN = "openmim==0.3.9"
MIM_DEPS = ["click", "colorama", "model-index", "pandas", "requests", "rich", "tabulate"]

# What each part's import proves, and the modules a missing part shows up as.
PARTS = ("setuptools", "detectron2", "mmseg", "mmpretrain", "mmdet")
OPTIONAL_PARTS = ("mim",)  # installed when asked for (--only mim)
READY = {
    # torch 2.14 asks for setuptools >= 77.0.3 (pip would otherwise upgrade an older one, a
    # fresh venv's, to one without pkg_resources); wheel for the editable install.
    "setuptools": "import setuptools, pkg_resources, wheel, sys; "
                  "v = tuple(int(p) for p in setuptools.__version__.split('.')[:2]); "
                  "sys.exit(not (77, 0) <= v < (81, 0))",
    "detectron2": "import detectron2.modeling, pycocotools, fvcore",
    "mmseg": "import mmengine, mmcv, mmseg, ftfy, regex",
    "mmpretrain": "import c3_dense.openmmlab as o; o.prepare(); import mmpretrain.models, "
                  "einops, modelindex",
    "mmdet": "import c3_dense.openmmlab as o; o.prepare(); import mmdet.models, shapely",
    "mim": "import mim.commands.search, mim.commands.train, pandas",
}
MODULE_PART = {"pkg_resources": "setuptools",
               "detectron2": "detectron2", "fvcore": "detectron2", "iopath": "detectron2",
               "pycocotools": "detectron2", "yacs": "detectron2", "omegaconf": "detectron2",
               "mmengine": "mmseg", "mmcv": "mmseg", "mmseg": "mmseg", "ftfy": "mmseg",
               "regex": "mmseg",
               "mmpretrain": "mmpretrain", "einops": "mmpretrain", "modelindex": "mmpretrain",
               "mat4py": "mmpretrain", "mmdet": "mmdet", "shapely": "mmdet",
               "terminaltables": "mmdet", "mim": "mim"}


class StepFailed(RuntimeError):
    """A set-up step that failed; the message names it and what to do."""


def install_command(part: str, python: Optional[str] = None) -> str:
    """The command that installs ``part`` into the environment of ``python`` (default: this
    one): c3_dense's own set-up command."""
    return f"{python or sys.executable} -m c3_dense setup --only {part}"


def missing_part_message(module: str) -> Optional[str]:
    """The one line for a missing module that belongs to a framework part, or None."""
    part = MODULE_PART.get(module.split(".")[0])
    if part is None:
        return None
    if part == "setuptools":
        return (f"{module} is not available (setuptools 81 removed it; detectron2's model zoo "
                "and mmengine's base configs import it): pip install \"setuptools<81\", or "
                + install_command("setuptools"))
    return (f"{part} is not installed in this Python ({sys.executable}: no module {module}); "
            f"install it with: {install_command(part)}")


def run(cmd: List[str], step: str, hint: str, log: Callable[[str], None] = print) -> None:
    log(f"    $ {' '.join(cmd)}")
    # pip's output is shown only when the step fails: a ready step should stay quiet.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:])
        raise StepFailed(f"set-up step '{step}' failed (exit {proc.returncode}): {hint}")


def importable(python: str, code: str, cwd: Optional[str] = None,
               path: Optional[str] = None) -> bool:
    """Whether ``code`` runs in ``python`` (``path``: put first on sys.path)."""
    if path:
        code = f"import sys; sys.path.insert(0, {path!r}); " + code
    return subprocess.run([python, "-c", code], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, cwd=cwd).returncode == 0


def install_part(part: str, python: str, pip_options: Sequence[str] = (),
                 log: Callable[[str], None] = print) -> None:
    """Install ``part`` (one of :data:`PARTS`) into ``python``'s environment, as the module
    docstring describes. ``pip_options`` go to every pip call (e.g. ``--no-index
    --find-links DIR`` for a machine without the index)."""
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *pip_options]
    index = "check access to the package index (or give --pip-options '--no-index " \
            "--find-links DIR')"
    if part == "setuptools":
        run(pip + [SETUPTOOLS_PIN, "wheel"], part, index, log)
    elif part == "detectron2":
        if not importable(python, "import detectron2"):
            with tempfile.TemporaryDirectory() as tmp:
                run([python, "-m", "pip", "download", "-q", "--no-deps", "--python-version",
                     "3.10", "--implementation", "cp", "--only-binary=:all:", "-d", tmp,
                     *pip_options, DETECTRON2_WHEEL], part,
                    "install detectron2 from source (https://detectron2.readthedocs.io) and "
                    "rerun", log)
                wheels = glob.glob(os.path.join(tmp, "*.whl"))
                if len(wheels) != 1:
                    raise StepFailed(f"set-up step '{part}' failed: expected one wheel, got "
                                     f"{wheels}; install detectron2 from source and rerun")
                name = os.path.basename(wheels[0]).split("-")
                retagged = os.path.join(tmp, f"{name[0]}-{name[1]}-py3-none-any.whl")
                shutil.move(wheels[0], retagged)
                run(pip + ["--no-deps", retagged], part,
                    "install detectron2 from source and rerun", log)
        run(pip + DETECTRON2_DEPS, f"{part}-deps", index, log)
    elif part == "mmseg":
        if not importable(python, "import mmcv"):
            run(pip + [MMCV_LITE_PIN], "mmcv-lite", index, log)
        run(pip + MMSEG_PINS, part, index, log)
    elif part == "mmpretrain":
        run(pip + ["--no-deps", MMPRETRAIN_PIN], part, index, log)
        run(pip + MMPRETRAIN_DEPS, f"{part}-deps", index, log)
    elif part == "mmdet":
        run(pip + ["--no-deps", MMDET_PIN], part, index, log)
        run(pip + MMDET_DEPS, f"{part}-deps", index, log)
    elif part == "mim":
        run(pip + ["--no-deps", MIM_PIN], part, index, log)
        run(pip + MIM_DEPS, f"{part}-deps", index, log)
    else:
        raise StepFailed(f"unknown part {part!r}; choose from "
                         f"{', '.join(PARTS + OPTIONAL_PARTS)}")


def download(dest: str, pip_options: Sequence[str] = (), python: Optional[str] = None,
             log: Callable[[str], None] = print) -> List[str]:
    """Every part's wheels (not torch: its build is the machine's choice) into ``dest``, for a
    machine without the package index: there, ``c3-setup --pip-options "--no-index
    --find-links DEST"`` installs from them. Source-only packages are built into wheels here,
    so the offline install builds nothing. For this Python version and platform. The wheel
    files in ``dest``."""
    python = python or sys.executable
    os.makedirs(dest, exist_ok=True)
    hint = "check access to the package index (or give --pip-options)"
    requirements = [SETUPTOOLS_PIN, "wheel", *DETECTRON2_DEPS, MMCV_LITE_PIN, *MMSEG_PINS,
                    *MMPRETRAIN_DEPS, *MMDET_DEPS, *MIM_DEPS]
    run([python, "-m", "pip", "wheel", "-q", "-w", dest, *pip_options, *requirements],
        "download", hint, log)
    run([python, "-m", "pip", "download", "-q", "--no-deps", "-d", dest, *pip_options,
         MMPRETRAIN_PIN, MMDET_PIN, MIM_PIN], "download-no-deps", hint, log)
    # As install_part fetches it: the cp310-tagged file, re-tagged at install time.
    run([python, "-m", "pip", "download", "-q", "--no-deps", "--python-version", "3.10",
         "--implementation", "cp", "--only-binary=:all:", "-d", dest, *pip_options,
         DETECTRON2_WHEEL], "download-detectron2", hint, log)
    return sorted(glob.glob(os.path.join(dest, "*.whl")))


def ensure(parts: Sequence[str], python: str, pip_options: Sequence[str] = (),
           package_path: Optional[str] = None, log: Callable[[str], None] = print
           ) -> Dict[str, str]:
    """Install each of ``parts`` that ``python`` cannot import yet (``package_path``: where
    c3_dense is, when it is not installed there, e.g. a checkout); {part: "ok" | "installed"}.
    Checked outside any checkout, so that a checkout does not count as installed."""
    done = {}
    cwd = os.path.dirname(os.path.abspath(os.sep))
    for part in parts:
        if importable(python, READY[part], cwd=cwd, path=package_path):
            done[part] = "ok"
            log(f"[setup] {part:<12} ok")
            continue
        install_part(part, python, pip_options, log)
        if not importable(python, READY[part], cwd=cwd, path=package_path):
            raise StepFailed(f"set-up step '{part}' installed, but `{READY[part]}` still fails "
                             f"in {python}; see the messages above")
        done[part] = "installed"
        log(f"[setup] {part:<12} installed")
    return done
