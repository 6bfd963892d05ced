#!/usr/bin/env python
"""Runs a detector over folders or globs of images without annotations
(COCO results, resumable).

The command lives in the library (detect/cli/predict.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
