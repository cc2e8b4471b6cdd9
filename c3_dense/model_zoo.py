"""The shipped configs, found wherever c3_dense is: in a source checkout (``configs/``) or in
an installed wheel (``c3_dense/.mim/configs``, where OpenMMLab's ``mim`` looks for a package's
configs)::

    from c3_dense import model_zoo
    model_zoo.get_config_file("detectron2/PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")
    model_zoo.get_config_file("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")   # the same file
    model_zoo.list_configs("mmseg")

The command lines take such a name wherever they take a config path (a path that exists on
disk is used as it is). As detectron2's own ``model_zoo``::

    cfg = model_zoo.get_config("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")  # built, checked
    model = model_zoo.get("mmseg/deeplabv2/deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py")
    model_zoo.describe("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")  # task, data, variant, ...

No trained weights are released (``get(..., trained=True)`` says so); where the paper reports
a number for a config's network and data, :func:`describe` gives it as the paper's, the result
to expect.
"""
from __future__ import annotations

import difflib
import os
import re
from typing import Dict, List, Optional

from .errors import UserInputError

FRAMEWORKS = ("detectron2", "mmseg", "mmpretrain")
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def configs_root() -> str:
    """The folder holding ``detectron2/``, ``mmseg/`` and ``mmpretrain/`` configs."""
    for candidate in (os.path.join(_PACKAGE, ".mim", "configs"),        # a wheel
                      os.path.join(os.path.dirname(_PACKAGE), "configs")):  # a checkout
        if os.path.isdir(os.path.join(candidate, "detectron2")):
            return candidate
    raise UserInputError(f"no configs found beside {_PACKAGE}: reinstall c3_dense from its "
                         "wheel or run from a checkout of the repository")


def list_configs(framework: Optional[str] = None) -> List[str]:
    """Names of the shipped configs (``framework/...``), bases excluded, sorted."""
    root = configs_root()
    names = []
    for fw in ([framework] if framework else FRAMEWORKS):
        for folder, dirs, files in os.walk(os.path.join(root, fw)):
            dirs[:] = sorted(d for d in dirs if d != "_base_")
            names += [os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")
                      for f in files if f.endswith((".yaml", ".py")) and not
                      f.startswith(("Base-", "__"))]
    return sorted(names)


