"""Library side of tools/train_seg.py and tools/eval.py seg: config loading and checks that
turn bad input into one clear error, training with mmengine's Runner, checkpoint evaluation.

Importing this module runs ``c3_dense.mmseg`` first (its package): the registrations, the
mmcv.ops stand-in and the checkpoint allow-list are in place before any config is read."""
from __future__ import annotations

import copy
import difflib
import json
import os
from typing import Dict, Iterator, List, Optional, Tuple

import torch

from c3_dense.errors import UserInputError, check_output_dir
from c3_dense.weights import (check_state_dict_fits, first_readable, load_torch_file,
                              resume_candidates, run_checkpoints)

# Top-level keys of mmseg configs: Runner arguments and the usual helper variables.
_KNOWN_TOP_LEVEL = {
    "_base_", "custom_imports", "default_scope", "launcher", "tta_model", "tta_pipeline",
    "norm_cfg", "crop_size", "dataset_type", "data_root", "train_pipeline", "test_pipeline",
    "img_ratios", "optimizer", "vis_backends", "work_dir", "load_from", "resume",
    "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg", "test_cfg",
    "auto_scale_lr", "optim_wrapper", "param_scheduler", "val_evaluator", "test_evaluator",
    "default_hooks", "custom_hooks", "data_preprocessor", "env_cfg", "log_processor",
    "log_level", "visualizer", "randomness", "experiment_name", "model", "model_wrapper_cfg",
}
DEMO_HINT = "for the demo data run `python tools/make_demo_data.py` (or `make demo`)"


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None):
    """mmengine Config from ``path`` (+ ``--cfg-options``), with ``work_dir`` resolved the way
    mmseg's tools do (argument > config > ./work_dirs/<config name>)."""
    from mmengine.config import Config

    if not os.path.isfile(path):
        raise UserInputError(f"config file {path} not found; pass an existing config "
                             "(see configs/mmseg/)")
    try:
        cfg = Config.fromfile(path)
    except Exception as exc:  # mmengine raises many kinds for broken configs
        raise UserInputError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = os.path.join("work_dirs", os.path.splitext(os.path.basename(path))[0])
    return cfg


def _check_top_level(cfg, source: str) -> None:
    for key in cfg.keys():
        if key in _KNOWN_TOP_LEVEL:
            continue
        close = difflib.get_close_matches(key, _KNOWN_TOP_LEVEL, n=1, cutoff=0.85)
        if close:
            raise UserInputError(f"config key {key!r} in {source} is unknown; did you mean "
                                 f"{close[0]!r}?")


