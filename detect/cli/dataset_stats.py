"""Counts what a dataset holds: images, objects per class, sizes, skips.

    python tools/dataset_stats.py --dataset coco:annotations/train.json:images
    python tools/dataset_stats.py --dataset voc:my_voc:trainval --json stats.json

Prints a table: per class the objects, the images holding one, the crowd /
ignore regions and VOC "difficult" objects, and COCO's small / medium /
large split (area < 32^2, < 96^2, above: the file's "area", which COCO's
evaluation uses; without one, the mask's area, else the box's); then the images without any object, and what the reader fixed
or skipped, with the first example of each reason, the image files
included: each is opened and checked as training will read it (the header,
the size cap, JPEG data to the end; --no-image-check skips that). --json
FILE writes the same figures. The total row's "images" counts images with at
least one object. Exit status 2, with a message, for a dataset that cannot be read.
"""
import argparse
import collections
import json
import sys

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from detect.datasets import BadInputError, get_dataset
from detect.datasets.image_check import BadImageError, check_image

SIZES = (("small", 32 ** 2), ("medium", 96 ** 2), ("large", float("inf")))


def object_area(record, k):
    """The COCO area of object k: the file's "area" where it has one (what
    COCO's evaluation uses), else its mask's pixels where it has a
    segmentation, else its box's area."""
    areas = record.get("areas")
    if areas is not None and np.isfinite(areas[k]):
        return float(areas[k])
    seg = (record.get("segmentations") or [None] * (k + 1))[k]
    if seg is not None:
        h, w = record["height"], record["width"]
        if isinstance(seg, list):
            return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(seg, h, w))))
        if isinstance(seg.get("counts"), list):
            return float(mask_utils.area(mask_utils.frPyObjects(seg, h, w)))
        return float(mask_utils.area(seg))
    x1, y1, x2, y2 = record["boxes"][k]
    return float((x2 - x1) * (y2 - y1))


def size_name(area):
    return next(name for name, top in SIZES if area < top)


def check_files(dataset, progress=False):
    """Checks every image file as the pipeline will (image_check.check_image:
    the header, the size cap, JPEG data read to the end); unreadable ones
    are counted and logged in dataset.skips as "unreadable image", as
    training would skip them. Returns how many."""
    bad = 0
    for r in tqdm(dataset.records, desc="checking images", unit="img", disable=not progress):
        try:
            with open(r["file_name"], "rb") as f:
                check_image(f.read())
        except (OSError, BadImageError) as e:
            dataset.skips.skip(r["file_name"], f"unreadable image: {e}")
            bad += 1
    return bad


def dataset_stats(dataset, progress=False):
    """A dict of the figures (see the module docstring)."""
    per_class = {n: collections.Counter() for n in dataset.class_names[1:]}
    empty = 0
    for r in tqdm(dataset.records, desc="counting", unit="img", disable=not progress):
        crowd = r["crowd"]
        if not np.any(~crowd):
            empty += 1
        seen = set()
        for k, c in enumerate(r["classes"]):
            name = dataset.class_names[int(c)]
            if crowd[k]:
                per_class[name]["crowd"] += 1
                continue
            per_class[name]["objects"] += 1
            per_class[name]["difficult"] += int(r["difficult"][k])
            per_class[name][size_name(object_area(r, k))] += 1
            seen.add(name)
        for name in seen:
            per_class[name]["images"] += 1
    columns = ("objects", "images", "crowd", "difficult") + tuple(n for n, _ in SIZES)
    classes = {n: {c: int(cnt[c]) for c in columns} for n, cnt in per_class.items()}
    skips = dataset.skips
    first = {}
    for path, reason in skips.examples:
        first.setdefault(reason.split(":")[0], f"{path}: {reason}")
    total = {c: sum(v[c] for v in classes.values()) for c in columns}
    total["images"] = len(dataset) - empty  # images with an object (one holding two classes counts once)
    return {"dataset": dataset.name, "images": len(dataset), "images_without_objects": empty,
            "classes": classes, "total": total,
            "skipped": dict(skips.skipped), "fixed": dict(skips.fixed), "first_example": first}


def format_table(stats):
    columns = list(stats["total"])
    width = max([len(n) for n in stats["classes"]] + [5])
    lines = [f"{stats['dataset']}: {stats['images']} images, {stats['total']['objects']} objects, "
             f"{stats['images_without_objects']} images without objects",
             f"  {'class':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    rows = list(stats["classes"].items()) + [("total", stats["total"])]
    for name, v in rows:
        lines.append(f"  {name:<{width}}" + "".join(f"{v[c]:>10}" for c in columns))
    lines.append("  (small / medium / large: area < 32^2, < 96^2, above; crowd: crowd or "
                 "ignore regions, not counted as objects)")
    if stats["skipped"] or stats["fixed"]:
        lines.append("read with problems:")
        for what in ("skipped", "fixed"):
            for reason, n in sorted(stats[what].items()):
                lines.append(f"  {n} {what} ({reason}), e.g. {stats['first_example'].get(reason, '')}")
    else:
        lines.append("nothing skipped or fixed while reading")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="a name, coco:<annotations.json>:<image dir> "
                   "or voc:<VOC root>[:<split>]; + joins sets")
    p.add_argument("--data-dir", default="data", help="root of the named datasets")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (detect/datasets/by_path.py)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to this JSON file")
    p.add_argument("--no-image-check", action="store_true",
                   help="do not open the image files (by default each is checked as training "
                        "reads it: header, size, data to the end)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        dataset = get_dataset(a.dataset, a.data_dir, datasets_file=a.datasets_file)
    except (BadInputError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not a.no_image_check:
        check_files(dataset, progress=not a.no_progress)
    stats = dataset_stats(dataset, progress=not a.no_progress)
    print(format_table(stats))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(stats, f, indent=2)
        print(f"figures written to {a.json}")
    return 0
