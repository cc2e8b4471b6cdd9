#!/usr/bin/env python3
"""Create or complete ``.venv/`` for c3_dense: torch, detectron2, the mmseg and mmpretrain
stacks, this package.

Each step first checks whether what it installs is already importable in the venv, so on a
ready venv the whole set-up takes seconds. A failing step names itself and what to do, and
exits non-zero. Only the standard library is used here: this runs before the venv exists.
How each framework is installed is ``c3_dense/stack.py`` (loaded by its path), the recipe an
installed wheel's ``c3-setup`` uses too.

    python3 tools/setup_env.py            # everything (what `make demo` / `make test` call)
    python3 tools/setup_env.py --venv DIR # another venv location
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_stack():
    """c3_dense/stack.py by its path (importing the package would need torch)."""
    spec = importlib.util.spec_from_file_location("c3_dense_stack",
                                                  os.path.join(ROOT, "c3_dense", "stack.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack = _load_stack()
StepFailed = stack.StepFailed
TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]
# pytest-xdist: `make test` runs the suite in two processes (its command-line tests spend
# much of their time importing frameworks, one core each).
DEV_DEPS = ["pytest", "pytest-xdist", "onnx", "onnxruntime", "scikit-learn", "scikit-image",
            "fvcore"]


def run(cmd: list[str], step: str, hint: str) -> None:
    stack.run(cmd, step, hint, log=lambda line: print(line, flush=True))


def importable(py: str, code: str, path=None) -> bool:
    # Run outside the repo so that the checkout itself does not count as "installed".
    return stack.importable(py, code, cwd=os.path.dirname(ROOT), path=path)


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

    def framework(part, checkout_path=None):
        """A step of c3_dense/stack.py's recipe (skipped with --no-frameworks)."""
        @step(part)
        def _step():
            if (args.no_frameworks and part != "setuptools") or importable(
                    py, stack.READY[part], path=checkout_path):
                return False
            stack.install_part(part, py, log=lambda line: print(line, flush=True))
            return True

    framework("setuptools")

    @step("torch")
    def _torch():
        if importable(py, "import torch, torchvision"):
            return False
        run(pip + TORCH_PINS, "torch",
            "install torch/torchvision by hand in .venv (pip install " + " ".join(TORCH_PINS)
            + ") and rerun")
        return True

    framework("detectron2")
    framework("mmseg")
    # mmpretrain's check imports c3_dense.openmmlab (the mmcv.ops stand-in): from the checkout.
    framework("mmpretrain", checkout_path=ROOT)
    framework("mmdet", checkout_path=ROOT)  # the ops stand-in comes from this checkout

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
