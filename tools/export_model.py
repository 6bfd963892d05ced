#!/usr/bin/env python
"""Exports a trained detector as a SavedModel (preprocessing and post-processing inside).

The command lives in the library (detect/cli/export_model.py);
``--help`` lists its options.
"""
import sys

from detect.cli.export_model import main

if __name__ == "__main__":
    sys.exit(main())
