#!/usr/bin/env python
"""Counts what a dataset holds.

The command lives in the library (detect/cli/dataset_stats.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.dataset_stats import main

if __name__ == "__main__":
    sys.exit(main())
