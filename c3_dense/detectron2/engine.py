"""Library side of tools/train_det.py and tools/eval.py det: config set-up, the trainer, the
checkpointer that refuses weights of another architecture, evaluation and metrics files."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import weakref
from collections import OrderedDict
from typing import Dict, Iterable, Optional

import torch
import yaml
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode, get_cfg
from detectron2.data import (DatasetCatalog, DatasetMapper, MetadataCatalog,
                             get_detection_dataset_dicts)
from detectron2.engine import (AMPTrainer, DefaultTrainer, HookBase, SimpleTrainer, TrainerBase,
                               create_ddp_model)
from detectron2.utils.logger import setup_logger
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, PascalVOCDetectionEvaluator
from detectron2.utils import comm

from c3_dense.convert import pretraining_misfit
from c3_dense.core import check_c3_options
from c3_dense.errors import UserInputError, check_compile_backend
from c3_dense.files import is_disk_full, write_whole
from c3_dense.progress import Pace
from c3_dense.config_files import resolve_config
from c3_dense.records import write_json
from c3_dense.weights import (UnreadableWeightsFile, check_room, checkpoint_origin,
                              checkpoint_size, describe_c3_misfit, disk_full_stop,
                              first_readable, is_new_block_key, load_torch_file,
                              load_weights_pickle, resume_advice, resume_candidates,
                              run_checkpoints, run_interrupted, torch_bytes, upgrade_se_keys,
                              windows_of_weights)

from .config import add_c3_config, c3_block_kwargs, check_c3_se_config
from .data import check_dataset
from .loader import IterationSeedHook, ResumableTrainLoader

logger = logging.getLogger("c3_dense")
progress_logger = logging.getLogger("detectron2.c3_dense")  # detectron2's handlers, at INFO

# Everything in stem/res2-5 that is not a C3/SE block (is_new_block_key) is the plain ResNet.
_TRUNK_KEY = re.compile(r"(^|\.)(stem|res[2-5])\.")


def setup_cfg(config_file: str, opts: Iterable[str] = (), freeze: bool = True) -> CfgNode:
    """detectron2 config with MODEL.C3/MODEL.SE, merged from ``config_file`` and ``opts``;
    unknown keys and bad C3 settings become UserInputError."""
    cfg = get_cfg()
    add_c3_config(cfg)
    config_file = resolve_config(config_file)  # a file, or a shipped config's name
    opts = list(opts)
    if len(opts) % 2:
        raise UserInputError(f"overrides come in KEY VALUE pairs, got {len(opts)} words "
                             f"({' '.join(opts[-2:])} ...); give a value for each key")
    try:
        loaded = CfgNode.load_yaml_with_base(config_file, allow_unsafe=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserInputError(f"config {getattr(mark, 'name', config_file)} is not valid YAML"
                             f"{where} ({problem}); fix the file") from None
    _check_keys(cfg, loaded, opts, config_file)
    try:
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(opts)
    except (KeyError, AssertionError, ValueError) as exc:
        # What is left: a value of the wrong type (or a renamed key) as yacs words it.
        first_line = str(exc).strip("'\"").splitlines()[0]
        raise UserInputError(f"bad config value or override: {first_line}") from None
    try:
        check_c3_se_config(cfg)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    _check_values(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def _check_keys(cfg: CfgNode, loaded: CfgNode, opts: list, config_file: str) -> None:
    """Every key of the file and the overrides is one of ``cfg``'s, and overrides set values,
    not sections. Found here by walking the defaults rather than read back from yacs's
    messages after a failed merge."""
    unknown = _unknown_key(cfg, loaded) or next(
        (key for key in opts[0::2] if _unknown_key(cfg, _nested(key))), None)
    if unknown:
        raise UserInputError(f"unknown config key {unknown} in {config_file} or the "
                             f"overrides; check its spelling{_known_keys(cfg, unknown)}")
    for key in opts[0::2]:
        node = cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, CfgNode) else None
        if isinstance(node, CfgNode):
            raise UserInputError(f"override {key} names a section, not a value; set one of its "
                                 f"keys ({', '.join(sorted(node.keys()))})")


def _nested(dotted: str) -> dict:
    """``"A.B.C"`` as ``{"A": {"B": {"C": None}}}``, for :func:`_unknown_key`."""
    tree: dict = {}
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = None
    return tree


def _unknown_key(root: CfgNode, tree: dict) -> Optional[str]:
    """The first dotted key of ``tree`` that ``root`` (the defaults) lacks, or None. Keys the
    defaults mark deprecated or renamed are yacs's to handle (it warns or names the new key);
    a node that allows new keys takes anything."""
    pending = [(root, tree, "")]
    while pending:
        node, branch, prefix = pending.pop(0)
        for key, value in branch.items():
            full = prefix + key
            if not prefix and key in ("_BASE_", "VERSION"):
                continue
            if key not in node:
                if node.is_new_allowed() or root.key_is_renamed(full) \
                        or root.key_is_deprecated(full):
                    continue
                return full
            if isinstance(value, dict):
                if not isinstance(node[key], CfgNode):
                    return full + "." + next(iter(value))  # a key under a value
                pending.append((node[key], value, full + "."))
    return None


def _known_keys(cfg: CfgNode, key: str) -> str:
    section, node = key.rsplit(".", 1)[0], cfg
    try:
        for part in section.split("."):
            node = node[part]
        return f" ({section} has: {', '.join(sorted(node.keys()))})"
    except (KeyError, TypeError, AttributeError):
        return ""


def check_datasets(cfg: CfgNode, train: bool = True) -> None:
    """The data sets exist and read, and their class counts are the model's."""
    checked = [(n, check_dataset(n)) for n in (list(cfg.DATASETS.TRAIN) if train else [])]
    checked += [(n, check_dataset(n, evaluated=True)) for n in cfg.DATASETS.TEST]
    for name, classes in checked:
        if classes is not None and classes != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
            raise UserInputError(f"MODEL.ROI_HEADS.NUM_CLASSES is {cfg.MODEL.ROI_HEADS.NUM_CLASSES} "
                                 f"but data set {name!r} has {classes} classes; add "
                                 f"`MODEL.ROI_HEADS.NUM_CLASSES {classes}`")


