#!/usr/bin/env python
"""PASCAL VOC (VOCdevkit layout) -> sharded TFRecords.

    python tools/convert_voc.py --dataset voc_2007_trainval --out data/tfrecords/voc_2007_trainval
"""
import sys

from detect.cli.convert import main

if __name__ == "__main__":
    sys.exit(main("PASCAL VOC", default_masks=False))
