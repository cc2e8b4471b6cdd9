"""Detectron2 adapter: C3/SE ResNet backbones (C4, FPN), res5 ROI heads, config, trainer.

Importing this package registers in detectron2's registries:
``build_c3_resnet_backbone``, ``build_c3_resnet_fpn_backbone``, ``build_se_resnet_backbone``,
``build_se_resnet_fpn_backbone`` (BACKBONE_REGISTRY) and ``C3Res5ROIHeads``, ``SERes5ROIHeads``
(ROI_HEADS_REGISTRY), and the demo data sets ``c3demo_{voc,coco}_{train,test}``.
"""
try:
    import detectron2  # noqa: F401
except ModuleNotFoundError as exc:  # the message names the command that installs it
    from c3_dense.stack import missing_part_message
    raise ModuleNotFoundError(missing_part_message(exc.name or "detectron2") or str(exc),
                              name=exc.name) from exc

from .backbone import (C3Res5ROIHeads, C3ResNet, SERes5ROIHeads, add_se,
                       build_c3_resnet_backbone, build_resnet_stages,
                       build_c3_resnet_fpn_backbone, build_se_resnet_backbone,
                       build_se_resnet_fpn_backbone)
from .config import add_c3_config
from .data import check_dataset, register_demo_datasets

register_demo_datasets()

__all__ = ["add_c3_config", "C3ResNet", "C3Res5ROIHeads", "SERes5ROIHeads", "add_se",
           "build_resnet_stages",
           "build_c3_resnet_backbone", "build_c3_resnet_fpn_backbone", "build_se_resnet_backbone",
           "build_se_resnet_fpn_backbone", "register_demo_datasets", "check_dataset"]
