#!/usr/bin/env python
"""Write the demo data set (digits on photographs; VOC layout + COCO JSON + palette PNG labels).

    python tools/make_demo_data.py [--root DIR] [--force]

Default root: $DETECTRON2_DATASETS/c3_demo (datasets/c3_demo).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.data import demo_root, make_demo_dataset  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="output folder (default: %(default)s → "
                    f"{demo_root()})")
    ap.add_argument("--force", action="store_true", help="rewrite even if complete")
    args = ap.parse_args(argv)
    root = make_demo_dataset(args.root, force=args.force)
    print(f"demo data ready in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
