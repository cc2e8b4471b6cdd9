"""Print the paper-style complexity table: params (M) and FLOPs for plain / +SE / +C3.

    python tools/complexity.py                 # the CIFAR-100 table of the paper
    python tools/complexity.py --set depth     # the "C3 saves depth" model-size table
    python tools/complexity.py --set imagenet  # ResNet-18/50/101 at 224×224
    python tools/complexity.py --models cifar_resnet56 cifar_resnet56_c3 --no-flops
"""
from __future__ import annotations

import sys

from c3_dense.analysis import complexity_rows
from c3_dense.analysis.complexity import __doc__ as CONVENTION
from c3_dense.errors import CliParser, UserInputError, run_cli, summary
from c3_dense.models import list_models

SETS = {
    "cifar": [f"{b}{s}" for b in ("cifar_resnet20", "cifar_resnet56", "cifar_resnet110",
                                   "cifar_wrn20_10") for s in ("", "_se", "_c3")],
    "depth": [f"cifar_resnet{d}{s}" for d in (56, 62, 74, 86, 98, 110) for s in ("", "_c3")],
    "imagenet": [f"resnet{d}{s}" for d in (18, 50, 101) for s in ("", "_se", "_c3")],
}


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    ap.add_argument("--set", choices=sorted(SETS), default="cifar")
    ap.add_argument("--models", nargs="+", help="model names instead of a set")
    ap.add_argument("--no-flops", action="store_true", help="parameters only (fast)")
    return run_cli(lambda: print_table(ap.parse_args(argv)))


def print_table(args) -> None:
    names = args.models or SETS[args.set]
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise UserInputError(f"unknown model(s) {unknown}; see c3_dense.models.list_models()")
    rows = complexity_rows(names, flops=not args.no_flops)
    cols = list(rows[0])
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(r[c].ljust(w) for c, w in zip(cols, widths)))
    differ = [r["model"] for r in rows
              if r["paper params (M)"] not in ("-", r["params (M)"])]
    if differ:
        print(f"\nParameter counts that differ from the paper: {', '.join(differ)}. The paper's "
              "ResNet-86 gain (1.35 -> 1.41, +0.06) conflicts with the +0.07 of ResNet-62/74/98/110; "
              "no C3 size satisfies both (README, 'Paper numbers').")
    print("\nFLOP convention:" + CONVENTION.split("\n", 1)[1].split("Parameter counts")[0].rstrip())


if __name__ == "__main__":
    sys.exit(main())
