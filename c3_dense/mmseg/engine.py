"""Library side of tools/train_seg.py and tools/eval.py seg: config loading and checks that
turn bad input into one clear error, training with mmengine's Runner, checkpoint evaluation.

Importing this module runs ``c3_dense.mmseg`` first (its package): the registrations, the
mmcv.ops stand-in and the checkpoint allow-list are in place before any config is read."""
from __future__ import annotations

import copy
import os
from typing import Optional

from c3_dense.errors import UserInputError
from c3_dense.openmmlab import engine as runner_engine
from c3_dense.records import metrics_path
from c3_dense.openmmlab.engine import check_schedule, check_top_level, leaf_datasets

# Top-level keys of mmseg configs beyond the Runner's.
SEG_KEYS = {"crop_size", "img_ratios"}
DEMO_HINT = "for the demo data run `python tools/make_demo_data.py` (or `make demo`)"


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None):
    """mmengine Config of an mmseg config (see :func:`c3_dense.openmmlab.engine.load_config`)."""
    return runner_engine.load_config(path, cfg_options, work_dir)


def train(cfg, source: str, resume: bool = False, amp: bool = False, launcher: str = "none",
          overwrite: bool = False):
    """Train with mmengine's Runner the way mmseg's tools/train.py does."""
    return runner_engine.train(cfg, source, check_config, build_model, resume=resume, amp=amp,
                               launcher=launcher, overwrite=overwrite)


def build_model(cfg, source: str = "the config"):
    """Build ``cfg.model`` in mmseg's scope; a misspelled argument becomes UserInputError."""
    from mmseg.registry import MODELS

    return runner_engine.build_in_scope(cfg, source, MODELS, "mmseg")


def check_config(cfg, source: str, loaders=("train_dataloader", "val_dataloader")) -> None:
    """Refuse, with one clear message each: near-miss top-level keys, num_classes that disagree
    with the data, missing data folders and missing pretrained weights. (Misspelled model
    arguments: :func:`build_model`.)"""
    from mmseg.registry import DATASETS

    check_top_level(cfg, source, SEG_KEYS)
    heads = cfg.model.get("decode_head")
    heads = heads if isinstance(heads, list) else [heads] if heads else []
    for loader, ds, key in leaf_datasets(cfg):
        if loader not in loaders:
            continue
        classes = runner_engine.dataset_classes(ds, DATASETS, "mmseg")
        for head in heads:
            n = head.get("num_classes")
            if classes and n is not None and n != len(classes) and not (
                    n == 1 and len(classes) == 2):  # mmseg's binary-with-sigmoid convention
                raise UserInputError(
                    f"model.decode_head.num_classes is {n} but the {loader} data set "
                    f"({ds['type']}) has {len(classes)} classes; set "
                    f"model.decode_head.num_classes={len(classes)} (--cfg-options)")
        root = ds.get("data_root", "")
        prefix = ds.get("data_prefix", {}) or {}
        paths = [root] + [os.path.join(root, p) for p in prefix.values() if p]
        if ds.get("ann_file"):
            paths.append(os.path.join(root, ds["ann_file"]))
        for path in paths:
            if path and not os.path.exists(path):
                hint = DEMO_HINT if "c3_demo" in path else (
                    "put the data set there in mmseg's layout, or point data_root to it with "
                    f"--cfg-options {key}.data_root=DIR")
                raise UserInputError(f"{loader}: {path} does not exist; {hint}")
        if ds.get("ann_file"):
            ann = os.path.join(root, ds["ann_file"])
            if os.path.isfile(ann) and not open(ann).read().split():
                raise UserInputError(f"{loader}: {ann} lists no images; write one image name "
                                     "per line")
        num_classes = next((h.get("num_classes") for h in heads if h.get("num_classes")), None)
        _check_samples(ds, loader, num_classes)
    check_schedule(cfg, loaders)
    pretrained = cfg.model.get("pretrained")
    if pretrained and "://" not in pretrained and not os.path.exists(pretrained):
        raise UserInputError(f"pretrained weights {pretrained} not found; put the ImageNet "
                             "ResNetV1c checkpoint there or set model.pretrained=None "
                             "(--cfg-options model.pretrained=None)")


