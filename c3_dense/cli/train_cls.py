"""Train a classifier with mmpretrain's tools/train.py command line (mmengine Runner).

    python tools/train_cls.py configs/mmpretrain/cifar100/resnet56_1xb128-160e_cifar100_c3.py
    python tools/train_cls.py CONFIG --work-dir DIR --resume --amp --cfg-options k=v ...
    python tools/train_cls.py CONFIG --work-dir DIR --overwrite    # train again into a used work_dir
    torchrun --nproc_per_node 4 tools/train_cls.py CONFIG --launcher pytorch
"""
from __future__ import annotations

import sys

from c3_dense.cli.openmmlab_train import train_main


def main(argv=None) -> int:
    return train_main(__doc__.splitlines()[0], "c3_dense.mmpretrain.engine",
                      example_option="train_cfg.max_epochs=1", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
