#!/usr/bin/env python
"""Runs c3_dense.cli.make_demo_data from a checkout (installed: `c3-make-demo-data` or
`python -m c3_dense make_demo_data`); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.cli.make_demo_data import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
