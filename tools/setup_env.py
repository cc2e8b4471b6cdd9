#!/usr/bin/env python3
"""Create or complete ``.venv/`` for c3_dense: torch, detectron2, the mmseg and mmpretrain
stacks, this package.

Each step first checks whether what it installs is already importable in the venv, so on a
ready venv the whole set-up takes seconds. A failing step names itself and what to do, and
exits non-zero. Only the standard library is used here: this runs before the venv exists.

    python3 tools/setup_env.py            # everything (what `make demo` / `make test` call)
    python3 tools/setup_env.py --venv DIR # another venv location
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]
# detectron2's model_zoo and mmengine's `mmseg::` base configs import pkg_resources (gone in 81).
SETUPTOOLS_PIN = "setuptools==80.9.0"
DETECTRON2_WHEEL = "sal-detectron2==0.7.2"
# What sal-detectron2 really needs; its metadata (numpy<2, py3.10 tag) is not usable as is.
DETECTRON2_DEPS = ["fvcore", "iopath", "pycocotools", "omegaconf", "hydra-core", "yacs",
                   "termcolor", "tabulate", "cloudpickle", "tqdm", "matplotlib", "tensorboard",
                   "black", "packaging"]
MMSEG_PINS = ["mmengine==0.10.7", "mmsegmentation==1.2.2", "ftfy", "regex"]
MMCV_LITE_PIN = "mmcv-lite==2.1.0"
# mmpretrain's wheel declares deps that do not resolve here (the registry's `modelindex` is
# another package; importlib-metadata >= 8.6 breaks it): installed without deps, then its
# real runtime needs.
MMPRETRAIN_PIN = "mmpretrain==1.2.0"
MMPRETRAIN_DEPS = ["einops", "mat4py", "rich", "model-index", "ordered-set",
                   "importlib-metadata<8.6"]
# pytest-xdist: `make test` runs the suite in two processes (its command-line tests spend
# much of their time importing frameworks, one core each).
DEV_DEPS = ["pytest", "pytest-xdist", "onnx", "onnxruntime", "scikit-learn", "scikit-image",
            "fvcore"]


class StepFailed(RuntimeError):
    pass


def run(cmd: list[str], step: str, hint: str, **kw) -> None:
    print(f"    $ {' '.join(cmd)}", flush=True)
    # pip's output is shown only when the step fails: a ready step should stay quiet.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:])
        raise StepFailed(f"set-up step '{step}' failed (exit {proc.returncode}): {hint}")


def importable(py: str, code: str) -> bool:
    # Run outside the repo so that the checkout itself does not count as "installed".
    return subprocess.run([py, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          cwd=os.path.dirname(ROOT)).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=os.path.join(ROOT, ".venv"))
    ap.add_argument("--no-frameworks", action="store_true",
                    help="core only: torch, dev tools and c3_dense (no detectron2/mmseg)")
    args = ap.parse_args()
    venv = os.path.abspath(args.venv)
    py = os.path.join(venv, "bin", "python")
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    t0 = time.time()

    steps = []

    def step(name):
        def deco(fn):
            steps.append((name, fn))
            return fn
        return deco

    @step("venv")
    def _venv():
        if os.path.exists(py) and importable(py, "import sys"):
            return False
        if sys.version_info < (3, 9):
            raise StepFailed("set-up step 'venv' failed: Python >= 3.9 is needed "
                             f"(this is {sys.version.split()[0]}); run with a newer python3")
        run([sys.executable, "-m", "venv", venv], "venv",
            "check that python3 has the venv module (Debian: apt-get install python3-venv)")
        return True

    @step("setuptools")
    def _setuptools():
        if importable(py, "import setuptools, pkg_resources, wheel, sys;"
                          "v=int(setuptools.__version__.split('.')[0]); sys.exit(v>=81)"):
            return False
        run(pip + [SETUPTOOLS_PIN, "wheel"], "setuptools", "check access to the package index")
        return True

    @step("torch")
    def _torch():
        if importable(py, "import torch, torchvision"):
            return False
        run(pip + TORCH_PINS, "torch",
            "install torch/torchvision by hand in .venv (pip install " + " ".join(TORCH_PINS)
            + ") and rerun")
        return True

    @step("detectron2")
    def _detectron2():
        if args.no_frameworks or importable(py, "import detectron2.modeling, pycocotools, fvcore"):
            return False
        if not importable(py, "import detectron2"):
            # Upstream detectron2 is not on PyPI; sal-detectron2 re-packages it as a cp310-only
            # pure-Python wheel. Take that wheel and install it as what it is: py3-none-any.
            with tempfile.TemporaryDirectory() as tmp:
                run([py, "-m", "pip", "download", "-q", "--no-deps", "--python-version", "3.10",
                     "--implementation", "cp", "--only-binary=:all:", "-d", tmp,
                     DETECTRON2_WHEEL], "detectron2",
                    "install detectron2 from source (https://detectron2.readthedocs.io) and rerun")
                wheels = glob.glob(os.path.join(tmp, "*.whl"))
                if len(wheels) != 1:
                    raise StepFailed("set-up step 'detectron2' failed: expected one wheel, got "
                                     f"{wheels}; install detectron2 from source and rerun")
                name = os.path.basename(wheels[0]).split("-")
                retagged = os.path.join(tmp, f"{name[0]}-{name[1]}-py3-none-any.whl")
                shutil.move(wheels[0], retagged)
                run(pip + ["--no-deps", retagged], "detectron2",
                    "install detectron2 from source and rerun")
        run(pip + DETECTRON2_DEPS, "detectron2-deps", "check access to the package index")
        return True

    @step("mmseg")
    def _mmseg():
        if args.no_frameworks or importable(py, "import mmengine, mmcv, mmseg, ftfy, regex"):
            return False
        # Full mmcv (compiled ops) if the user has it; else mmcv-lite, since building mmcv's
        # ops on CPU takes ~45 min. c3_dense.mmseg stands in for the few pure ops mmseg imports.
        if not importable(py, "import mmcv"):
            run(pip + [MMCV_LITE_PIN], "mmcv-lite", "check access to the package index")
        run(pip + MMSEG_PINS, "mmseg", "check access to the package index")
        return True

    @step("mmpretrain")
    def _mmpretrain():
        check = ("import c3_dense.openmmlab as o; o.prepare(); import mmpretrain.models, "
                 "einops, modelindex")
        if args.no_frameworks or importable(py, f"import sys; sys.path.insert(0, {ROOT!r}); "
                                                + check):
            return False
        run(pip + ["--no-deps", MMPRETRAIN_PIN], "mmpretrain", "check access to the package index")
        run(pip + MMPRETRAIN_DEPS, "mmpretrain-deps", "check access to the package index")
        return True

    @step("dev-tools")
    def _dev():
        if importable(py, "import pytest, xdist, onnx, onnxruntime, sklearn, skimage, fvcore"):
            return False
        run(pip + DEV_DEPS, "dev-tools", "check access to the package index")
        return True

    @step("c3_dense")
    def _pkg():
        # Installed from this checkout, with its console scripts (c3-train-det, ...).
        if importable(py, "import c3_dense, os, sys; "
                          f"sys.exit(os.path.dirname(os.path.dirname(c3_dense.__file__)) != {ROOT!r}"
                          " or not os.path.exists(os.path.join(os.path.dirname(sys.executable),"
                          " 'c3-train-det')))"):
            return False
        run(pip + ["--no-deps", "--no-build-isolation", "-e", ROOT], "c3_dense",
            "see the pip error above")
        return True

    try:
        for name, fn in steps:
            t = time.time()
            changed = fn()
            state = f"installed ({time.time() - t:.0f} s)" if changed else "ok"
            print(f"[setup] {name:<12} {state}", flush=True)
    except StepFailed as e:
        print(f"[setup] ERROR: {e}", file=sys.stderr)
        return 1
    print(f"[setup] ready in {time.time() - t0:.0f} s: {venv}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
