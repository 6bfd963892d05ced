#!/usr/bin/env python
"""Cityscapes gtFine person polygons -> one pedestrian COCO-format file with masks.

The command lives in the library (detect/cli/convert_cityscapes.py);
``--help`` lists its options.
"""
import sys

from detect.cli.convert_cityscapes import main

if __name__ == "__main__":
    sys.exit(main())
