#!/usr/bin/env python
"""Draws a dataset as the model will see it.

The command lives in the library (detect/cli/visualize_data.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.visualize_data import main

if __name__ == "__main__":
    sys.exit(main())
