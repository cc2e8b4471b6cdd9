"""Driving mmengine's Runner for the OpenMMLab adapters' tools (``train_seg.py``,
``train_cls.py``, ``eval.py``): config loading, the checks every config gets, refusing to train
over a finished run, resuming from the newest readable checkpoint, refusing another model's
checkpoint, CPU processes under ``--launcher pytorch``. Each adapter's engine adds what is
particular to its framework (its registry scope, its data checks)."""
from __future__ import annotations

import copy
import difflib
import inspect
import os
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch

from c3_dense.errors import UserInputError, check_compile_backend, check_output_dir
from c3_dense import records
from c3_dense.convert import c3_options_of, pretraining_misfit
from c3_dense.files import is_disk_full
from c3_dense.stack import MODULE_PART
from c3_dense.config_files import resolve_config
from c3_dense.weights import (checkpoint_origin, describe_misfit, disk_full_stop,
                              first_readable, load_torch_file, resume_advice,
                              resume_candidates, run_checkpoints, run_interrupted,
                              run_would_overwrite, windows_of_weights)

# Top-level keys every mmengine config may hold: Runner arguments and the usual helpers.
RUNNER_KEYS = {
    "_base_", "custom_imports", "default_scope", "launcher", "tta_model", "tta_pipeline",
    "norm_cfg", "dataset_type", "data_root", "train_pipeline", "test_pipeline",
    "optimizer", "vis_backends", "work_dir", "load_from", "resume",
    "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg", "test_cfg",
    "auto_scale_lr", "optim_wrapper", "param_scheduler", "val_evaluator", "test_evaluator",
    "default_hooks", "custom_hooks", "data_preprocessor", "env_cfg", "log_processor",
    "log_level", "visualizer", "randomness", "experiment_name", "model", "model_wrapper_cfg",
    "compile",
}


def load_config(path: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None):
    """mmengine Config from ``path`` (+ ``--cfg-options``), with ``work_dir`` resolved the way
    OpenMMLab's tools do (argument > config > ./work_dirs/<config name>). ``path`` may also
    name a shipped config (:func:`c3_dense.model_zoo.get_config_file`)."""
    from mmengine.config import Config

    path = resolve_config(path)  # a file, or a shipped config's name
    try:
        cfg = Config.fromfile(path)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in MODULE_PART:
            raise  # a framework not installed: the command line names the install that fixes it
        raise UserInputError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # mmengine raises many kinds for broken configs
        raise UserInputError(f"cannot read config {path}: {type(exc).__name__}: {exc}") from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = os.path.join("work_dirs", os.path.splitext(os.path.basename(path))[0])
    return cfg


