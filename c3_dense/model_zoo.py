"""The shipped configs by name, as detectron2's ``model_zoo``: their files (wherever c3_dense
is: a checkout's ``configs/`` or an installed wheel's ``c3_dense/.mim/configs``), built::

    from c3_dense import model_zoo
    model_zoo.get_config_file("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")  # the file
    cfg = model_zoo.get_config("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")  # built, checked
    model = model_zoo.get("mmseg/deeplabv2/deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py")
    model_zoo.describe("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")  # task, data, variant, ...
    model_zoo.list_configs("mmseg")

No trained weights are released (``get(..., trained=True)`` says so); where the paper reports
a number for a config's network and data, :func:`describe` gives it as the paper's, the result
to expect. Configs and models are built through the adapters, imported when asked for.
"""
from __future__ import annotations

import os
import re
from typing import Dict

from .config_files import (FRAMEWORKS, configs_root, get_config_file, list_configs,
                           near_configs, resolve_config)
from .errors import UserInputError

__all__ = ["FRAMEWORKS", "configs_root", "get_config_file", "list_configs", "near_configs",
           "resolve_config", "describe", "get_config", "get"]


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
    task = {"detectron2": "detection", "mmdet": "detection", "mmseg": "segmentation",
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
    voc07 = "PascalVOC07/" in rel or re.search(r"voc07(?!12)", file)  # VOC 2007 trainval
    if task == "detection" and deep and (data == "coco" or voc07):
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
    CfgNode with the MODEL.C3 / MODEL.SE keys (``overrides``: KEY VALUE words), mmdet, mmseg
    and mmpretrain an mmengine Config (``overrides``: a dict of --cfg-options)."""
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


# ------------------------------------------------------------------ OpenMMLab's model index
# The files `mim search c3_dense` reads (model-index.yml, importing configs/<framework>/
# metafile.yml), made from describe(): one source for c3-configs, the metafiles and the README.
PAPER_TITLE = "Cross-channel Communication Networks (Yang, Ren, Gan, Zhu, Parikh; NeurIPS 2019)"
_TASKS = {"detection": "Object Detection", "segmentation": "Semantic Segmentation",
          "classification": "Image Classification"}
_DATASETS = {"coco": "COCO", "voc": "Pascal VOC", "cityscapes": "Cityscapes",
             "cifar100": "CIFAR-100", "imagenet": "ImageNet-1k", "demo": "c3_dense demo data"}
_METRICS = {"mAP (VOC 2007 test)": "mAP", "AP (COCO)": "box AP", "mIoU (VOC 2012 val)": "mIoU",
            "top-1 (%)": "Top 1 Accuracy"}


def metafile(framework: str) -> Dict[str, object]:
    """The OpenMMLab metafile (``configs/<framework>/metafile.yml``) of one framework's
    configs: a model per config with what :func:`describe` says; ``Results`` only where the
    paper reports a number, labelled as the paper's in the model's metadata; no ``Weights``
    link (none are released: the metadata says so)."""
    if framework not in FRAMEWORKS:
        raise UserInputError(f"unknown framework {framework!r}; choose from "
                             f"{', '.join(FRAMEWORKS)}")
    models = []
    for name in list_configs(framework):
        info = describe(name)
        variant = {"plain": "plain ResNet", "se": "ResNet + SE",
                   "c3": f"ResNet + C3 ({info['form']} form)"}[info["variant"]]
        meta = {"Framework": framework, "Training Data": _DATASETS[info["data"]],
                "Architecture": variant,
                "Depth": info["depth"], "Backbone weights": info["pretrained"],
                "Weights": info["weights"]}
        # lower case: `mim search --config ID` compares ids in lower case
        model = {"Name": os.path.splitext(name)[0].lower(), "In Collection": "C3",
                 "Config": f"configs/{name}", "Metadata": meta}
        if info["paper"]:
            meta["Results from"] = info["paper"]["note"] + "; not measured here"
            model["Results"] = [{"Task": _TASKS[info["task"]],
                                 "Dataset": _DATASETS[info["data"]],
                                 "Metrics": {_METRICS[info["paper"]["metric"]]:
                                             info["paper"]["value"]}}]
        models.append(model)
    collection = {"Name": "C3", "Metadata": {"Architecture": ["ResNet", "C3", "SE"]},
                  "Paper": {"Title": PAPER_TITLE}, "README": "README.md"}
    return {"Collections": [collection], "Models": models}


def model_index() -> Dict[str, object]:
    """The OpenMMLab ``model-index.yml``: the frameworks' metafiles."""
    return {"Import": [f"configs/{framework}/metafile.yml" for framework in FRAMEWORKS]}


def metafile_text(data: Dict[str, object]) -> str:
    """``data`` as the YAML committed in the repository (PyYAML, as mmengine has it)."""
    import yaml

    return ("# Made from c3_dense.model_zoo.describe() by c3-configs (FRAMEWORK --metafile, "
            "--model-index); do not edit.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
