"""mmpretrain 1.x adapter: the paper's classification backbones and the CIFAR-100 data set in
mmpretrain's registries, to pretrain C3 networks with mmengine's Runner
(``tools/train_cls.py``).

* ``C3CifarResNet``: the paper's CIFAR ResNet-20…110 and WRN-20-10, plain, SE or C3
  (``attention=``), as :mod:`c3_dense.models.cifar` builds them.
* ``C3ResNet`` / ``C3ResNetV1c``: mmpretrain's ResNet (7×7 stem, as torchvision) and
  ResNetV1c (deep stem) with C3 in front of layer2-4 (windows 28/14/7, the authors' init:
  no zero_init when training from scratch). Their layer and C3 keys (``layerN.c3.*``) are
  those of mmseg's ``C3ResNetV1c``; the deep stem's differ (mmpretrain's ConvModules), which
  ``tools/convert_weights.py --to mmseg`` renames.
* ``ResNetSE`` / ``SEResNetV1c``: the same two ResNets with SE in every block, in each
  block's ``drop_path`` slot (keys ``layerN.i.drop_path.se.*``; ``tools/convert_weights.py``
  renames them for the detectron2 / mmseg SE backbones; ``ResNetSE`` is not ``SEResNet``: that
  name is mmpretrain's own SE-ResNet, with other keys; ``ResNetV1cSE`` is the deprecated
  earlier name of ``SEResNetV1c``).
* ``LocalCIFAR100``: CIFAR-100 from the standard ``cifar-100-python/`` folder; it never
  downloads and never runs code from the pickles.

Use from a config with ``custom_imports = dict(imports=['c3_dense.mmpretrain'],
allow_failed_imports=False)``. Importing it first puts the ``mmcv.ops`` stand-in in place
(mmcv-lite) and the checkpoint allow-list (:mod:`c3_dense.openmmlab`).
"""
from c3_dense.openmmlab import prepare

prepare()  # before mmpretrain's models import mmcv.ops

try:
    import mmpretrain  # noqa: F401
except ModuleNotFoundError as exc:  # the message names the command that installs it
    from c3_dense.stack import missing_part_message
    raise ModuleNotFoundError(missing_part_message(exc.name or "mmpretrain") or str(exc),
                              name=exc.name) from exc

from .backbones import (C3CifarResNet, C3ResNet, C3ResNetV1c, ResNetSE,  # noqa: E402
                        ResNetV1cSE, SEResNetV1c)
from .datasets import LocalCIFAR100  # noqa: E402

__all__ = ["C3CifarResNet", "C3ResNet", "C3ResNetV1c", "ResNetSE", "SEResNetV1c", "ResNetV1cSE",
           "LocalCIFAR100"]