def build_in_scope(cfg, source: str, registry, scope: str):
    """Build ``cfg.model`` with ``registry`` in ``scope`` (the config's ``default_scope`` when
    it has one); a misspelled or bad argument becomes one UserInputError naming it."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope(cfg.get("default_scope", scope) or scope):
        try:
            # A copy: EncoderDecoder writes `pretrained` into its backbone's config, and the
            # Runner, which builds from the same config later, would then find it twice.
            model = copy.deepcopy(cfg.model)
            if cfg.get("data_preprocessor") is not None and hasattr(model, "setdefault"):
                # As the Runner builds it: the top-level preprocessor unless the model has one.
                model.setdefault("data_preprocessor", copy.deepcopy(cfg.data_preprocessor))
            return registry.build(model)
        except TypeError:
            unknown = unknown_argument(cfg.model, registry)
            if unknown is None:
                raise  # not a config's doing: the traceback is the report
            key, cls = unknown
            raise UserInputError(f"config error in model of {source}: {key} is not an argument "
                                 f"of {cls}; check the spelling of that key") from None
        except (KeyError, ValueError) as exc:
            raise UserInputError(f"config error in model of {source}: {exc}") from None


def unknown_argument(model_cfg, registry) -> Optional[Tuple[str, str]]:
    """The first key of a ``type=...`` dict in ``model_cfg`` (depth first) that the class the
    registry builds for it takes under no name (in its ``__init__`` or its bases'), as
    ("model.backbone.c3_windos", "C3ResNetV1c"); None when every key is some class's argument.
    Layer configs (``*_cfg``: norm, act, init) are skipped: their builders take extra keys."""
    def accepted(cls) -> Optional[set]:
        """The argument names of ``cls`` and its bases (and the ``extra_keywords`` a class
        declares it passes on, e.g. to its C3 blocks); None when one cannot be read."""
        names = set(getattr(cls, "extra_keywords", ()))
        for klass in inspect.getmro(cls):
            init = klass.__dict__.get("__init__")
            if init is not None:
                try:
                    names |= set(inspect.signature(init).parameters)
                except (TypeError, ValueError):  # a builtin's: no signature to read
                    return None
        return names

    def walk(node, path):
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                found = walk(item, f"{path}[{i}]")
                if found:
                    return found
            return None
        if not isinstance(node, dict):
            return None
        kind = node.get("type")
        cls = kind if isinstance(kind, type) else None
        if isinstance(kind, str):
            try:
                cls = registry.get(kind)
            except Exception:  # noqa: BLE001 - an unknown type is the registry's error to give
                cls = None
        if isinstance(cls, type):
            names = accepted(cls)
            for key in node:
                # _scope_: mmengine's mark on what a base config of another package built
                if names is not None and key not in ("type", "_scope_") and key not in names:
                    return f"{path}.{key}", cls.__name__
        for key, value in node.items():
            if not key.endswith("_cfg"):
                found = walk(value, f"{path}.{key}")
                if found:
                    return found
        return None

    return walk(model_cfg, "model")


def check_top_level(cfg, source: str, extra: Iterable[str] = ()) -> None:
    """A top-level key one letter away from a known one (Runner keys + ``extra``) is a typo."""
    known = RUNNER_KEYS | set(extra)
    for key in cfg.keys():
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise UserInputError(f"config key {key!r} in {source} is unknown; did you mean "
                                 f"{close[0]!r}?")


def leaf_datasets(cfg) -> Iterator[Tuple[str, dict, str]]:
    """(loader name, data set cfg, its key for --cfg-options) for every leaf data set of the
    config's loaders, through Concat/Repeat wrappers (``train_dataloader.dataset.dataset``,
    ``...datasets.1``)."""
    def leaves(ds, key):
        if ds is None:
            return
        if "datasets" in ds:
            for i, sub in enumerate(ds["datasets"]):
                yield from leaves(sub, f"{key}.datasets.{i}")
        elif "dataset" in ds:
            yield from leaves(ds["dataset"], f"{key}.dataset")
        else:
            yield ds, key
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(loader):
            for ds, key in leaves(cfg[loader].get("dataset"), f"{loader}.dataset"):
                yield loader, ds, key


def dataset_classes(ds: dict, registry, framework: str) -> Optional[List[str]]:
    """The class names of data set config ``ds``: its ``metainfo.classes``, else its class's
    (from ``registry``, ``framework``'s DATASETS); None when neither names them."""
    metainfo = ds.get("metainfo") or {}
    if metainfo.get("classes"):
        return list(metainfo["classes"])
    try:
        cls = registry.get(ds["type"])
    except KeyError:
        cls = None
    if cls is None:
        raise UserInputError(f"data set type {ds['type']!r} is not registered in {framework}; "
                             "check its spelling or add its module to custom_imports")
    classes = getattr(cls, "METAINFO", {}).get("classes")
    return list(classes) if classes else None


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_compile(cfg) -> None:
    """mmengine's ``compile`` key (True, or the keyword arguments of ``torch.compile``): its
    backend runs on this machine and its keys and mode are torch.compile's, checked before
    the work_dir is made (the Runner would compile only at the first batch)."""
    option = cfg.get("compile")
    if option is None or option is False:
        return
    if option is True:
        option = {}
    if not isinstance(option, dict):
        raise UserInputError(f"compile is {option!r}; set it to True or to a dict of "
                             "torch.compile's arguments, e.g. compile=dict(backend='inductor')")
    known = set(inspect.signature(torch.compile).parameters) - {"model"} | {"target"}
    unknown = sorted(set(option) - known)
    if unknown:
        raise UserInputError(f"compile.{unknown[0]} is not an argument of torch.compile; use "
                             f"{', '.join(sorted(known))}")
    if option.get("mode") is not None and option["mode"] not in COMPILE_MODES:
        raise UserInputError(f"compile.mode {option['mode']!r} is not a torch.compile mode; "
                             f"use one of {', '.join(COMPILE_MODES)}")
    backend = option.get("backend", "inductor")
    if isinstance(backend, str):
        check_compile_backend(backend, "compile.backend")


def check_schedule(cfg, loaders) -> None:
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
    if checkpoint_origin(ckpt) == "detectron2":
        raise UserInputError(f"checkpoint {path} is a detectron2 checkpoint, not an mmengine "
                             "(mmseg/mmpretrain) one; use a checkpoint this framework wrote, or "
                             "convert a classification checkpoint with tools/convert_weights.py")
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise UserInputError(f"checkpoint {path} holds no state_dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _misfit(own, state, allow_new_blocks: bool, otherwise: str) -> str:
    """What keeps ``state`` from fitting a model whose state dict is ``own``, with the fix
    (other C3 windows: the override; else ``otherwise``), or ""."""
    problem = describe_misfit(own, state, allow_new_blocks)
    if not problem:
        return ""
    windows = windows_of_weights(own, state)
    return f"{problem}; " + (f"set model.backbone.c3_windows={windows} (--cfg-options)"
                             if windows else otherwise)


def check_checkpoint_fits(model, path: str, allow_new_blocks: bool = False, ckpt=None) -> None:
    """Refuse a checkpoint of another model: tensors missing, of other shapes, or not in the
    model. ``allow_new_blocks``: a plain checkpoint may lack the C3/SE blocks (fine-tuning).
    ``ckpt``: the checkpoint's content, when already read."""
    problem = _misfit(model.state_dict(), checkpoint_state_dict(path, ckpt), allow_new_blocks,
                      "use the config it was trained with")
    if problem:
        raise UserInputError(f"checkpoint {path} is from another model: {problem}")


def load_checked_weights(model, path: str) -> None:
    """Load checkpoint ``path`` into ``model`` whole, after checking that it is this model's
    (read once, with the allow-listed loader): no half-loaded network."""
    if not os.path.isfile(path):
        raise UserInputError(f"checkpoint {path} not found")
    ckpt = load_torch_file(path)
    check_checkpoint_fits(model, path, ckpt=ckpt)
    model.load_state_dict(checkpoint_state_dict(path, ckpt), strict=True)


def pretrained_checkpoint(cfg) -> Optional[str]:
    """The local backbone weights the config loads at init: ``model.pretrained`` (mmseg) or
    the backbone's ``init_cfg`` of type Pretrained; None when there are none."""
    path = cfg.model.get("pretrained")
    init = (cfg.model.get("backbone") or {}).get("init_cfg") or {}
    if not path and isinstance(init, dict) and init.get("type") == "Pretrained":
        path = init.get("checkpoint")
    return path if path and "://" not in path else None


def pretraining_target(cfg) -> dict:
    """What a config feeds its backbone's weights (see c3_dense.convert.pretraining_record)."""
    pre = cfg.model.get("data_preprocessor") or cfg.get("data_preprocessor") or {}
    return {"rgb": pre.get("bgr_to_rgb", pre.get("to_rgb", False)), "mean": pre.get("mean"),
            "std": pre.get("std"), "c3": c3_options_of(cfg.model.get("backbone") or {})}


def check_pretraining(cfg, record: dict, source: str) -> None:
    """Refuse a config that feeds converted weights other input than they were trained on, or
    runs another C3 block (UserInputError naming the --cfg-options to set)."""
    misfit = pretraining_misfit(record, pretraining_target(cfg), {
        "rgb": lambda v: f"model.data_preprocessor.bgr_to_rgb={v}",
        "mean": lambda v: f"model.data_preprocessor.mean={str(v).replace(' ', '')}",
        "std": lambda v: f"model.data_preprocessor.std={str(v).replace(' ', '')}",
        "c3.include_self": lambda v: f"model.backbone.c3_cfg.include_self={v}",
        "c3.final_relu": lambda v: f"model.backbone.c3_cfg.final_relu={v}",
        "c3.mode": lambda v: f"model.backbone.c3_cfg.mode={v}"},
        lambda form: f"model.backbone.c3_cfg.form={form}")
    if misfit:
        raise UserInputError(f"weights {source} were {misfit} (--cfg-options; the _in1k "
                             "configs do)")


def check_pretrained_fits(model, cfg) -> None:
    """Backbone weights loaded at init must fit the backbone before training starts (mmengine
    would only warn about each tensor that does not fit and train on from random weights):
    the C3/SE blocks a plain ImageNet checkpoint lacks may be missing, nothing else; and the
    config must feed them the input, and run the C3 block, they were trained with (the record
    tools/convert_weights.py writes into the file)."""
    path = pretrained_checkpoint(cfg)
    backbone = getattr(model, "backbone", None)
    if not path or backbone is None or not os.path.isfile(path):
        return
    ckpt = load_torch_file(path)
    record = (ckpt.get("meta") or {}).get("pretraining") if isinstance(ckpt, dict) else None
    if isinstance(record, dict):
        check_pretraining(cfg, record, path)
    state = checkpoint_state_dict(path, ckpt)
    init = cfg.model.get("backbone", {}).get("init_cfg") or {}
    prefix = init.get("prefix") if isinstance(init, dict) else None
    if prefix:
        prefix = prefix if prefix.endswith(".") else prefix + "."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    elif any(k.startswith("backbone.") for k in state):
        raise UserInputError(f"pretrained weights {path} are a whole model's checkpoint (keys "
                             "backbone.*), not a backbone's; convert a classifier with "
                             "tools/convert_weights.py CKPT OUT.pth --to "
                             + ("mmdet" if cfg.get("default_scope") == "mmdet" else "mmseg"))
    if not hasattr(backbone, "fc"):  # a classifier's own head (torchvision's file has it)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    problem = _misfit(backbone.state_dict(), state, True, "use the config that matches the "
                      "weights (depth, stem, _c3/_se, C3 options)")
    if problem:
        raise UserInputError(f"pretrained weights {path} do not fit the backbone: {problem}")


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


def cpu_distributed(cfg, launcher: str) -> None:
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


def train(cfg, source: str, check: Callable, build: Callable, resume: bool = False,
          amp: bool = False, launcher: str = "none", overwrite: bool = False):
    """Train with mmengine's Runner the way OpenMMLab's tools/train.py do, after
    ``check(cfg, source)`` (the adapter's config checks) and ``build(cfg, source)`` (its model,
    built once up front so that a misspelled argument or another model's checkpoint is named
    before the Runner starts)."""
    from .runner import C3Runner

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
        cpu_distributed(cfg, launcher)
    check(cfg, source)
    check_compile(cfg)
    check_output_dir(cfg.work_dir, "work_dir")
    if not resume:
        for key, path in (("load_from", cfg.get("load_from")),
                          ("pretrained weights", pretrained_checkpoint(cfg))):
            if run_would_overwrite(cfg.work_dir, path, CHECKPOINT_NAMES):
                raise UserInputError(f"{key} {path} is a checkpoint in work_dir {cfg.work_dir} "
                                     "that this run would write over; copy it elsewhere "
                                     "first, or set another --work-dir")
    model = build(cfg, source)
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
    elif not cfg.resume:
        check_pretrained_fits(model, cfg)
    runner = C3Runner.from_cfg(cfg)
    try:
        runner.train()
    except KeyboardInterrupt:
        raise run_interrupted(runner.iter, runner.max_iters, runner.last_complete_checkpoint(),
                              f" (in epoch {runner.epoch + 1})" if runner.max_epochs > 1 else ""
                              ) from None
    except OSError as exc:
        if is_disk_full(exc):  # a log or last_checkpoint (checkpoints say so themselves)
            raise disk_full_stop(exc, cfg.work_dir,
                                 resume_advice(runner.last_complete_checkpoint())) from None
        raise
    return runner




def test_checkpoint(cfg, source: str, checkpoint: str, check: Callable, build: Callable):
    """Check the config's test set and that ``checkpoint`` is this model's, then test it with
    mmengine's Runner; returns (runner, metrics as floats)."""
    from mmengine.runner import Runner

    check(cfg, source, loaders=("test_dataloader",))
    check_checkpoint_fits(build(cfg, source), checkpoint)
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    from .runner import ProgressHook
    runner.register_hook(ProgressHook())  # the batches tested, by time as in training
    return runner, {k: float(v) for k, v in runner.test().items()}


def write_json(result: dict, path: str) -> str:
    return records.write_json(path, result)