def get_config_file(name: str) -> str:
    """The absolute path of the shipped config ``name``: ``framework/sub/file`` or, when one
    framework has it, ``sub/file``; a name that matches nothing is a UserInputError naming
    the nearest configs."""
    root = configs_root()
    name = name.replace("\\", "/").lstrip("/")
    for prefix in ("", "configs/"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            candidates = [rest] + [f"{fw}/{rest}" for fw in FRAMEWORKS]
            found = [c for c in candidates if os.path.isfile(os.path.join(root, c))]
            if found:
                return os.path.join(root, found[0])
    near = near_configs(name)
    hint = f"; did you mean {', '.join(near)}?" if near else \
        "; c3-configs (python -m c3_dense configs) lists the shipped ones"
    raise UserInputError(f"config {name} not found: neither a file nor a shipped "
                         f"config{hint}")


def near_configs(name: str, count: int = 5) -> List[str]:
    """The shipped configs whose names are closest to ``name`` (a misspelling, another data
    set's folder, a missing framework prefix), closest first."""
    shipped = list_configs()
    base = os.path.basename(name)
    same_file = [c for c in shipped if os.path.basename(c) == base]
    by_name = difflib.get_close_matches(name.split("configs/")[-1], shipped, n=count,
                                        cutoff=0.6)
    by_base = [shipped[[os.path.basename(c) for c in shipped].index(b)] for b in
               difflib.get_close_matches(base, [os.path.basename(c) for c in shipped],
                                         n=count, cutoff=0.6)]
    return list(dict.fromkeys(same_file + by_name + by_base))[:count]


def resolve_config(path: str) -> str:
    """``path`` when it is a file, else the shipped config of that name (see
    :func:`get_config_file`), with a line saying which file that is; an absolute path that
    is no file is refused (it names a file of the user's, not a shipped config)."""
    if os.path.isfile(path):
        return path
    if os.path.isabs(path):
        raise UserInputError(f"config {path} not found; check the path")
    found = get_config_file(path)
    print(f"config {path}: no such file here, so the shipped config {found} is used",
          flush=True)
    return found


# ------------------------------------------------------------------ what each config is
# The paper's numbers (docs/method.md): detection and segmentation most likely with ResNet-101
# (the paper body was not available to confirm); ImageNet top-1 from its error.
_PAPER_DETECTION = {"voc": {"plain": 74.6, "se": 74.8, "c3": 75.6},
                    "coco": {"plain": 33.9, "se": 34.3, "c3": 34.8}}
_PAPER_SEGMENTATION = {"plain": 75.2, "se": 75.6, "c3": 75.7}
_PAPER_IMAGENET_TOP1 = {(18, "plain"): 69.72, (18, "se"): 69.85, (18, "c3"): 70.70,
                        (50, "plain"): 76.39, (50, "c3"): 76.81,
                        (101, "plain"): 77.52, (101, "c3"): 78.07}


def describe(name: str) -> Dict[str, object]:
    """What the shipped config ``name`` is: framework, task, data, depth, variant (plain / se
    / c3), the C3 block's form, where its backbone weights come from, and the paper's number
    for that network and data (``paper``: metric and value, labelled as the paper's; None
    where the paper has none). ``weights``: always "not released"."""
    path = get_config_file(name)
    rel = os.path.relpath(path, configs_root()).replace(os.sep, "/")
    framework, file = rel.split("/")[0], os.path.basename(rel)
    lower = rel.lower()
    variant = "c3" if "_c3" in file else "se" if "_se" in file else "plain"
    depth = re.search(r"(?:R_|r|resnet|resnetv1c)(\d+)", file)
    form = ("authors" if "c3-authors" in file else "paper") if variant == "c3" else None
    task = {"detectron2": "detection", "mmseg": "segmentation",
            "mmpretrain": "classification"}[framework]
    data = ("coco" if "coco" in lower else "voc" if "voc" in lower or "pascal" in lower
            else "cityscapes" if "cityscapes" in lower else "cifar100" if "cifar" in lower
            else "imagenet" if "in1k" in file and task == "classification" else "demo")
    pretrained = ("ours (the same recipe, _in1k configs)" if "_in1k" in file
                  and task != "classification" else "ImageNet (the framework's usual weights)"
                  if task != "classification" and data != "demo" else "none (from scratch)")
    paper = None
    deep = depth is not None and int(depth.group(1)) == 101
    reproduces = variant != "c3" or form == "authors"  # the classification tables' block
    if task == "detection" and deep and data == "coco" or (
            task == "detection" and deep and "PascalVOC07/" in rel):
        paper = {"metric": "mAP (VOC 2007 test)" if data == "voc" else "AP (COCO)",
                 "value": _PAPER_DETECTION[data][variant],
                 "note": "the paper's; its backbone most likely ResNet-101"}
    elif task == "segmentation" and deep and data == "voc":
        paper = {"metric": "mIoU (VOC 2012 val)", "value": _PAPER_SEGMENTATION[variant],
                 "note": "the paper's; its backbone most likely ResNet-101"}
    elif task == "classification" and depth and reproduces and "resnetv1c" not in file:
        from c3_dense.analysis.paper_tables import CIFAR100_TOP1
        if data == "cifar100":
            key = ("cifar_wrn20_10" if "wrn" in file else f"cifar_resnet{depth.group(1)}") + (
                "" if variant == "plain" else f"_{variant}")
            value = CIFAR100_TOP1.get(key)
        else:
            value = _PAPER_IMAGENET_TOP1.get((int(depth.group(1)), variant))
        if value is not None:
            paper = {"metric": "top-1 (%)", "value": value,
                     "note": "the paper's table, made by the authors' code"}
    return {"config": rel, "framework": framework, "task": task, "data": data,
            "depth": int(depth.group(1)) if depth else None, "variant": variant, "form": form,
            "pretrained": pretrained, "weights": "not released", "paper": paper}


def get_config(name: str, overrides=None):
    """The shipped config ``name`` built and checked by its framework: detectron2 a frozen
    CfgNode with the MODEL.C3 / MODEL.SE keys (``overrides``: KEY VALUE words), mmseg and
    mmpretrain an mmengine Config (``overrides``: a dict of --cfg-options)."""
    framework = describe(name)["framework"]
    path = get_config_file(name)
    if framework == "detectron2":
        import c3_dense.detectron2  # noqa: F401  (the backbones, MODEL.C3)
        from c3_dense.detectron2.engine import setup_cfg
        return setup_cfg(path, list(overrides or ()))
    engine = __import__(f"c3_dense.{framework}.engine", fromlist=["load_config"])
    return engine.load_config(path, dict(overrides or {}))


def get(name: str, trained: bool = False, overrides=None):
    """The model of the shipped config ``name``, built (random initialisation; the backbone's
    ImageNet weights the config names are not loaded), in eval mode. ``trained=True`` would
    load released trained weights: none are released, which is one UserInputError saying so
    and how to train them."""
    if trained:
        raise UserInputError(f"no trained weights are released for {name} (nothing was trained "
                             "on the real data sets here); train them with its command "
                             "(c3-configs shows it) and load your checkpoint")
    cfg = get_config(name, overrides)
    framework = describe(name)["framework"]
    if framework == "detectron2":
        from c3_dense.detectron2.engine import Trainer
        return Trainer.build_model(cfg).eval()
    engine = __import__(f"c3_dense.{framework}.engine", fromlist=["build_model"])
    return engine.build_model(cfg, name).eval()
