#!/usr/bin/env python
"""Runs c3_dense.cli.visualize from a checkout (installed: `c3-visualize` or
`python -m c3_dense visualize`); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.cli.visualize import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
