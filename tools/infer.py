#!/usr/bin/env python
"""Runs c3_dense.cli.infer from a checkout (installed: `c3-infer` or
`python -m c3_dense infer`); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from c3_dense.cli.infer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
