"""Classification checkpoints → detection and segmentation backbones (framework-free: only
tensor dicts are renamed; nothing is imported from the frameworks).

Accepted inputs (a state dict, or a checkpoint holding one under ``state_dict`` / ``model``):

* mmpretrain classifiers trained here (``tools/train_cls.py``): keys ``backbone.*`` of
  ``ResNet`` / ``C3ResNet`` / ``ResNetSE`` (7×7 stem) or ``ResNetV1c`` / ``C3ResNetV1c`` /
  ``SEResNetV1c`` (deep stem);
* torchvision ResNets and :mod:`c3_dense.models`' ImageNet ResNets (the same names without
  the prefix: ``conv1``, ``bn1``, ``layerN.i.*``; C3 as ``layerN.c3.*``).

Outputs:

* detectron2 (7×7-stem networks only — detectron2's ResNet stem is one 7×7 convolution):
  ``stem.conv1`` (+ ``.norm``), ``resN+1.i.convK`` (+ ``.norm``), ``resN+1.i.shortcut``,
  C3 as ``resN+1.c3.*``, SE as ``resN+1.i.conv3.activation.*`` (``conv2`` in R-18/34: the
  slot after the block's last norm); BatchNorm's running statistics go to FrozenBN / BN as
  they are.
  The weights put the stride in the 3×3 convolution (torchvision's "pytorch" style): use
  ``MODEL.RESNETS.STRIDE_IN_1X1 False``.
* mmseg (deep-stem networks: mmseg's ResNetV1c): the backbone's keys, with the stem's
  ``stem.I.conv`` / ``stem.I.bn`` (mmpretrain's ConvModules) as mmseg's ``stem.3I`` /
  ``stem.3I+1`` and a block's SE as mmseg's ``se_plugin``.

* mmdet (7×7-stem networks: mmdet's ResNet, as torchvision's): the backbone's keys as they are
  (``conv1``, ``bn1``, ``layerN.i.*``, C3 as ``layerN.c3.*``), a block's SE as mmdet's
  ``se_plugin`` (c3_dense.mmdet's ``SEResNet``).

A block's SE is read from any of its places (torchvision ``bn3.se``, mmpretrain
``drop_path.se``, earlier versions' ``se``).

The heads (``head.*``, ``fc.*``) and ``num_batches_tracked`` counters are dropped.

What the weights need from a fine-tuning config travels with them: :func:`pretraining_record`
reads, from the training config that mmengine keeps in a checkpoint's meta, the input the
classifier saw (channel order, mean, std) and its C3 blocks' options; the converter writes it
into the output file, and each adapter refuses a fine-tuning config that feeds the weights
other input or runs another C3 block (:func:`pretraining_differences`), naming the keys to set.
"""
from __future__ import annotations

import ast
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .core import FORMS, check_c3_options
from .errors import UserInputError
from .weights import SE_SLOTS

Tensors = Dict[str, object]


def backbone_state(checkpoint: Mapping, source: str = "the checkpoint") -> Tensors:
    """The backbone's tensors of a classification checkpoint, without prefix or classifier."""
    state = checkpoint
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state:
        raise UserInputError(f"{source} holds no state dict")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):  # an mmpretrain classifier
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    state = {k: v for k, v in state.items()
             if not k.startswith(("fc.", "head.", "neck.")) and not k.endswith("num_batches_tracked")}
    if not any(k.startswith("layer1.") for k in state):
        raise UserInputError(f"{source} is not a ResNet classification checkpoint (no layer1.* "
                             "keys); convert a torchvision, mmpretrain or c3_dense ResNet")
    return {_SE_SLOT.sub(r"\1.se.", k): v for k, v in state.items()}


# A block's SE sits in each framework's slot after the block's last norm (weights.SE_SLOTS:
# torchvision ``layerN.i.bn3.se``, mmpretrain ``layerN.i.drop_path.se``, ...); this package's
# earlier versions wrote ``layerN.i.se``. backbone_state names them all so.
_SE_SLOT = re.compile(r"^(layer\d\.\d+)\.(?:%s)\." % "|".join(map(re.escape, SE_SLOTS)))


def stem_kind(state: Mapping) -> str:
    """"7x7" (conv1 + bn1, torchvision style) or "deep" (ResNetV1c's three 3×3 convs)."""
    if "conv1.weight" in state:
        return "7x7"
    if any(k.startswith("stem.") for k in state):
        return "deep"
    raise UserInputError("the checkpoint's backbone has neither conv1 (7×7 stem) nor stem.* "
                         "(deep stem) keys: not a ResNet")


_LAYER = re.compile(r"^layer(\d)\.(.*)$")
_BLOCK_PART = re.compile(r"^(\d+)\.(conv\d|bn\d|downsample\.0|downsample\.1|se\..*)\.?(.*)$")


