#!/usr/bin/env python
"""Evaluates a trained detector on a dataset.

The command lives in the library (detect/cli/test_net.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.test_net import main

if __name__ == "__main__":
    sys.exit(main())
