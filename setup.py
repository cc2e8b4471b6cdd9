"""c3_dense: Cross-channel Communication (C3, NeurIPS 2019) blocks for dense prediction."""
import ast
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))

def _tools():
    """c3_dense.cli.TOOLS, read without importing the package (torch may not be there yet)."""
    with open(os.path.join(HERE, "c3_dense", "cli", "__init__.py"), encoding="utf-8") as f:
        for node in ast.parse(f.read()).body:
            if isinstance(node, ast.Assign) and node.targets[0].id == "TOOLS":
                return ast.literal_eval(node.value)
    raise RuntimeError("c3_dense/cli/__init__.py has no TOOLS")


MIM_TOOL = '''"""mim {verb} c3_dense CONFIG ...: c3_dense.cli.mim_tools.{verb}."""
import sys

from c3_dense.cli.mim_tools import {verb}

sys.exit({verb}(sys.argv[1:]))
'''


class BuildWithConfigs(build_py):
    """Fills c3_dense/.mim, OpenMMLab's place for what `mim` reads in an installed package:
    configs/ (where c3_dense.model_zoo finds them too), model-index.yml (`mim search`) and
    tools/train.py, tools/test.py (`mim train` / `mim test`: c3_dense.cli.mim_tools)."""

    def run(self):
        super().run()
        mim = os.path.join(self.build_lib, "c3_dense", ".mim")
        if os.path.isdir(mim):
            shutil.rmtree(mim)
        shutil.copytree(os.path.join(HERE, "configs"), os.path.join(mim, "configs"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(os.path.join(HERE, "model-index.yml"), mim)
        os.makedirs(os.path.join(mim, "tools"))
        for verb in ("train", "test"):
            with open(os.path.join(mim, "tools", f"{verb}.py"), "w", encoding="utf-8") as f:
                f.write(MIM_TOOL.format(verb=verb))


DETECTRON2 = [
    # detectron2 itself is not on PyPI under its own name: install it from source, or let
    # `make demo` / tools/setup_env.py fetch the sal-detectron2 re-packaging.
    "fvcore", "iopath", "pycocotools", "omegaconf", "hydra-core", "yacs", "termcolor",
    "tabulate", "cloudpickle", "tqdm", "matplotlib", "tensorboard", "packaging",
]
MMSEG = [
    "mmengine==0.10.7", "mmsegmentation==1.2.2", "ftfy", "regex",
    # mmcv (full, with compiled ops) or mmcv-lite: either works; c3_dense.mmseg covers the
    # pure-PyTorch ops mmseg imports when the compiled ones are missing.
    "mmcv-lite>=2.0.0rc4,<2.2.0",
]
MMPRETRAIN = [
    # mmpretrain's own metadata asks for packages that do not resolve (modelindex is another
    # project's name here); tools/setup_env.py installs it with --no-deps plus these.
    "mmengine==0.10.7", "mmcv-lite>=2.0.0rc4,<2.2.0", "einops", "mat4py", "rich", "model-index",
    "ordered-set", "importlib-metadata<8.6",
]
DEV = ["pytest", "pytest-xdist", "onnx", "onnxruntime", "scikit-learn", "scikit-image", "fvcore"]

setup(
    name="c3_dense",
    version="0.1.0",
    description=__doc__,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author="the c3_dense authors",
    # Apache-2.0, as detectron2, mmsegmentation and mmpretrain: the file travels in the wheel.
    license="Apache-2.0",
    license_files=["LICENSE"],
    keywords=["cross-channel communication", "C3", "detectron2", "mmsegmentation",
              "object detection", "semantic segmentation", "pytorch"],
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: Apache Software License",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
    packages=find_packages(include=["c3_dense", "c3_dense.*"]),
    python_requires=">=3.9",
    cmdclass={"build_py": BuildWithConfigs},
    entry_points={"console_scripts": [f"c3-{t.replace('_', '-')} = c3_dense.cli.{t}:main"
                                      for t in _tools()]},
    # The core needs only torch; setuptools<81 keeps pkg_resources for detectron2/mmengine.
    install_requires=["torch>=2.0", "torchvision", "numpy"],
    extras_require={
        "detectron2": DETECTRON2,
        "mmseg": MMSEG,
        "mmpretrain": MMPRETRAIN,
        "all": DETECTRON2 + MMSEG + MMPRETRAIN,
        "dev": DETECTRON2 + MMSEG + MMPRETRAIN + DEV,
    },
)
