#!/usr/bin/env python
"""CityPersons gtBboxCityPersons JSON files -> one pedestrian COCO-format file.

The command lives in the library (detect/cli/convert_citypersons.py);
``--help`` lists its options.
"""
import sys

from detect.cli.convert_citypersons import main

if __name__ == "__main__":
    sys.exit(main())
