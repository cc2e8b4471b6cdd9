"""MMDetection 3.x adapter (first step of the mmdet wing): C3 / SE ResNets with mmdet's own
7×7-stem ResNet, and the C3 / SE plugins, registered in mmdet's MODELS registry.

Use from a config with ``custom_imports = dict(imports=['c3_dense.mmdet'],
allow_failed_imports=False)``. Importing it also stands in for ``mmcv.ops`` when mmcv's
compiled ops are missing (mmcv-lite): nms, batched_nms and RoIAlign on torchvision's
operators, what Faster R-CNN needs (:mod:`c3_dense.openmmlab.ops_fallback`), and lets
mmengine checkpoints load under torch >= 2.6.
"""
try:
    import mmdet  # noqa: F401
except ModuleNotFoundError as exc:  # the message names the command that installs it
    from c3_dense.stack import missing_part_message
    raise ModuleNotFoundError(missing_part_message(exc.name or "mmdet") or str(exc),
                              name=exc.name) from exc

from c3_dense.openmmlab import prepare  # noqa: E402

prepare()  # before mmdet's models import mmcv.ops

from .backbones import C3ResNet, SEResNet  # noqa: E402

__all__ = ["C3ResNet", "SEResNet"]
