"""Cityscapes gtFine person polygons -> one pedestrian COCO-format file with masks.

    python tools/convert_cityscapes.py --gtfine-root /path/to/gtFine --split val \
        --citypersons-root /path/to/gtBboxCityPersons \
        --out data/citypersons/annotations/citypersons_val.json

``person`` polygons become pedestrians with their visible masks (later
polygons cut earlier ones, as in Cityscapes' instance images), ``rider`` and
groups ignore regions; with ``--citypersons-root`` each takes CityPersons'
full-body box and label (detect/datasets/cityscapes.py). Then link the
images: data/citypersons/images/<split> -> leftImg8bit/<split> (see
data/README.md); the dataset is then called citypersons_<split>.
"""
import argparse
import logging
import sys

from detect.datasets.cityscapes import convert_cityscapes
from detect.datasets.records import BadInputError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gtfine-root", required=True, help="the gtFine folder")
    p.add_argument("--split", required=True, help="train or val")
    p.add_argument("--out", required=True)
    p.add_argument("--citypersons-root", default=None,
                   help="the gtBboxCityPersons folder: merge its full-body boxes and labels")
    p.add_argument("--strict", action="store_true", help="fail on the first bad input")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        n_images, n_anns, skips, counts = convert_cityscapes(
            a.gtfine_root, a.split, a.out, a.citypersons_root, a.strict,
            progress=not a.no_progress)
    except (BadInputError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tally = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    print(f"wrote {a.out}: {n_images} images, {n_anns} annotations with masks"
          f"{'; ' + tally if tally else ''}; {skips.summary()}")
    return 0
