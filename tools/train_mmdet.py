#!/usr/bin/env python
"""Runs c3_dense.cli.train_mmdet from a checkout (installed: `c3-train-mmdet` or
`python -m c3_dense train_mmdet`); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.cli.train_mmdet import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
