"""Install the frameworks c3_dense runs on into this Python environment: detectron2, mmseg
(mmengine, mmcv-lite or your full mmcv), mmpretrain and mmdet, with setuptools kept below 81.

    c3-setup                                 # everything that is missing
    c3-setup --only detectron2               # one part (setuptools, detectron2, mmseg,
                                             #   mmpretrain, mmdet)
    c3-setup --only mim                      # OpenMMLab's mim (search / train / test c3_dense)
    c3-setup --pip-options "--no-index --find-links /wheels"   # a machine without the index
    c3-setup --download /wheels              # ... whose wheels, fetched on one with it
    python -m c3_dense setup ...             # the same

Each part is checked first (importing it) and installed only when missing, so a ready
environment takes seconds. detectron2 is not on the package index under its own name: the
``sal-detectron2`` re-packaging of upstream detectron2 0.7 is installed (an existing detectron2,
e.g. one built from source for your GPU, is kept). torch and torchvision come with c3_dense
itself (pip install c3_dense pulls them); for a GPU build, install torch first as pytorch.org
says. ``--download DIR`` fetches every part's wheels (not torch's) into DIR instead of
installing, for the same Python version and platform. The recipe: c3_dense/stack.py (also what a checkout's ``make setup`` uses).
"""
from __future__ import annotations

import shlex
import sys

from c3_dense.errors import CliParser, UserInputError, run_cli, summary


def main(argv=None) -> int:
    from c3_dense import stack

    ap = CliParser(description=summary(__doc__))
    ap.add_argument("--only", action="append", choices=stack.PARTS + stack.OPTIONAL_PARTS,
                    help="install this part only (repeatable); default: all but mim "
                         "(OpenMMLab's mim, without the pins that would downgrade setuptools)")
    ap.add_argument("--pip-options", default="",
                    help="extra options for every pip call, e.g. \"--no-index --find-links DIR\"")

    ap.add_argument("--download", metavar="DIR",
                    help="download every part's wheels into DIR instead of installing (then "
                         "on a machine without the index: --pip-options \"--no-index "
                         "--find-links DIR\")")

    def body():
        args = ap.parse_args(argv)
        try:
            if args.download:
                if args.only:
                    raise UserInputError("--download fetches every part; drop --only")
                wheels = stack.download(args.download, shlex.split(args.pip_options),
                                        log=lambda line: print(line, flush=True))
                print(f"downloaded: {len(wheels)} wheels in {args.download}; install from "
                      f"them with: c3-setup --pip-options \"--no-index --find-links "
                      f"{args.download}\"")
                return
            stack.ensure(args.only or stack.PARTS, sys.executable,
                         shlex.split(args.pip_options), log=lambda line: print(line, flush=True))
        except stack.StepFailed as exc:
            raise UserInputError(str(exc)) from None
        print(f"ready: {', '.join(args.only or stack.PARTS)} in {sys.executable}")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
