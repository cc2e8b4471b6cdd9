"""Train a segmentor with mmseg's tools/train.py command line (mmengine Runner).

    python tools/train_seg.py configs/mmseg/deeplabv2/deeplabv2_r101-d8_4xb4-20k_voc12aug-512x512_c3.py
    python tools/train_seg.py CONFIG --work-dir DIR --resume --amp --cfg-options k=v ...
    python tools/train_seg.py CONFIG --work-dir DIR --overwrite    # train again into a used work_dir
    torchrun --nproc_per_node 4 tools/train_seg.py CONFIG --launcher pytorch
"""
from __future__ import annotations

import sys

from c3_dense.cli.openmmlab_train import train_main


def main(argv=None) -> int:
    return train_main(__doc__.splitlines()[0], "c3_dense.mmseg.engine",
                      example_option="model.pretrained=None", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