_POSITIVE = ("SOLVER.MAX_ITER", "SOLVER.IMS_PER_BATCH", "SOLVER.CHECKPOINT_PERIOD",
             "MODEL.ROI_HEADS.NUM_CLASSES", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
             "TEST.DETECTIONS_PER_IMAGE", "MODEL.RPN.POST_NMS_TOPK_TEST")
_NON_NEGATIVE = ("DATALOADER.NUM_WORKERS", "TEST.EVAL_PERIOD", "SOLVER.WARMUP_ITERS")


def _check_values(cfg: CfgNode) -> None:
    """Counts that must be positive (or not negative), and a positive learning rate."""
    for keys, low in ((_POSITIVE, 1), (_NON_NEGATIVE, 0)):
        for key in keys:
            node = cfg
            for part in key.split("."):
                node = node[part]
            if node < low:
                raise UserInputError(f"{key} is {node}; it must be at least {low}")
    if not cfg.SOLVER.BASE_LR > 0:
        raise UserInputError(f"SOLVER.BASE_LR is {cfg.SOLVER.BASE_LR}; it must be positive")
    if cfg.MODEL.BACKBONE.COMPILE:
        check_compile_backend(cfg.MODEL.BACKBONE.COMPILE_BACKEND, "MODEL.BACKBONE.COMPILE_BACKEND")


CHECKPOINT_NAMES = r"model_\w+\.pth"  # what detectron2's PeriodicCheckpointer writes


