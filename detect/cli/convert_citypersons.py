"""CityPersons gtBboxCityPersons JSON files -> one pedestrian COCO-format file.

    python tools/convert_citypersons.py --gt-root /path/to/gtBboxCityPersons --split val \
        --out data/citypersons/annotations/citypersons_val.json

Then link the images: data/citypersons/images/<split> -> leftImg8bit/<split>
(see data/README.md); the dataset is then called citypersons_<split>.
"""
import argparse
import logging
import sys

from detect.datasets.citypersons import convert_citypersons
from detect.datasets.records import BadInputError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gt-root", required=True, help="the gtBboxCityPersons folder")
    p.add_argument("--split", required=True, help="train or val")
    p.add_argument("--out", required=True)
    p.add_argument("--strict", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        n_images, n_anns, skips = convert_citypersons(a.gt_root, a.split, a.out, a.strict)
    except (BadInputError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out}: {n_images} images, {n_anns} annotations; {skips.summary()}")
    return 0
