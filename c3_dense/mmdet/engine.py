"""Library side of tools/train_mmdet.py and tools/eval.py mmdet: MMDetection configs checked up
front (one clear error per kind of bad input), training with mmengine's Runner, checkpoint
evaluation with the config's own metric (mmdet's CocoMetric / VOCMetric).

Importing this module runs ``c3_dense.mmdet`` first (its package): the registrations, the
mmcv.ops stand-in and the checkpoint allow-list are in place before any config is read."""
from __future__ import annotations

import copy
import os
from typing import Optional

from c3_dense.errors import UserInputError
from c3_dense.openmmlab import engine as runner_engine
from c3_dense.openmmlab.engine import check_schedule, check_top_level, leaf_datasets
from c3_dense.records import metrics_path

DEMO_HINT = "for the demo data run `python tools/make_demo_data.py` (or `make demo`)"
SAMPLES_CHECKED = 100  # images decoded up front per data set, evenly spread
WEIGHTS_HINT = {  # where the configs' ImageNet files come from (torch hub's own file names)
    "resnet50-0676ba61.pth": "torchvision's ImageNet ResNet-50",
    "resnet101-63fe2227.pth": "torchvision's ImageNet ResNet-101"}


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None):
    """mmengine Config of an mmdet config (see :func:`c3_dense.openmmlab.engine.load_config`)."""
    return runner_engine.load_config(path, cfg_options, work_dir)


def train(cfg, source: str, resume: bool = False, amp: bool = False, launcher: str = "none",
          overwrite: bool = False):
    """Train with mmengine's Runner the way mmdet's tools/train.py does."""
    return runner_engine.train(cfg, source, check_config, build_model, resume=resume, amp=amp,
                               launcher=launcher, overwrite=overwrite)


def build_model(cfg, source: str = "the config"):
    """Build ``cfg.model`` in mmdet's scope; a misspelled argument becomes UserInputError."""
    from mmdet.registry import MODELS

    return runner_engine.build_in_scope(cfg, source, MODELS, "mmdet")


def _num_classes(cfg) -> Optional[int]:
    """The detector's number of classes (the RoI head's box head, else a one-stage head's)."""
    roi = cfg.model.get("roi_head") or {}
    head = roi.get("bbox_head") or cfg.model.get("bbox_head") or {}
    if isinstance(head, (list, tuple)):  # cascades: every stage has the same classes
        head = head[0] if head else {}
    return head.get("num_classes")


def _missing_path_hint(path: str, key: str) -> str:
    if "c3_demo" in path:
        return DEMO_HINT
    return ("put the data set there in its real layout (COCO: annotations/ and train2017/; "
            "VOC: VOCdevkit/VOC2007/), or point data_root to it with --cfg-options "
            f"{key}.data_root=DIR")


