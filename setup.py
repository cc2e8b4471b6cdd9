"""c3_dense: Cross-channel Communication (C3, NeurIPS 2019) blocks for dense prediction."""
from setuptools import find_packages, setup

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
DEV = ["pytest", "onnx", "onnxruntime", "scikit-learn", "scikit-image", "fvcore"]

setup(
    name="c3_dense",
    version="0.1.0",
    description=__doc__,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["c3_dense", "c3_dense.*"]),
    python_requires=">=3.9",
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
