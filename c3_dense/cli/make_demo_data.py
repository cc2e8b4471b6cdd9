"""Write the demo data set (digits on photographs; VOC layout + COCO JSON + palette PNG labels).

    python tools/make_demo_data.py [--root DIR] [--force]

Default root: $DETECTRON2_DATASETS/c3_demo (datasets/c3_demo).
"""
import sys

from c3_dense.data import demo_root, make_demo_dataset
from c3_dense.errors import CliParser, check_output_dir, run_cli, summary


def main(argv=None):
    ap = CliParser(description=summary(__doc__))
    ap.add_argument("--root", default=None, help="output folder (default: %(default)s → "
                    f"{demo_root()}; detectron2's demo configs read "
                    "$DETECTRON2_DATASETS/c3_demo)")
    ap.add_argument("--force", action="store_true", help="rewrite even if complete")

    def body():
        args = ap.parse_args(argv)
        root = args.root or demo_root()
        check_output_dir(root, "--root")
        make_demo_dataset(root, force=args.force, progress=lambda line: print(line, flush=True))
        print(f"demo data ready in {root}")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