def to_detectron2(state: Mapping, source: str = "the checkpoint") -> Tensors:
    """detectron2 ResNet keys for a 7×7-stem backbone (see the module docstring)."""
    if stem_kind(state) != "7x7":
        raise UserInputError(f"{source} has a deep (ResNetV1c) stem, which detectron2's ResNet "
                             "does not have; convert it for mmseg (--to mmseg), or pretrain the "
                             "7×7-stem ResNet (configs/mmpretrain/imagenet/resnet*_c3.py)")
    out: Tensors = {}
    for key, value in state.items():
        if key.startswith("conv1."):
            out["stem.conv1." + key[len("conv1."):]] = value
            continue
        if key.startswith("bn1."):
            out["stem.conv1.norm." + key[len("bn1."):]] = value
            continue
        match = _LAYER.match(key)
        if not match:
            raise UserInputError(f"{source}: key {key} is not part of a ResNet backbone")
        stage, rest = f"res{int(match.group(1)) + 1}", match.group(2)
        if rest.startswith("c3."):
            out[f"{stage}.{rest}"] = value
            continue
        part = _BLOCK_PART.match(rest)
        if not part:
            raise UserInputError(f"{source}: key {key} is not part of a ResNet block")
        block, name, tail = part.groups()
        if name.startswith("conv"):
            new = f"{name}.{tail}"
        elif name.startswith("bn"):
            new = f"conv{name[2:]}.norm.{tail}"
        elif name == "downsample.0":
            new = f"shortcut.{tail}"
        elif name == "downsample.1":
            new = f"shortcut.norm.{tail}"
        else:  # se.*: detectron2's slot is the activation of the block's last convolution
            last = "conv3" if f"layer{match.group(1)}.{block}.conv3.weight" in state else "conv2"
            new = f"{last}.activation.{name[len('se.'):]}" + (f".{tail}" if tail else "")
        out[f"{stage}.{block}.{new}"] = value
    return out


_DEEP_STEM = re.compile(r"^stem\.(\d)\.(conv|bn)\.(.*)$")
_SE_IN_BLOCK = re.compile(r"^(layer\d\.\d+)\.se\.")  # a block's SE -> OpenMMLab's se_plugin


def to_mmseg(state: Mapping, source: str = "the checkpoint") -> Tensors:
    """mmseg ResNetV1c keys for a deep-stem backbone (see the module docstring)."""
    if stem_kind(state) != "deep":
        raise UserInputError(f"{source} has a 7×7 stem; mmseg's ResNetV1c (the DeepLabv2 "
                             "configs' backbone) has the deep stem: pretrain "
                             "configs/mmpretrain/imagenet/resnetv1c*_c3.py")
    out: Tensors = {}
    for key, value in state.items():
        match = _DEEP_STEM.match(key)
        if match:
            index = 3 * int(match.group(1)) + (0 if match.group(2) == "conv" else 1)
            out[f"stem.{index}.{match.group(3)}"] = value
        else:  # SE in a block is mmseg's after_conv3 SEPlugin
            out[_SE_IN_BLOCK.sub(r"\1.se_plugin.", key)] = value
    return out


def to_mmdet(state: Mapping, source: str = "the checkpoint") -> Tensors:
    """mmdet ResNet keys for a 7×7-stem backbone (see the module docstring)."""
    if stem_kind(state) != "7x7":
        raise UserInputError(f"{source} has a deep (ResNetV1c) stem; mmdet's ResNet (the "
                             "Faster R-CNN configs' backbone) has the 7×7 stem: pretrain "
                             "configs/mmpretrain/imagenet/resnet*_c3.py")
    return {_SE_IN_BLOCK.sub(r"\1.se_plugin.", k): v for k, v in state.items()}


TARGETS = {"detectron2": to_detectron2, "mmdet": to_mmdet, "mmseg": to_mmseg}


# ------------------------------------------------------------------ what the weights saw
def _literal(node: ast.AST) -> Any:
    """A config value written as Python (mmengine's pretty_text): dicts, ``dict(...)`` calls,
    lists, tuples and constants; anything else (a name, a call) is None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" \
            and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None


def config_values(text: str) -> Dict[str, Any]:
    """The top-level assignments of a config's text (as mmengine keeps it in a checkpoint's
    meta), read without running it."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    return {node.targets[0].id: _literal(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)}


def c3_options_of(backbone: Mapping) -> Optional[Dict[str, Any]]:
    """The C3 options that change what a block computes (not its weights' shapes): j = i
    among the senders, the final ReLU, the spatial mode; None for a backbone without C3."""
    kind = str(backbone.get("type", ""))
    if "C3" not in kind and backbone.get("attention") != "c3":
        return None
    keys = ("form", "include_self", "final_relu", "mode")
    options = {k: v for k, v in (backbone.get("c3_cfg") or {}).items() if k in keys}
    options.update({k: backbone[k] for k in keys if k in backbone})  # the CIFAR backbone's
    options = {k: v for k, v in options.items() if v is not None}  # None: the default
    resolved = check_c3_options(**options)  # the block's own resolution of the form
    return {k: resolved[k] for k in ("include_self", "final_relu", "mode")}


