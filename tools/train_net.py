#!/usr/bin/env python
"""Trains a detector.

The command lives in the library (detect/cli/train_net.py); ``--help`` lists
its options.
"""
import sys

from detect.cli.train_net import main

if __name__ == "__main__":
    sys.exit(main())