def build_model(cfg, source: str = "the config"):
    """Build ``cfg.model`` in mmseg's scope; a misspelled argument becomes UserInputError."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    scope = cfg.get("default_scope", "mmseg") or "mmseg"
    try:
        with DefaultScope.overwrite_default_scope(scope):
            # A copy: EncoderDecoder writes `pretrained` into its backbone's config, and the
            # Runner, which builds from the same config later, would then find it twice.
            return MODELS.build(copy.deepcopy(cfg.model))
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc) or "got an unexpected" in str(exc):
            raise UserInputError(f"config error in model of {source}: {exc}; check the spelling "
                                 "of that key") from None
        raise
    except (KeyError, ValueError) as exc:
        raise UserInputError(f"config error in model of {source}: {exc}") from None


def _datasets(cfg) -> Iterator[Tuple[str, dict]]:
    """(loader name, dataset cfg) for every leaf data set (through Concat/Repeat wrappers)."""
    def leaves(ds):
        if ds is None:
            return
        if "datasets" in ds:
            for sub in ds["datasets"]:
                yield from leaves(sub)
        elif "dataset" in ds:
            yield from leaves(ds["dataset"])
        else:
            yield ds
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(loader):
            for ds in leaves(cfg[loader].get("dataset")):
                yield loader, ds


def _dataset_classes(ds: dict) -> Optional[List[str]]:
    from mmseg.registry import DATASETS

    metainfo = ds.get("metainfo") or {}
    if metainfo.get("classes"):
        return list(metainfo["classes"])
    try:
        cls = DATASETS.get(ds["type"])
    except KeyError:
        cls = None
    if cls is None:
        raise UserInputError(f"data set type {ds['type']!r} is not registered in mmseg; check "
                             "its spelling or add its module to custom_imports")
    classes = getattr(cls, "METAINFO", {}).get("classes")
    return list(classes) if classes else None


def check_config(cfg, source: str, loaders=("train_dataloader", "val_dataloader")) -> None:
    """Refuse, with one clear message each: near-miss top-level keys, num_classes that disagree
    with the data, missing data folders and missing pretrained weights. (Misspelled model
    arguments: :func:`build_model`.)"""
    _check_top_level(cfg, source)
    heads = cfg.model.get("decode_head")
    heads = heads if isinstance(heads, list) else [heads] if heads else []
    for loader, ds in _datasets(cfg):
        if loader not in loaders:
            continue
        classes = _dataset_classes(ds)
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
                    f"--cfg-options {loader}.dataset.data_root=DIR")
                raise UserInputError(f"{loader}: {path} does not exist; {hint}")
        if ds.get("ann_file"):
            ann = os.path.join(root, ds["ann_file"])
            if os.path.isfile(ann) and not open(ann).read().split():
                raise UserInputError(f"{loader}: {ann} lists no images; write one image name "
                                     "per line")
        num_classes = next((h.get("num_classes") for h in heads if h.get("num_classes")), None)
        _check_samples(ds, loader, num_classes)
    _check_schedule(cfg, loaders)
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


def _check_schedule(cfg, loaders) -> None:
    """Iteration counts, intervals and batch sizes must be positive."""
    checks = []
    train_cfg = cfg.get("train_cfg") or {}
    if "train_dataloader" in loaders:
        for key in ("max_iters", "max_epochs", "val_interval"):
            if key in train_cfg:
                checks.append((f"train_cfg.{key}", train_cfg[key]))
    for loader in loaders:
        if cfg.get(loader):
            checks.append((f"{loader}.batch_size", cfg[loader].get("batch_size", 1)))
    for key, value in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserInputError(f"{key} is {value!r}; it must be a whole number of at least 1")


def checkpoint_state_dict(path: str, ckpt=None) -> Dict[str, torch.Tensor]:
    """The model weights of checkpoint ``path`` (``ckpt``: its content, when already read)."""
    if ckpt is None:
        if not os.path.isfile(path):
            raise UserInputError(f"checkpoint {path} not found")
        ckpt = load_torch_file(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise UserInputError(f"checkpoint {path} holds no state_dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def check_checkpoint_fits(model, path: str, allow_new_blocks: bool = False, ckpt=None) -> None:
    """Refuse a checkpoint of another model: tensors missing, of other shapes, or not in the
    model. ``allow_new_blocks``: a plain checkpoint may lack the C3/SE blocks (fine-tuning).
    ``ckpt``: the checkpoint's content, when already read."""
    state = checkpoint_state_dict(path, ckpt)
    problem = check_state_dict_fits(model, state)
    if not problem and not allow_new_blocks:
        missing = [k for k in model.state_dict() if k not in state]
        if missing:
            problem = f"{len(missing)} of the model's tensors are missing (e.g. {missing[0]})"
    if problem:
        raise UserInputError(f"checkpoint {path} is from another model: {problem}; use the "
                             "config it was trained with")


CHECKPOINT_NAMES = r"(iter|epoch)_\d+\.pth"


def finished_run_files(work_dir: str) -> List[str]:
    """Checkpoints of an earlier run in ``work_dir`` (what training there would overwrite)."""
    return run_checkpoints(work_dir, CHECKPOINT_NAMES)


def resume_checkpoint(work_dir: str) -> Optional[Tuple[str, object]]:
    """The checkpoint to resume from and its content: the one ``last_checkpoint`` names, else
    the newest ``iter_*.pth``/``epoch_*.pth`` that can be read (a truncated newest one is
    skipped, with a warning); None when there is none."""
    named = ""
    marker = os.path.join(work_dir, "last_checkpoint")
    if os.path.isfile(marker):
        with open(marker) as f:
            named = f.read().strip()
        if named and not os.path.isabs(named) and not os.path.exists(named):
            named = os.path.join(work_dir, named)
    return first_readable(resume_candidates(work_dir, named, CHECKPOINT_NAMES))


