#!/usr/bin/env python
"""Runs c3_dense.cli.train_det from a checkout (installed: `c3-train-det` or
`python -m c3_dense train_det`); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.cli.train_det import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
