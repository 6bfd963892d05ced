#!/usr/bin/env python
"""Runs a trained detector on images and draws what it finds.

The command lives in the library (detect/cli/demo.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
