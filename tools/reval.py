#!/usr/bin/env python
"""Evaluates a detections file (COCO results JSON) against a named dataset.

The command lives in the library (detect/cli/reval.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.reval import main

if __name__ == "__main__":
    sys.exit(main())
