#!/usr/bin/env python
"""Train a classifier with mmpretrain's tools/train.py command line (mmengine Runner).

    python tools/train_cls.py configs/mmpretrain/cifar100/resnet56_1xb128-160e_cifar100_c3.py
    python tools/train_cls.py CONFIG --work-dir DIR --resume --amp --cfg-options k=v ...
    python tools/train_cls.py CONFIG --work-dir DIR --overwrite    # train again into a used work_dir
    torchrun --nproc_per_node 4 tools/train_cls.py CONFIG --launcher pytorch
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.errors import CliParser, run_cli  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    ap = CliParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="train config file path")
    ap.add_argument("--work-dir", help="the dir to save logs and models")
    ap.add_argument("--resume", action="store_true",
                    help="resume from the latest checkpoint in the work_dir automatically")
    ap.add_argument("--amp", action="store_true", help="enable automatic-mixed-precision training")
    ap.add_argument("--overwrite", action="store_true",
                    help="train into a work_dir that already holds checkpoints")
    ap.add_argument("--cfg-options", nargs="+", action=DictAction,
                    help="override settings in the config, key=value (e.g. train_cfg.max_epochs=1)")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                    help="job launcher")
    ap.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = ap.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def main(argv=None) -> int:
    def body():
        args = parse_args(argv)
        from c3_dense.mmpretrain.engine import load_config, train
        train(load_config(args.config, args.cfg_options, args.work_dir), args.config,
              resume=args.resume, amp=args.amp, launcher=args.launcher, overwrite=args.overwrite)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
