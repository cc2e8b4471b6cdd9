"""The training command line OpenMMLab's tools/train.py have (config, --work-dir, --resume,
--amp, --cfg-options, --launcher), shared by tools/train_seg.py and tools/train_cls.py.
mmengine and the adapters are imported inside the command (a missing one is one error
line)."""
from __future__ import annotations

import importlib
import os
from typing import Optional, Sequence

from c3_dense.errors import CliParser, resume_command, run_cli


def train_parser(description: str, example_option: str) -> CliParser:
    from mmengine.config import DictAction

    ap = CliParser(description=description)
    ap.add_argument("config", help="train config file path")
    ap.add_argument("--work-dir", help="the dir to save logs and models")
    ap.add_argument("--resume", action="store_true",
                    help="resume from the latest checkpoint in the work_dir automatically")
    ap.add_argument("--amp", action="store_true", help="enable automatic-mixed-precision training")
    ap.add_argument("--overwrite", action="store_true",
                    help="train into a work_dir that already holds checkpoints")
    ap.add_argument("--cfg-options", nargs="+", action=DictAction,
                    help=f"override settings in the config, key=value (e.g. {example_option})")
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                    help="job launcher")
    ap.add_argument("--local_rank", "--local-rank", type=int, default=0)
    return ap


def train_main(description: str, engine: str, example_option: str,
               argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line and train with ``engine`` (the adapter's engine module, e.g.
    ``c3_dense.mmseg.engine``: its ``load_config`` and ``train``)."""
    def body():
        args = train_parser(description, example_option).parse_args(argv)
        if "LOCAL_RANK" not in os.environ:
            os.environ["LOCAL_RANK"] = str(args.local_rank)
        module = importlib.import_module(engine)
        module.train(module.load_config(args.config, args.cfg_options, args.work_dir),
                     args.config, resume=args.resume, amp=args.amp, launcher=args.launcher,
                     overwrite=args.overwrite)

    return run_cli(body, resume=lambda: resume_command(argv))
