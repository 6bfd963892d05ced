#!/usr/bin/env python
"""Checks the compiled RoI ops: versions, registered kernels, and a tiny

The command lives in the library (detect/cli/check_ops.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.check_ops import main

if __name__ == "__main__":
    sys.exit(main())
