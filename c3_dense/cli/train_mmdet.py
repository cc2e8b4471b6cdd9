"""Train a detector with mmdet's tools/train.py command line (mmengine Runner).

    python tools/train_mmdet.py configs/mmdet/faster_rcnn/faster-rcnn_r101_fpn_1x_voc07_c3.py
    python tools/train_mmdet.py CONFIG --work-dir DIR --resume --amp --cfg-options k=v ...
    python tools/train_mmdet.py CONFIG --work-dir DIR --overwrite  # train again into a used one
    torchrun --nproc_per_node 4 tools/train_mmdet.py CONFIG --launcher pytorch
"""
from __future__ import annotations

import sys

from c3_dense.cli.openmmlab_train import train_main


def main(argv=None) -> int:
    return train_main(__doc__.splitlines()[0], "c3_dense.mmdet.engine",
                      example_option="model.backbone.init_cfg=None", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
