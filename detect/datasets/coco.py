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
import logging
import math
import os

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from detect.datasets.dataset import Dataset
from detect.datasets.records import BadInputError, SkipLog, clean_boxes, empty_record, select

log = logging.getLogger("detect.datasets")


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
    if isinstance(data, list):
        looks = " (a list of detections with image_id, category_id, bbox, score: a results file)" if (
            data and isinstance(data[0], dict) and "score" in data[0]) else ""
        raise BadInputError(f"{annotation_json} is a JSON list{looks}, not a COCO annotation file: "
                            "an object with 'images', 'annotations' and 'categories'")
    if not isinstance(data, dict):
        raise BadInputError(f"{annotation_json} is not a COCO annotation file: an object with "
                            "'images', 'annotations' and 'categories'")
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


def segmentation_problem(segmentation, height, width):
    """Why a COCO segmentation cannot be decoded on a height x width image,
    or None. Polygons: a non-empty list of [x1, y1, x2, y2, ...] lists of
    at least 3 finite points; RLE: {"size": [height, width], "counts": a
    string or a list of run lengths adding up to height x width}."""
    if isinstance(segmentation, list):
        if not segmentation:
            return "an empty polygon list"
        for poly in segmentation:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                return f"a polygon must list >= 3 (x, y) points, got {str(poly)[:60]}"
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       for v in poly):
                return f"a polygon coordinate is not a finite number: {str(poly)[:60]}"
        return None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            return f"an RLE without a [height, width] size: {str(segmentation)[:60]}"
        if [int(v) if isinstance(v, (int, float)) else v for v in size] != [height, width]:
            return f"an RLE of size {list(size)} on a {height}x{width} image"
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                return "uncompressed RLE counts that do not add up to the image"
        elif not isinstance(counts, (str, bytes)) or not counts:
            return f"RLE counts neither a string nor a list: {str(counts)[:40]}"
        return None
    return f"neither polygons nor an RLE: {str(segmentation)[:60]}"


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


def _number(value):
    """float(value), NaN for a missing or non-numeric one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


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
            segmentations = []
            for a in anns:
                seg = a.get("segmentation")
                problem = segmentation_problem(seg, height, width) if seg is not None else None
                if problem:  # the object stays (its box is good); a mask model uses its box
                    log.warning("%s: malformed segmentation of annotation %s on image %s: %s; its "
                                "box is used as its mask", annotation_json, a.get("id"), image_id, problem)
                    skips.fix(annotation_json, f"malformed segmentation: annotation {a.get('id')} on "
                              f"image {image_id}: {problem}; its box is used as its mask")
                    seg = None
                segmentations.append(seg)
            record.update(
                boxes=checked,
                classes=np.array([cat_to_id[a["category_id"]] for a in anns], np.int32),
                difficult=np.zeros(len(anns), bool), crowd=crowd,
                segmentations=segmentations,
                heights=np.array([float(a.get("height", b[3] - b[1])) for a, b in zip(anns, boxes)],
                                 np.float32),
                vis_ratios=np.array([float(a.get("vis_ratio", 1.0)) for a in anns], np.float32),
                annotation_ids=np.array([a.get("id", -1) for a in anns], np.int64),
                areas=np.array([_number(a.get("area")) for a in anns], np.float32))
            record = select(record, keep)
        records.append(record)
    return records, skips