def _replace_sync_bn(node):
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"
        for value in node.values():
            _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _replace_sync_bn(value)


def _cpu_distributed(cfg, launcher: str) -> None:
    """Let ``--launcher pytorch`` run on CPU processes (e.g. to test a launch without GPUs):
    mmengine's launcher calls torch.cuda.set_device and gives DDP device ids, and SyncBN needs
    GPUs. So: a gloo process group from torchrun's environment, DDP without device ids, and
    per-process BN instead of SyncBN."""
    import torch.distributed as dist

    if launcher != "pytorch":
        raise UserInputError(f"--launcher {launcher} needs CUDA GPUs on this machine; use "
                             "--launcher pytorch (torchrun) for CPU processes")
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None,
                                 broadcast_buffers=False)
    _replace_sync_bn(cfg.model)


def train(cfg, source: str, resume: bool = False, amp: bool = False, launcher: str = "none",
          overwrite: bool = False):
    """Train with mmengine's Runner the way mmseg's tools/train.py does."""
    from mmengine.runner import Runner

    if amp:
        if not torch.cuda.is_available():
            raise UserInputError("--amp needs a CUDA GPU (mmengine's AmpOptimWrapper); drop "
                                 "--amp on this machine")
        if cfg.optim_wrapper.get("type") != "AmpOptimWrapper":
            cfg.optim_wrapper.type = "AmpOptimWrapper"
            cfg.optim_wrapper.loss_scale = "dynamic"
    cfg.resume = resume
    cfg.launcher = launcher
    if launcher != "none" and not torch.cuda.is_available():
        _cpu_distributed(cfg, launcher)
    check_config(cfg, source)
    check_output_dir(cfg.work_dir, "work_dir")
    model = build_model(cfg, source)  # names a misspelled model argument before the Runner
    ckpt = None  # the checkpoint's content, once read
    if resume and not cfg.get("load_from"):
        cfg.load_from, ckpt = resume_checkpoint(cfg.work_dir) or (None, None)
        if cfg.load_from is None:  # nothing to resume: start anew
            cfg.resume = False
    elif not resume and not overwrite:
        done = finished_run_files(cfg.work_dir)
        if done:
            raise UserInputError(f"work_dir {cfg.work_dir} already holds a run ({done[0]}); "
                                 "pass --resume to continue it, set another --work-dir, or "
                                 "--overwrite to train over it")
    if cfg.get("load_from"):
        check_checkpoint_fits(model, cfg.load_from, allow_new_blocks=not cfg.resume, ckpt=ckpt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def evaluate_checkpoint(config: str, checkpoint: str, work_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None, out: Optional[str] = None):
    """Test ``checkpoint`` on the config's test set; returns (metrics, json path). Metrics hold
    aAcc, mIoU, mAcc and, with PerClassIoUMetric, ``per_class``."""
    from mmengine.runner import Runner

    cfg = load_config(config, cfg_options, work_dir)
    if cfg.test_evaluator.get("type") == "IoUMetric":
        cfg.test_evaluator.type = "PerClassIoUMetric"  # same numbers, plus the class table
    check_config(cfg, config, loaders=("test_dataloader",))
    check_checkpoint_fits(build_model(cfg, config), checkpoint)
    cfg.load_from = checkpoint
    cfg.model.pretrained = None  # the checkpoint holds every weight
    runner = Runner.from_cfg(cfg)
    metrics = {k: float(v) for k, v in runner.test().items()}
    per_class = next((m.per_class for m in runner.test_evaluator.metrics
                      if hasattr(m, "per_class")), None)
    result = {"config": config, "checkpoint": checkpoint, "metrics": metrics,
              "per_class": per_class}
    path = out or os.path.join(cfg.work_dir, "eval_metrics.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    return result, path


def format_seg_metrics(result: dict) -> str:
    metrics = result["metrics"]
    lines = ["  ".join(f"{k} {metrics[k]:.2f}" for k in ("aAcc", "mIoU", "mAcc") if k in metrics)]
    if result.get("per_class"):
        lines.append(f"{'class':<16}{'IoU':>8}{'Acc':>8}")
        for name, v in result["per_class"].items():
            lines.append(f"{name:<16}{v['IoU']:8.2f}{v['Acc']:8.2f}")
    return "\n".join(lines)
