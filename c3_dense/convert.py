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

A block's SE is read from any of its places (torchvision ``bn3.se``, mmpretrain
``drop_path.se``, earlier versions' ``se``).

The heads (``head.*``, ``fc.*``) and ``num_batches_tracked`` counters are dropped.
"""
from __future__ import annotations

import re
from typing import Dict, Mapping

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
            out[re.sub(r"^(layer\d\.\d+)\.se\.", r"\1.se_plugin.", key)] = value
    return out
