"""COCO-format annotation files through pycocotools.

Category ids map to contiguous ids 1..K (sorted by category id) in
``category_map``, the one place this happens. Crowd annotations (iscrowd=1)
and pedestrian ``ignore`` annotations become ignore regions (``crowd``),
never trained on as objects. Segmentations (polygons or RLE) are kept and
decoded on demand by ``segmentation_to_mask``.
"""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from detect.datasets.dataset import Dataset
from detect.datasets.records import BadInputError, SkipLog, clean_boxes, empty_record, select


def category_map(categories, class_filter=None):
    """(class_names, {category_id: contiguous id}) for the kept categories."""
    cats = sorted(categories, key=lambda c: c["id"])
    if class_filter:
        wanted = set(class_filter)
        unknown = wanted - {c["name"] for c in cats}
        if unknown:
            raise ValueError(f"classes {sorted(unknown)} are not in this dataset; it has "
                             f"{[c['name'] for c in cats]}")
        cats = [c for c in cats if c["name"] in wanted]
    return (("__background__",) + tuple(c["name"] for c in cats),
            {c["id"]: i + 1 for i, c in enumerate(cats)})


def load_coco_api(annotation_json):
    """pycocotools' COCO for a file, with errors that name the file."""
    if not os.path.exists(annotation_json):
        raise FileNotFoundError(f"{annotation_json} does not exist. See data/README.md for "
                                "where COCO annotations go.")
    try:
        with open(annotation_json) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInputError(f"{annotation_json} is not valid JSON: {e}") from e
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise BadInputError(f"{annotation_json} is not a COCO annotation file: no {missing}")
    try:
        return coco_api(data)
    except (KeyError, TypeError) as e:
        raise BadInputError(f"{annotation_json}: every image needs an id, every annotation an "
                            f"id and an image_id, every category an id "
                            f"({type(e).__name__}: {e})") from e


def coco_api(data):
    """pycocotools' COCO indexing an annotation dict (already in memory)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def segmentation_to_mask(segmentation, height, width):
    """uint8 [height, width] mask of a COCO polygon list or RLE."""
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(np.uint8)


def load_coco(annotation_json, image_dir, name, class_filter=None, strict=False,
              check_images=True):
    """Reads a COCO-format annotation file.

    Args:
      annotation_json: instances_*.json (or pedestrian JSON, data/README.md).
      image_dir: folder the images' file_name values are relative to.
      name: the dataset's name.
      class_filter: class names to keep (e.g. ["person"]), remapped to 1..K.
      strict: fail on the first bad annotation instead of skipping it.
      check_images: skip (and count) images whose file is missing; False
        keeps them (evaluation needs only the annotations).
    """
    coco = load_coco_api(annotation_json)
    class_names, cat_to_id = category_map(coco.dataset["categories"], class_filter)
    records, skips = coco_records(coco, annotation_json, image_dir, cat_to_id, strict, check_images)
    return Dataset(name, class_names, records, skips, coco_json=os.path.abspath(annotation_json),
                   category_ids={v: k for k, v in cat_to_id.items()})


def coco_records(coco, annotation_json, image_dir, cat_to_id, strict=False, check_images=True):
    """(records, SkipLog) of a COCO api's images, objects of ``cat_to_id``'s categories.

    An image's path is ``file_name`` (or CityPersons' ``im_name``) under
    image_dir. Annotations of a category the file does not list, or of an
    image it does not list, are skipped and counted; those of categories
    left out by a class filter are dropped silently (they are not errors).
    """
    skips = SkipLog(strict)
    known_cats = {c.get("id") for c in coco.dataset["categories"]}
    for a in coco.dataset["annotations"]:
        if a.get("category_id") not in known_cats:
            skips.skip(annotation_json, f"unknown category: id {a.get('category_id')!r} "
                       f"(annotation {a.get('id')}, image {a.get('image_id')}); the file's "
                       f"categories are {sorted(known_cats, key=str)}")
        elif a.get("image_id") not in coco.imgs:
            skips.skip(annotation_json, f"unknown image: annotation {a.get('id')} is on image "
                       f"{a.get('image_id')!r}, which the file does not list")
    records = []
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        path = os.path.join(image_dir, info.get("file_name") or info.get("im_name") or "")
        if check_images and not os.path.exists(path):
            skips.skip(path, "missing image file")
            continue
        height, width = int(info.get("height", 0)), int(info.get("width", 0))
        if height <= 0 or width <= 0:
            skips.skip(annotation_json, f"malformed annotation: image {image_id} has no size")
            continue
        anns = [a for a in coco.imgToAnns.get(image_id, []) if a.get("category_id") in cat_to_id]
        record = empty_record(image_id, path, height, width)
        boxes = []
        for a in anns:
            try:
                x, y, w, h = (float(v) for v in a["bbox"])
            except (KeyError, TypeError, ValueError):
                x = y = w = h = float("nan")
            boxes.append([x, y, x + w, y + h])
        if anns:
            where = f"{annotation_json} (image {image_id})"
            checked, keep = clean_boxes(boxes, height, width, where, skips)
            crowd = np.array([bool(a.get("iscrowd", 0)) or bool(a.get("ignore", 0)) for a in anns])
            record.update(
                boxes=checked,
                classes=np.array([cat_to_id[a["category_id"]] for a in anns], np.int32),
                difficult=np.zeros(len(anns), bool), crowd=crowd,
                segmentations=[a.get("segmentation") for a in anns],
                heights=np.array([float(a.get("height", b[3] - b[1])) for a, b in zip(anns, boxes)],
                                 np.float32),
                vis_ratios=np.array([float(a.get("vis_ratio", 1.0)) for a in anns], np.float32),
                annotation_ids=np.array([a.get("id", -1) for a in anns], np.int64))
            record = select(record, keep)
        records.append(record)
    return records, skips