def check_config(cfg, source: str, loaders=("train_dataloader", "val_dataloader")) -> None:
    """Refuse, with one clear message each: near-miss top-level keys, bad schedules, a number
    of classes that disagrees with the data, missing data folders and annotation files, data
    sets that list no images or hold images that do not decode, missing ImageNet weights.
    (Misspelled model arguments: :func:`build_model`.)"""
    from mmdet.registry import DATASETS

    check_top_level(cfg, source)
    check_schedule(cfg, loaders)
    num_classes = _num_classes(cfg)
    for loader, ds, key in leaf_datasets(cfg):
        if loader not in loaders:
            continue
        classes = runner_engine.dataset_classes(ds, DATASETS, "mmdet")
        if classes and num_classes is not None and num_classes != len(classes):
            raise UserInputError(
                f"model.roi_head.bbox_head.num_classes is {num_classes} but the {loader} data "
                f"set ({ds['type']}) has {len(classes)} classes; set "
                f"model.roi_head.bbox_head.num_classes={len(classes)} (--cfg-options)")
        root = ds.get("data_root", "") or ""
        prefix = ds.get("data_prefix", {}) or {}
        paths = [root] + [os.path.join(root, p) for p in prefix.values() if p]
        if ds.get("ann_file"):
            paths.append(os.path.join(root, ds["ann_file"]))
        for path in paths:
            if path and not os.path.exists(path):
                raise UserInputError(f"{loader}: {path} does not exist; "
                                     f"{_missing_path_hint(path, key)}")
        _check_samples(ds, loader)
    for key in ("val_evaluator", "test_evaluator"):
        loader = key.replace("_evaluator", "_dataloader")
        evaluator = cfg.get(key)
        if loader not in loaders or not evaluator or not cfg.get(loader):
            continue
        for metric in evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]:
            ann = metric.get("ann_file")
            if ann and not os.path.isfile(ann):
                hint = DEMO_HINT if "c3_demo" in ann else (
                    f"put COCO's annotations there or point to them with --cfg-options "
                    f"{key}.ann_file=FILE")
                raise UserInputError(f"{key}.ann_file {ann} does not exist; {hint}")
    path = runner_engine.pretrained_checkpoint(cfg)
    if path and not os.path.isfile(path):
        what = WEIGHTS_HINT.get(os.path.basename(path), "the backbone's ImageNet weights")
        raise UserInputError(
            f"pretrained weights {path} not found; put {what} there (torch hub keeps it as "
            f"~/.cache/torch/hub/checkpoints/{os.path.basename(path)}), or train from scratch "
            "with --cfg-options model.backbone.init_cfg=None")


def _check_samples(ds: dict, loader: str) -> None:
    """List the data set (mmdet's own parsing of its annotations) and decode an even sample of
    its images: an empty listing or a file that is no image stops here, not in training."""
    from mmengine.registry import DefaultScope
    from PIL import Image
    from mmdet.registry import DATASETS

    spec = copy.deepcopy(dict(ds))
    spec["pipeline"] = []
    try:
        with DefaultScope.overwrite_default_scope("mmdet"):
            dataset = DATASETS.build(spec)
    except Exception as exc:  # the files exist (checked above) but cannot be parsed
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{loader}: the data set ({ds['type']}) cannot be read "
                             f"({reason})") from None
    if len(dataset) == 0:
        raise UserInputError(f"{loader}: the data set ({ds['type']}) holds no images with boxes "
                             f"under {ds.get('data_root', '')}; check ann_file, data_prefix and "
                             "filter_cfg")
    step = max(1, len(dataset) // SAMPLES_CHECKED)
    for i in range(0, len(dataset), step):
        path = dataset.get_data_info(i).get("img_path")
        try:
            with Image.open(path) as image:
                image.load()  # decoded whole: a truncated file fails here, not in training
        except FileNotFoundError:
            raise UserInputError(f"{loader}: {path} does not exist; the annotations list it"
                                 ) from None
        except Exception as exc:
            raise UserInputError(f"{loader}: {path} is not an image ({exc}); replace it or "
                                 "leave it out of the annotations") from None


def evaluate_checkpoint(config: str, checkpoint: str, work_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None, out: Optional[str] = None):
    """Test ``checkpoint`` on the config's test set with the config's metric (mmdet's
    CocoMetric: AP at IoU .50:.95, .50, .75 and by size; VOCMetric: mAP); returns (result,
    json path: ``out``, else beside the checkpoint). CocoMetric's predictions are kept beside
    that file as ``<name>.bbox.json`` (COCO's results format: any COCO scorer reads it)."""
    cfg = load_config(config, cfg_options, work_dir)
    out = out or metrics_path(checkpoint)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    predictions = None
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and evaluator.get("type") == "CocoMetric":
        prefix = os.path.splitext(out)[0]
        evaluator.outfile_prefix = prefix
        predictions = prefix + ".bbox.json"
    _, metrics = runner_engine.test_checkpoint(cfg, config, checkpoint, check_config,
                                               build_model)
    result = {"config": config, "checkpoint": checkpoint, "metrics": metrics,
              "predictions": predictions}
    return result, runner_engine.write_json(result, out)


def format_det_metrics(result: dict) -> str:
    return "  ".join(f"{k.split('/')[-1]} {v:.4f}" for k, v in result["metrics"].items())
