"""Library side of tools/train_cls.py and tools/eval.py cls: mmpretrain configs checked up
front (one clear error per kind of bad input), training with mmengine's Runner, checkpoint
evaluation (top-1 / top-5)."""
from __future__ import annotations

import copy
import os
from typing import Optional

from c3_dense.errors import UserInputError
from c3_dense.records import metrics_path
from c3_dense.openmmlab import engine as runner_engine
from c3_dense.openmmlab.engine import check_schedule, check_top_level

from .datasets import LAYOUT

# Top-level keys of mmpretrain configs beyond the Runner's.
CLS_KEYS = {"bgr_mean", "bgr_std"}
IMAGE_FOLDER_LAYOUT = ("class folders (train/<class>/*.JPEG, val/<class>/*.JPEG) or "
                       "meta/train.txt and meta/val.txt lists")


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None):
    """mmengine Config of an mmpretrain config (see :func:`c3_dense.openmmlab.engine.load_config`),
    its top-k accuracies limited to the head's number of classes."""
    cfg = runner_engine.load_config(path, cfg_options, work_dir)
    topk_within_classes(cfg)
    return cfg


def topk_within_classes(cfg) -> None:
    """Top-k accuracies need at least k classes (mmpretrain's Accuracy stops after the whole
    test loop otherwise): the evaluators' and the head's ``topk`` keep the k up to the head's
    ``num_classes``, with one line saying what was dropped; a k below 1 is refused (it would
    be reported as an accuracy)."""
    num_classes = (cfg.model.get("head") or {}).get("num_classes")
    places = [(cfg.model, "head", "model.head")] if cfg.model.get("head") else []
    for key in ("val_evaluator", "test_evaluator"):
        evaluators = cfg.get(key)
        if isinstance(evaluators, (list, tuple)):
            places += [(evaluators, i, f"{key}[{i}]") for i in range(len(evaluators))]
        elif evaluators is not None:
            places.append((cfg, key, key))
    for parent, key, name in places:
        node = parent[key]
        if not hasattr(node, "get") or node.get("topk") is None:
            continue
        topk = node["topk"]
        ks = [topk] if isinstance(topk, int) else list(topk)
        bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, int) or k < 1]
        if bad:
            raise UserInputError(f"{name}.topk holds {bad[0]!r}; top-k accuracy needs whole "
                                 "numbers k >= 1, e.g. topk=(1, 5)")
        if not isinstance(num_classes, int):
            continue
        kept = [k for k in ks if k <= num_classes]
        if kept != ks:
            node["topk"] = tuple(kept) or (1,)
            print(f"{name}.topk: {num_classes} classes, so top-{', top-'.join(map(str, ks))} "
                  f"becomes top-{', top-'.join(map(str, node['topk']))}", flush=True)


def build_model(cfg, source: str = "the config"):
    """Build ``cfg.model`` in mmpretrain's scope; a misspelled argument becomes UserInputError."""
    from mmpretrain.registry import MODELS

    return runner_engine.build_in_scope(cfg, source, MODELS, "mmpretrain")


def _dataset(cfg, loader: str):
    """Build the loader's data set (no pipeline) in mmpretrain's scope: the data set's own
    checks run here, before the Runner (a missing folder, a wrong layout, no images)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS

    spec = copy.deepcopy(dict(cfg[loader]["dataset"]))
    spec["pipeline"] = []
    root = spec.get("data_root", "")
    if root and not os.path.isdir(root):
        layout = LAYOUT if "CIFAR" in str(spec.get("type")) else IMAGE_FOLDER_LAYOUT
        raise UserInputError(f"{loader}: data_root {root} does not exist; it must hold {layout} "
                             f"(or point it elsewhere: --cfg-options "
                             f"{loader}.dataset.data_root=DIR)")
    try:
        with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmpretrain")):
            dataset = DATASETS.build(spec)
    except UserInputError:
        raise
    except KeyError as exc:
        raise UserInputError(f"{loader}: {exc}; check the data set type or add its module to "
                             "custom_imports") from None
    except Exception as exc:  # mmpretrain's own complaints (empty folders, bad lists)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{loader}: the data set under {root} cannot be read ({reason}); "
                             f"it must hold {IMAGE_FOLDER_LAYOUT}") from None
    if len(dataset) == 0:
        raise UserInputError(f"{loader}: the data set under {root} holds no images")
    return dataset


def check_config(cfg, source: str, loaders=("train_dataloader", "val_dataloader")) -> None:
    """Refuse, with one clear message each: near-miss top-level keys, bad schedules, data that
    is missing or in the wrong layout, labels beyond the head's classes, missing weights."""
    check_top_level(cfg, source, CLS_KEYS)
    check_schedule(cfg, loaders)
    num_classes = (cfg.model.get("head") or {}).get("num_classes")
    for loader in loaders:
        if not cfg.get(loader):
            continue
        dataset = _dataset(cfg, loader)
        labels = [dataset.get_data_info(i)["gt_label"] for i in
                  range(0, len(dataset), max(1, len(dataset) // 1000))]
        if num_classes and max(labels) >= num_classes:
            raise UserInputError(f"{loader}: labels go up to {max(labels)} but the head has "
                                 f"{num_classes} classes; set model.head.num_classes "
                                 "(--cfg-options)")
    backbone_init = (cfg.model.get("backbone") or {}).get("init_cfg") or {}
    path = backbone_init.get("checkpoint") if isinstance(backbone_init, dict) else None
    if path and "://" not in path and not os.path.isfile(path):
        raise UserInputError(f"backbone checkpoint {path} not found; put it there or drop "
                             "model.backbone.init_cfg")


def train(cfg, source: str, resume: bool = False, amp: bool = False, launcher: str = "none",
          overwrite: bool = False):
    """Train with mmengine's Runner the way mmpretrain's tools/train.py does."""
    return runner_engine.train(cfg, source, check_config, build_model, resume=resume, amp=amp,
                               launcher=launcher, overwrite=overwrite)


def evaluate_checkpoint(config: str, checkpoint: str, work_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None, out: Optional[str] = None):
    """Test ``checkpoint`` on the config's test set; returns (result, json path: ``out``, else
    beside the checkpoint) with top-1 and top-5 accuracy (%)."""
    cfg = load_config(config, cfg_options, work_dir)
    _, metrics = runner_engine.test_checkpoint(cfg, config, checkpoint, check_config, build_model)
    result = {"config": config, "checkpoint": checkpoint, "metrics": metrics}
    return result, runner_engine.write_json(
        result, out or metrics_path(checkpoint))


def format_cls_metrics(result: dict) -> str:
    metrics = result["metrics"]
    return "  ".join(f"{k.split('/')[-1]} {v:.2f}" for k, v in metrics.items())
