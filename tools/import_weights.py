#!/usr/bin/env python
"""Imports a model zoo's trained detector.

The command lives in the library (detect/cli/import_weights.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.import_weights import main

if __name__ == "__main__":
    sys.exit(main())