def pretraining_target(cfg: CfgNode) -> dict:
    """What a config feeds its backbone's weights (see c3_dense.convert.pretraining_record)."""
    c3 = None
    if "build_c3_" in cfg.MODEL.BACKBONE.NAME or cfg.MODEL.ROI_HEADS.NAME == "C3Res5ROIHeads":
        options = check_c3_options(**next(iter(c3_block_kwargs(cfg).values())))
        c3 = {k: options[k] for k in ("include_self", "final_relu", "mode")}
    return {"rgb": cfg.INPUT.FORMAT == "RGB", "mean": list(cfg.MODEL.PIXEL_MEAN),
            "std": list(cfg.MODEL.PIXEL_STD), "stride_in_1x1": cfg.MODEL.RESNETS.STRIDE_IN_1X1,
            "c3": c3}


def check_pretraining(cfg: CfgNode, record: dict, source: str) -> None:
    """Refuse a config that feeds converted weights other input than they were trained on, or
    runs another C3 block (UserInputError naming the keys to set)."""
    misfit = pretraining_misfit(record, pretraining_target(cfg), {
        "rgb": lambda v: f"INPUT.FORMAT {'RGB' if v else 'BGR'}",
        "mean": lambda v: f"MODEL.PIXEL_MEAN {str(v).replace(' ', '')}",
        "std": lambda v: f"MODEL.PIXEL_STD {str(v).replace(' ', '')}",
        "stride_in_1x1": lambda v: "MODEL.RESNETS.STRIDE_IN_1X1 False",
        "c3.include_self": lambda v: f"MODEL.C3.INCLUDE_SELF {v}",
        "c3.final_relu": lambda v: f"MODEL.C3.FINAL_RELU {v}",
        "c3.mode": lambda v: f"MODEL.C3.SPATIAL_MODE {v}"}, lambda form: f"MODEL.C3.FORM {form}")
    if misfit:
        raise UserInputError(f"weights {source} were {misfit} (the _in1k configs do)")


def finished_run_files(output_dir: str):
    """Checkpoints of an earlier run in ``output_dir`` (what training there would overwrite)."""
    return run_checkpoints(output_dir, CHECKPOINT_NAMES)