def pretraining_record(checkpoint: Any) -> Optional[Dict[str, Any]]:
    """What a classifier's weights saw and ran, read from the training config an mmengine
    checkpoint keeps in its meta: ``rgb`` (channel order), ``mean``, ``std`` (of the 0-255
    pixels), ``c3`` (:func:`c3_options_of`) and ``config``; None when the checkpoint does
    not say (torchvision's, c3_dense.models')."""
    meta = checkpoint.get("meta") if isinstance(checkpoint, Mapping) else None
    text = meta.get("cfg") if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        return None
    values = config_values(text)
    model = values.get("model") if isinstance(values.get("model"), dict) else {}
    # The model's own preprocessor, else the top-level one (the Runner's order).
    pre = model.get("data_preprocessor") or values.get("data_preprocessor") or {}
    if not isinstance(pre, dict) or pre.get("mean") is None or pre.get("std") is None:
        return None
    rgb = pre.get("to_rgb", pre.get("bgr_to_rgb", False))
    return {"rgb": bool(rgb), "mean": [float(v) for v in pre["mean"]],
            "std": [float(v) for v in pre["std"]],
            "c3": c3_options_of(model.get("backbone") or {}),
            "config": str(meta.get("experiment_name") or "")}


def pretraining_differences(record: Mapping, target: Mapping) -> List[Tuple[str, Any, Any]]:
    """(what, the weights' value, the config's value) for every way a fine-tuning config
    (``target``: ``rgb``, ``mean``, ``std``, ``c3`` as in :func:`pretraining_record`, and
    ``stride_in_1x1`` where it applies) differs from what the weights were trained with."""
    found = []
    if record.get("rgb") is not None and bool(target["rgb"]) != bool(record["rgb"]):
        found.append(("rgb", record["rgb"], target["rgb"]))
    for key in ("mean", "std"):
        ours, theirs = record.get(key), target.get(key)
        if ours is not None and theirs is not None and (
                len(ours) != len(theirs) or any(abs(a - b) > 1e-3 for a, b in zip(ours, theirs))):
            found.append((key, list(ours), list(theirs)))
    if "stride_in_1x1" in target and target["stride_in_1x1"] is not False:
        found.append(("stride_in_1x1", False, target["stride_in_1x1"]))  # torchvision style
    c3, theirs = record.get("c3"), target.get("c3")
    if c3 and theirs:
        found += [(f"c3.{key}", c3[key], theirs[key]) for key in ("include_self", "final_relu",
                                                                  "mode")
                  if key in c3 and key in theirs and c3[key] != theirs[key]]
    return found


def form_of(options: Mapping) -> Optional[str]:
    """The name of the form whose options ``options`` (include_self, final_relu) are."""
    return next((name for name, form in FORMS.items()
                 if all(options.get(k) == v for k, v in form.items())), None)


def describe_differences(differences: List[Tuple[str, Any, Any]]) -> str:
    """The differences of :func:`pretraining_differences` in words."""
    words = {"rgb": lambda v: "RGB" if v else "BGR",
             "stride_in_1x1": lambda v: "in the 1×1" if v else "in the 3×3 convolution",
             "c3.include_self": lambda v: "j = i among the senders" if v else "j ≠ i",
             "c3.final_relu": lambda v: "ReLU(x + x̄)" if v else "x + x̄"}
    names = {"rgb": "input", "mean": "mean", "std": "std", "stride_in_1x1": "stride",
             "c3.include_self": "C3 senders", "c3.final_relu": "C3 residual",
             "c3.mode": "C3 mode"}
    return ", ".join(f"{names[what]} {words.get(what, str)(ours)} (the config: "
                     f"{words.get(what, str)(theirs)})" for what, ours, theirs in differences)


def pretraining_misfit(record: Mapping, target: Mapping,
                       fixes: Mapping[str, Callable[[Any], str]],
                       form_fix: Callable[[str], str]) -> str:
    """How a fine-tuning config (``target``) differs from what the weights (``record``) were
    trained with, and the settings that fix it ("" when nothing differs): ``fixes`` words a
    framework's setting for each difference from the weights' value; C3 senders and residual
    that together make a named form are set by that form (``form_fix``)."""
    differences = pretraining_differences(record, target)
    if not differences:
        return ""
    form = form_of(record["c3"]) if record.get("c3") else None
    by_form = ("c3.include_self", "c3.final_relu")
    named = [(what, ours) for what, ours, _ in differences]
    keys = [fixes[what](ours) for what, ours in named if not (form and what in by_form)]
    if form and any(what in by_form for what, _ in named):
        keys.append(form_fix(form))
    return (f"trained otherwise than this config runs them: {describe_differences(differences)}"
            f"; set {' '.join(keys)}")
