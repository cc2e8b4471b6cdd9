"""Train one of the paper's CIFAR-100 tables and print our numbers beside the paper's.

    python tools/paper_table.py cifar100 --data-root data/cifar100            # 3 × 3 × 3 seeds
    python tools/paper_table.py cifar100 --depths 20 56 110 wrn --seeds 1 2 3 --gpus 4
    python tools/paper_table.py ablation --data-root data/cifar100            # full/enc_dec/message
    python tools/paper_table.py depth --depths 62 74 86 98 110                # C3 saves depth
    python tools/paper_table.py cifar100 --demo-data --depths 20 --seeds 0 1 --epochs 1  # here
    python tools/paper_table.py cifar100 --form paper ...   # the C3 block of the paper's figure

Each network × variant × seed trains with the authors' recipe (configs/mmpretrain/cifar100:
160 epochs, batch 128) into WORK_DIR/<network>_seed<k>; rerunning the command keeps finished
runs and resumes unfinished ones. C3 runs use the block as the authors' final code has it
(``--form authors``, the default: the code that made the paper's tables; the ``_c3-authors``
configs) or as the paper's figure draws it (``--form paper``: the ``_c3`` configs). The table (Markdown, also WORK_DIR/<table>.md and .json)
gives parameters and final top-1 (mean ± std over seeds) beside the paper's. ``--demo-data``
writes a small generated set in CIFAR-100's format to WORK_DIR/data and uses it (the numbers
then say nothing about the paper; the command runs end to end in minutes on a CPU).
"""
from __future__ import annotations

import os
import sys

from c3_dense.errors import (CliParser, UserInputError, check_output_dir,
                             run_cli, summary)
from c3_dense.records import write_json

DEFAULT_VARIANTS = {"cifar100": ["plain", "se", "c3"], "ablation": ["enc_dec", "message", "full"],
                    "depth": []}
DEFAULT_DEPTHS = {"cifar100": ["20", "56", "110"], "ablation": ["20", "56", "110"],
                  "depth": ["62", "74", "86", "98", "110"]}


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    ap.add_argument("table", choices=["cifar100", "ablation", "depth"])
    ap.add_argument("--data-root", help="folder holding cifar-100-python/")
    ap.add_argument("--demo-data", action="store_true",
                    help="generate a small CIFAR-100-format set and use it (no real data)")
    ap.add_argument("--depths", nargs="+", help="ResNet depths (20, 56, 110, …) or wrn")
    ap.add_argument("--variants", nargs="+", help="plain se c3 (cifar100) or full enc_dec "
                                                  "message (ablation)")
    ap.add_argument("--form", choices=["authors", "paper"], default="authors",
                    help="the C3 block's form: the authors' code, which made the paper's "
                         "tables (default), or the paper's figure")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=160, help="the recipe's 160 by default")
    ap.add_argument("--gpus", type=int, default=1, help="GPUs per run (torchrun when > 1)")
    ap.add_argument("--work-dir", default=None, help="default work_dirs/paper_<table>")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="further overrides for every run")

    def body():
        args = ap.parse_args(argv)
        if args.epochs < 1 or args.gpus < 1:
            raise UserInputError("--epochs and --gpus must be at least 1")
        if bool(args.data_root) == args.demo_data:
            raise UserInputError("give --data-root DIR (with cifar-100-python/) or --demo-data")
        work_dir = args.work_dir or os.path.join("work_dirs", f"paper_{args.table}")
        check_output_dir(work_dir, "--work-dir")
        from c3_dense.cli.paper_grid import grid, run_grid, table

        runs = grid(args.table, args.depths or DEFAULT_DEPTHS[args.table],
                    args.variants or DEFAULT_VARIANTS[args.table], args.seeds, args.form)
        data_root = args.data_root
        if args.demo_data:
            from c3_dense.data.cifar import write_cifar100_like
            data_root = os.path.join(work_dir, "data")
            if not os.path.isdir(os.path.join(data_root, "cifar-100-python")):
                write_cifar100_like(data_root, train_per_class=10, test_per_class=2)
        results = run_grid(runs, os.path.abspath(work_dir), args.epochs,
                           os.path.abspath(data_root), args.gpus, args.cfg_options,
                           verify_md5=not args.demo_data)
        text = table(results, args.epochs)
        if args.demo_data:
            text += "\n\n(generated data: these numbers say nothing about the paper's)"
        print(text)
        with open(os.path.join(work_dir, f"{args.table}.md"), "w") as f:
            f.write(text + "\n")
        write_json(os.path.join(work_dir, f"{args.table}.json"), results)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
