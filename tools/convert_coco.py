#!/usr/bin/env python
"""COCO-format annotations (COCO, CityPersons, the toy set) -> sharded
TFRecords with instance masks.

    python tools/convert_coco.py --dataset coco_2017_train --out data/tfrecords/coco_2017_train
"""
import sys

from detect.cli.convert import main

if __name__ == "__main__":
    sys.exit(main("COCO", default_masks=True))
