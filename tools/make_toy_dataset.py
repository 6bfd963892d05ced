#!/usr/bin/env python
"""Writes the built-in toy dataset (VOC layout + COCO JSON with masks).

The command lives in the library (detect/cli/make_toy_dataset.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.make_toy_dataset import main

if __name__ == "__main__":
    sys.exit(main())