SAMPLES_CHECKED = 100  # images and label maps read up front per data set, evenly spread


def _check_samples(ds: dict, loader: str, num_classes: Optional[int]) -> None:
    """Read an even sample of a data set's images and label maps: files that are not images,
    and label values that are neither a class (0..num_classes-1) nor the ignore index 255,
    stop here instead of deep inside training."""
    import numpy as np
    from mmengine.registry import DefaultScope
    from PIL import Image
    from mmseg.registry import DATASETS

    spec = copy.deepcopy(dict(ds))
    spec["pipeline"] = []
    try:
        with DefaultScope.overwrite_default_scope("mmseg"):
            dataset = DATASETS.build(spec)
    except Exception as exc:  # the folders exist (checked above) but the listing failed
        raise UserInputError(f"{loader}: the data set cannot be listed ({exc})") from None
    if len(dataset) == 0:
        raise UserInputError(f"{loader}: the data set ({ds['type']}) holds no images under "
                             f"{ds.get('data_root', '')}; check data_prefix and the suffixes")
    step = max(1, len(dataset) // SAMPLES_CHECKED)
    reduce_zero = bool(getattr(dataset, "reduce_zero_label", False))
    for i in range(0, len(dataset), step):
        info = dataset.get_data_info(i)
        for key in ("img_path", "seg_map_path"):
            path = info.get(key)
            if not path:
                continue
            try:
                with Image.open(path) as image:
                    image.load()  # decoded whole: a truncated file fails here, not in training
                    values = np.unique(np.asarray(image)) if key == "seg_map_path" else None
            except FileNotFoundError:
                raise UserInputError(f"{loader}: {path} does not exist; the split lists it"
                                     ) from None
            except Exception as exc:
                raise UserInputError(f"{loader}: {path} is not an image ({exc}); replace it "
                                     "or leave it out of the split") from None
            if values is not None and num_classes:
                valid = (values == 255) | (values <= num_classes if reduce_zero
                                           else values < num_classes)
                if not valid.all():
                    raise UserInputError(
                        f"{loader}: label map {path} holds class ids {values[~valid].tolist()}, "
                        f"but the model has {num_classes} classes (ids 0..{num_classes - 1}, "
                        "255 = ignore); fix the labels or model.decode_head.num_classes")


def evaluate_checkpoint(config: str, checkpoint: str, work_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None, out: Optional[str] = None):
    """Test ``checkpoint`` on the config's test set; returns (metrics, json path: ``out``, else
    beside the checkpoint). Metrics hold aAcc, mIoU, mAcc and, with PerClassIoUMetric,
    ``per_class``."""
    cfg = load_config(config, cfg_options, work_dir)
    if cfg.test_evaluator.get("type") == "IoUMetric":
        cfg.test_evaluator.type = "PerClassIoUMetric"  # same numbers, plus the class table
    cfg.model.pretrained = None  # the checkpoint holds every weight
    runner, metrics = runner_engine.test_checkpoint(cfg, config, checkpoint, check_config,
                                                    build_model)
    per_class = next((m.per_class for m in runner.test_evaluator.metrics
                      if hasattr(m, "per_class")), None)
    result = {"config": config, "checkpoint": checkpoint, "metrics": metrics,
              "per_class": per_class}
    return result, runner_engine.write_json(
        result, out or metrics_path(checkpoint))


def format_seg_metrics(result: dict) -> str:
    metrics = result["metrics"]
    lines = ["  ".join(f"{k} {metrics[k]:.2f}" for k in ("aAcc", "mIoU", "mAcc") if k in metrics)]
    if result.get("per_class"):
        lines.append(f"{'class':<16}{'IoU':>8}{'Acc':>8}")
        for name, v in result["per_class"].items():
            lines.append(f"{name:<16}{v['IoU']:8.2f}{v['Acc']:8.2f}")
    return "\n".join(lines)