def start_metrics_anew(output_dir: str) -> bool:
    """Remove ``output_dir/metrics.json`` of an earlier run (detectron2 appends to it, so a run
    trained over another would continue the earlier one's records); True if there was one.
    Checkpoints are left: the new run overwrites them by name."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.isfile(path):
        return False
    os.remove(path)
    return True


class C3Checkpointer(DetectionCheckpointer):
    """DetectionCheckpointer that

    * reads ``.pkl`` weights with a restricted unpickler (never runs code from a file) and
      ``.pth`` with torch's ``weights_only`` loader;
    * with ``cfg`` (training), refuses converted classifier weights that the config would feed
      other input or run through another C3 block than they were trained with (the record
      the converter writes into the file);
    * accepts a plain ResNet's weights for a C3/SE model (only the new blocks' keys missing,
      logged once by detectron2) but refuses weights of another architecture: tensors of
      other shapes, missing trunk tensors, or tensors this model does not have (e.g. a C3
      checkpoint under a plain config);
    * resumes from the newest checkpoint that loads when the newest one is truncated or
      ``last_checkpoint`` is empty, and says so;
    * with ``complete=True`` (evaluation, inference) refuses weights that lack any of the
      model's tensors: no half-loaded model is evaluated; a resumed run's checkpoint must be
      complete too (another model's checkpoint named by ``last_checkpoint`` is one error);
    * writes each checkpoint whole or not at all (a full disk or Ctrl-C mid-write leaves no
      file under its name, and ``last_checkpoint`` keeps naming the last complete one).
    """

    def __init__(self, model, save_dir: str = "", *, complete: bool = False,
                 cfg: Optional[CfgNode] = None, **checkpointables):
        super().__init__(model, save_dir, **checkpointables)
        self.complete = complete
        self.cfg = cfg  # the config that fine-tunes converted weights (their record is checked)

    # _load_file, _torch_load and _load_model are fvcore Checkpointer's override points for
    # file formats and loading (its docstrings invite subclasses; DetectionCheckpointer is one).
    def _load_file(self, filename):
        if filename.endswith(".pkl"):
            with open(filename, "rb") as f:
                data = load_weights_pickle(f, filename)
            if not isinstance(data, dict):
                raise UnreadableWeightsFile(f"weights file {filename} holds no dict of weights")
            if "model" in data and "__author__" in data:  # detectron2's own .pkl format
                return data
            blobs = data.get("blobs", data)  # MSRA/Caffe2: detection files keep them in "blobs"
            return {"model": {k: v for k, v in blobs.items() if not k.endswith("_momentum")},
                    "__author__": "Caffe2", "matching_heuristics": True}
        if filename.endswith(".pyth"):
            raise UserInputError(f"weights file {filename}: pycls .pyth files are not supported "
                                 "here; convert it to a .pth state dict")
        return super()._load_file(filename)

    def _torch_load(self, f):
        loaded = load_torch_file(f)
        if checkpoint_origin(loaded) == "mmengine":
            raise UserInputError(
                f"weights file {f} is an mmengine (mmseg/mmpretrain) checkpoint, not a "
                "detectron2 one; turn a classification checkpoint into detectron2 weights with "
                "tools/convert_weights.py CKPT OUT.pkl --to detectron2")
        return loaded

    def _load_model(self, checkpoint):
        # ImageNet files (matched by name heuristics) also hold a classifier (MSRA: fc1000;
        # detectron2's torchvision converter: stem.fc).
        classification_file = bool(checkpoint.get("matching_heuristics", False))
        source = getattr(self, "_c3_source", "the checkpoint")
        if self.cfg is not None and checkpoint.get("pretraining"):  # written by the converter
            check_pretraining(self.cfg, checkpoint["pretraining"], source)
        own = self.model.state_dict()
        if isinstance(checkpoint.get("model"), dict):
            upgraded = upgrade_se_keys(own, checkpoint["model"])
            if list(upgraded) != list(checkpoint["model"]):
                logger.warning("weights %s: SE tensors renamed from this package's earlier keys "
                               "(<block>.se.*) to <block>.conv3.activation.* (conv2 in R-18/34)",
                               source)
                checkpoint["model"] = upgraded
        c3 = describe_c3_misfit(own, checkpoint.get("model", {}))
        if c3:  # same architecture, other C3 options: name the fix, load nothing
            windows = windows_of_weights(own, checkpoint["model"])
            fix = (f"set MODEL.C3.WINDOWS {windows}" if windows else "set MODEL.C3.WINDOWS "
                   "and MODEL.C3.REDUCTION to those the weights were trained with")
            raise UserInputError(f"weights {source} do not fit this model: {c3}; {fix}")
        incompatible = super()._load_model(checkpoint)
        if incompatible is None:
            return incompatible
        shapes = [k for k, *_ in incompatible.incorrect_shapes if not is_new_block_key(k)]
        if shapes:
            raise UserInputError(
                f"weights {source} do not fit this model: {len(shapes)} tensors have other "
                f"shapes (e.g. {shapes[0]}); use weights of the same architecture "
                "(MODEL.RESNETS.DEPTH, C4/FPN, number of classes for a full detector)")
        unexpected = [k for k in incompatible.unexpected_keys
                      if not classification_file or is_new_block_key(k)]
        if unexpected:
            extra = [k for k in unexpected if is_new_block_key(k)]
            what = (f"its C3/SE blocks (e.g. {extra[0]}) are not in this model - use the "
                    "config it was trained with (the _c3/_se one)" if extra else
                    f"{len(unexpected)} of its tensors are not in this model (e.g. "
                    f"{unexpected[0]}) - use weights of the same architecture")
            raise UserInputError(f"weights {source} do not fit this model: {what}")
        model_keys = [k for k in self.model.state_dict() if _TRUNK_KEY.search(k)
                      and not is_new_block_key(k)]
        missing = [k for k in incompatible.missing_keys if _TRUNK_KEY.search(k)
                   and not is_new_block_key(k)]
        if model_keys and missing:
            what = ("none of this model's ResNet parameters" if len(missing) == len(model_keys)
                    else f"{len(missing)} of this model's {len(model_keys)} ResNet parameters "
                         f"are missing (e.g. {missing[0]})")
            raise UserInputError(f"weights {source} do not fit this model: {what}; use weights "
                                 "of the same ResNet depth")
        if self.complete and incompatible.missing_keys:
            missing = incompatible.missing_keys
            need = ("" if getattr(self, "_resuming", False) else
                    "; evaluation and inference need the checkpoint that training wrote for "
                    "this config (model_final.pth), not ImageNet or another model's weights")
            raise UserInputError(f"weights {source} lack {len(missing)} of this model's tensors "
                                 f"(e.g. {missing[0]}){need}")
        return incompatible

    # save and tag_last_checkpoint are fvcore's public methods; written here through
    # write_whole instead of an open file (which a full disk or Ctrl-C leaves half-written).
    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict(),
                **{key: obj.state_dict() for key, obj in self.checkpointables.items()},
                **kwargs}
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info("Saving checkpoint to %s", path)
        write_whole(path, torch_bytes(data), self.resume_advice(), stopped=True)
        self.tag_last_checkpoint(os.path.basename(path))

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        write_whole(os.path.join(self.save_dir, "last_checkpoint"),
                    last_filename_basename.encode(), self.resume_advice(), stopped=True)

    def last_complete(self) -> str:
        """The run's last complete checkpoint (what ``last_checkpoint`` names), or ""."""
        return self.get_checkpoint_file() if self.has_checkpoint() else ""

    def resume_advice(self) -> str:
        return resume_advice(self.last_complete())

    def load(self, path, *args, **kwargs):
        self._c3_source = path
        if path and os.path.isdir(path):
            raise UserInputError(f"weights file {path} is a folder; set MODEL.WEIGHTS to a "
                                 "checkpoint file (.pth/.pkl) in it")
        if path and not os.path.exists(path) and "://" not in path:
            raise UserInputError(f"weights file {path} not found; set MODEL.WEIGHTS to a local "
                                 "checkpoint (.pth/.pkl) or to \"\" to start from scratch")
        return super().load(path, *args, **kwargs)

    def _resume_from(self, path: str):
        """Load a run's checkpoint whole (model, optimizer, scheduler, iteration): it must be
        this model's, every tensor of it, and its training state must fit."""
        complete, self.complete, self._resuming = self.complete, True, True
        try:
            return self.load(path)
        except UserInputError as exc:
            raise UserInputError(f"cannot resume from {path}: {exc}; resume with the config "
                                 "that wrote it, or train anew in another OUTPUT_DIR "
                                 "(or --overwrite)") from None
        except (ValueError, KeyError, RuntimeError) as exc:  # the optimizer's or scheduler's
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserInputError(f"cannot resume from {path}: its training state does not fit "
                                 f"this run ({first}); resume with the config that wrote it, "
                                 "or train anew in another OUTPUT_DIR (or --overwrite)") from None
        finally:
            self.complete, self._resuming = complete, False

    def resume_or_load(self, path, *, resume=True):
        if not resume:
            return self.load(path, checkpointables=[])
        named = self.get_checkpoint_file() if self.has_checkpoint() else ""
        # Each file is read whole first: nothing is loaded from one that cannot be read.
        found = first_readable(resume_candidates(self.save_dir, named, r"model_(\d+|final)\.pth"),
                               logger)
        if found:
            return self._resume_from(found[0])
        if self.has_checkpoint():
            logger.warning("resume: no readable checkpoint in %s; starting from %s",
                           self.save_dir, path or "scratch")
        return self.load(path, checkpointables=[])


def build_evaluator(cfg: CfgNode, dataset_name: str, output_folder: Optional[str] = None):
    """The evaluator that the data set's ``evaluator_type`` names (VOC: 11-point AP for 2007;
    COCO: pycocotools' COCOeval)."""
    meta = MetadataCatalog.get(dataset_name)
    kind = getattr(meta, "evaluator_type", None)
    if kind is None and hasattr(meta, "year") and hasattr(meta, "dirname"):
        kind = "pascal_voc"  # registered with register_pascal_voc, which sets no type
    if kind == "pascal_voc":
        return PascalVOCDetectionEvaluator(dataset_name)
    if kind == "coco":
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        # use_fast_impl=False: the official pycocotools path (the fast one needs compiled ops).
        return COCOEvaluator(dataset_name, output_dir=output_folder, use_fast_impl=False)
    raise UserInputError(f"data set {dataset_name!r} has evaluator_type {kind!r}; "
                         "only 'pascal_voc' and 'coco' detection are supported")


class ProgressEvaluator(DatasetEvaluator):
    """``evaluator`` with a line of images done, the total and the time left every
    ``C3_PROGRESS_SECONDS`` (default 10): detectron2's own "Inference done" lines start only
    after its warm-up images (c3_dense.progress). Per process; only the main process speaks."""

    def __init__(self, evaluator: DatasetEvaluator, dataset_name: str):
        self.evaluator, self.dataset_name = evaluator, dataset_name
        self.total = -(-len(DatasetCatalog.get(dataset_name)) // comm.get_world_size())

    def reset(self):
        self.evaluator.reset()
        self.pace, self.done = Pace(self.total), 0

    def process(self, inputs, outputs):
        self.evaluator.process(inputs, outputs)
        self.done += len(inputs)
        if comm.is_main_process() and self.pace.due() and self.done < self.total:
            progress_logger.info("progress: inference on %s, %d/%d images, eta %s",
                                 self.dataset_name, self.done, self.total,
                                 self.pace.eta(self.done))
            self.pace.said()

    def evaluate(self):
        return self.evaluator.evaluate()


class _ReportedByTheCommandLine(logging.Filter):
    """Drops detectron2's "Exception during training" traceback of a UserInputError (bad data
    met in training, a full disk): the command line reports it as its one error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, UserInputError)


class Trainer(DefaultTrainer):
    """DefaultTrainer with the evaluator by data set type, DDP on CPU processes, the checking
    checkpointer, batches that survive a restart, a disk checked for room before training,
    and a run that stops cleanly (a full disk, Ctrl-C): nothing more written, one line saying
    where it stopped."""

    def __init__(self, cfg: CfgNode):
        # DefaultTrainer's constructor, step by step, for two differences: DDP gets no device
        # ids on a machine without CUDA (detectron2 passes [local rank], which DDP refuses for
        # CPU modules; CPU processes then train with gloo), and the checkpointer is ours.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = self.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        ddp_options = {} if torch.cuda.is_available() else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_options)
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(
            model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = C3Checkpointer(model, cfg.OUTPUT_DIR, cfg=cfg,
                                           trainer=weakref.proxy(self))
        self.start_iter, self.max_iter, self.cfg = 0, cfg.SOLVER.MAX_ITER, cfg
        self.register_hooks(self.build_hooks())
        loop_logger = logging.getLogger("detectron2.engine.train_loop")
        if not any(isinstance(f, _ReportedByTheCommandLine) for f in loop_logger.filters):
            loop_logger.addFilter(_ReportedByTheCommandLine())

    def train(self):
        if comm.is_main_process():
            check_room(self.cfg.OUTPUT_DIR, checkpoint_size(self.model, self.optimizer),
                       "free space on that disk or set another OUTPUT_DIR")
        try:
            return super().train()
        except KeyboardInterrupt:
            raise run_interrupted(self.iter, self.max_iter,
                                  self.checkpointer.last_complete()) from None
        except OSError as exc:
            if is_disk_full(exc):  # a log or metrics file (checkpoints say so themselves)
                raise disk_full_stop(exc, self.cfg.OUTPUT_DIR,
                                     self.checkpointer.resume_advice()) from None
            raise

    def after_train(self):
        # TrainerBase.train calls this in a `finally`, so also after a failed checkpoint
        # write or Ctrl-C (sys.exc_info() then holds the exception): the run then writes
        # nothing more (no final evaluation, no metrics of an unfinished run) and is
        # continued from its last complete checkpoint.
        if sys.exc_info()[0] is not None:
            return
        super().after_train()

    @classmethod
    def build_model(cls, cfg):
        model = super().build_model(cfg)
        if cfg.MODEL.BACKBONE.COMPILE:
            model.backbone.compile(backend=cfg.MODEL.BACKBONE.COMPILE_BACKEND)
            logger.info("backbone compiled with torch.compile (backend %s); the first "
                        "iterations include the compilation", cfg.MODEL.BACKBONE.COMPILE_BACKEND)
        return model

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        return ProgressEvaluator(build_evaluator(cfg, dataset_name, output_folder),
                                 dataset_name)

    @classmethod
    def build_train_loader(cls, cfg):
        """Batches that depend only on the iteration (see loader.py), so --resume continues
        with exactly the batches the uninterrupted run would see. Samplers other than
        TrainingSampler use detectron2's own loader."""
        if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler" or cfg.SEED < 0:
            logger.warning("training data: detectron2's own loader (SAMPLER_TRAIN %s, SEED %d); "
                           "a resumed run will not see the same batches",
                           cfg.DATALOADER.SAMPLER_TRAIN, cfg.SEED)
            return super().build_train_loader(cfg)
        dataset_dicts = get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
            min_keypoints=(cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE
                           if cfg.MODEL.KEYPOINT_ON else 0),
            proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None)
        return ResumableTrainLoader(dataset_dicts, DatasetMapper(cfg, True),
                                    total_batch_size=cfg.SOLVER.IMS_PER_BATCH, seed=cfg.SEED,
                                    aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
                                    num_workers=cfg.DATALOADER.NUM_WORKERS)

    def build_hooks(self):
        hooks = super().build_hooks()
        if self.cfg.SEED >= 0:
            hooks.insert(0, IterationSeedHook(self.cfg.SEED))
        if comm.is_main_process():
            hooks.append(ProgressHook())
        return hooks


class ProgressHook(HookBase):
    """A line with the iteration, the total, the time left and the latest loss every
    ``C3_PROGRESS_SECONDS`` (default 10), besides detectron2's metrics, which it writes every
    20 iterations, more than a minute apart on a CPU (c3_dense.progress)."""

    def before_train(self):
        self.pace = Pace(self.trainer.max_iter)
        self.pace.start(self.trainer.start_iter)

    def after_step(self):
        done = self.trainer.iter + 1
        if not self.pace.due() or done >= self.trainer.max_iter:
            return
        loss = self.trainer.storage.history("total_loss").latest() \
            if "total_loss" in self.trainer.storage.histories() else None
        progress_logger.info("progress: iteration %d/%d, eta %s%s", done,
                             self.trainer.max_iter, self.pace.eta(done),
                             "" if loss is None else f", total_loss {loss:.4g}")
        self.pace.said()


def run_seed(cfg: CfgNode, resume: bool) -> int:
    """The seed of a training run. Its data order must survive a restart, so SEED < 0
    (detectron2's "random") becomes a drawn seed, which default_setup writes to the run's
    config.yaml; on --resume the seed in the run's config.yaml is taken back."""
    if cfg.SEED >= 0:
        return cfg.SEED
    saved = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    if resume and os.path.isfile(saved):
        try:
            seed = int(CfgNode.load_yaml_with_base(saved).get("SEED", -1))
        except Exception:  # an unreadable config.yaml: draw a new seed
            seed = -1
        if seed >= 0:
            return seed
    return int.from_bytes(os.urandom(4), "big") % (2 ** 31 - 1)


def load_model(cfg: CfgNode, weights: Optional[str] = None):
    """Build the model of ``cfg`` and load ``weights`` (default MODEL.WEIGHTS) for evaluation
    or inference: checked, and complete (every tensor of the model in the file). Empty
    weights leave the model as initialised (the untrained baseline)."""
    model = Trainer.build_model(cfg)
    C3Checkpointer(model, save_dir=cfg.OUTPUT_DIR, complete=True).load(weights or cfg.MODEL.WEIGHTS)
    return model


def per_dataset(cfg: CfgNode, results: Optional[Dict]) -> Dict:
    """detectron2 drops the data set level when there is one test set; put it back."""
    if results and "bbox" in results:
        return OrderedDict({cfg.DATASETS.TEST[0]: results})
    return results or OrderedDict()


def summarize(results: Dict) -> Dict[str, Dict[str, float]]:
    """{dataset: {AP, AP50, AP75[, APs, APm, APl]}} from per-data-set results."""
    keep = ("AP", "AP50", "AP75", "APs", "APm", "APl")
    return {name: {k: float(v) for k, v in res.get("bbox", {}).items() if k in keep}
            for name, res in (results or {}).items()}


def write_metrics(output_dir: str, results: Dict, filename: str) -> str:
    """Write results as JSON (main process only) and return the path."""
    path = os.path.join(output_dir, filename)
    if comm.is_main_process():
        write_json(path, {"summary": summarize(results), "results": results})
    return path


def evaluate(cfg: CfgNode, model) -> OrderedDict:
    """Evaluate ``model`` on every data set of DATASETS.TEST (checked before, by
    :func:`check_datasets`)."""
    return per_dataset(cfg, Trainer.test(cfg, model))


def rescore_predictions(cfg: CfgNode, predictions: str, dataset_name: Optional[str] = None):
    """COCO AP of a COCO-format results file against the config's (first) test set."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from detectron2.data.datasets.coco import convert_to_coco_json

    name = dataset_name or cfg.DATASETS.TEST[0]
    check_dataset(name)
    try:
        with open(predictions) as f:
            detections = json.load(f)
    except FileNotFoundError:
        raise UserInputError(f"predictions file {predictions} not found") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"predictions file {predictions} is not valid JSON ({exc})") from None
    if not isinstance(detections, list) or not all(
            isinstance(d, dict) and {"image_id", "category_id", "bbox", "score"} <= set(d)
            for d in detections):
        raise UserInputError(f"{predictions} is not a COCO results file: expected a list of "
                             "{image_id, category_id, bbox, score}")
    meta = MetadataCatalog.get(name)
    gt_file = getattr(meta, "json_file", None)
    if gt_file is None:  # e.g. VOC: detectron2's COCO view of it (contiguous category ids)
        gt_file = os.path.join(cfg.OUTPUT_DIR, f"{name}_coco_format.json")
        convert_to_coco_json(name, gt_file, allow_cached=True)
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        coco_gt = COCO(gt_file)
    # pycocotools fails on unknown image ids (an assertion) and scores detections of unknown
    # categories as nothing (silently): both mean the results are of another data set.
    for field, known, what in (("image_id", coco_gt.getImgIds(), "images"),
                               ("category_id", coco_gt.getCatIds(), "categories")):
        unknown = sorted({d[field] for d in detections} - set(known), key=str)
        if unknown:
            raise UserInputError(
                f"{predictions}: {len(unknown)} {field}s are not among {name}'s {what} (e.g. "
                f"{unknown[0]}; it has {len(known)}, ids {min(known)}..{max(known)}); score "
                "results made on this test set with its ids")
    # As detectron2's COCOEvaluator: NaN where COCOeval has nothing to score (no detections,
    # or -1 for an empty area range).
    if not detections:
        stats = [float("nan")] * 6
    else:
        coco_dt = coco_gt.loadRes(detections)
        coco_eval = COCOeval(coco_gt, coco_dt, "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
        stats = [float(s) * 100 if s >= 0 else float("nan") for s in coco_eval.stats[:6]]
    return OrderedDict({name: {"bbox": dict(zip(("AP", "AP50", "AP75", "APs", "APm", "APl"),
                                                stats))}})
