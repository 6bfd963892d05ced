#!/usr/bin/env python
"""Checks the compiled RoI ops: versions, registered kernels, and a tiny
forward and backward of each op on every device that has a kernel.

    python tools/check_ops.py

The command lives in the library (detect/cli/check_ops.py).
"""
import sys

from detect.cli.check_ops import main

if __name__ == "__main__":
    sys.exit(main())
