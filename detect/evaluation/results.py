"""Detections in COCO results format, the one format every tool writes.

A results file is a JSON list of
  {"image_id": ..., "category_id": ..., "bbox": [x, y, w, h], "score": s,
   "segmentation": RLE (optional)}
with ``image_id`` the dataset's image id (an int for COCO-format sets, the
VOC index string for VOC sets) and ``category_id`` the dataset's category id
(for VOC sets, the contiguous class id 1..20). ``bbox`` is in continuous
pixel coordinates of the original image.
"""
import json
from collections import defaultdict

import numpy as np

from detect.datasets.records import BadInputError
from detect.utils.atomic import write_json_atomic


def json_ready(value):
    """Figures (nested dicts / lists of numbers) with NaN and inf as None and
    NumPy numbers as floats, for strict JSON (MR^-2 of a setup without
    ground truth is NaN; jq and JSON.parse refuse a bare NaN)."""
    import math

    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, (float, np.floating, np.integer)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def load_results(path):
    """The list of detections in a results JSON file (a JSON list; its
    entries are checked against the dataset by validation.py)."""
    try:
        with open(path) as f:
            results = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: no detections file to evaluate") from None
    except json.JSONDecodeError as e:
        raise BadInputError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(results, list):
        raise BadInputError(f"{path} must hold a JSON list of detections, got {type(results).__name__}")
    return results


def save_results(results, path):
    """Writes atomically (a crash never leaves half a file)."""
    write_json_atomic(path, results)


def by_image_and_class(results, category_to_class=None):
    """{(image_id, class id): (scores [D], boxes [D, 4] x1 y1 x2 y2)}."""
    groups = defaultdict(list)
    for r in results:
        if category_to_class is not None and r["category_id"] not in category_to_class:
            continue  # a category the dataset does not evaluate (e.g. filtered out)
        cls = category_to_class[r["category_id"]] if category_to_class else r["category_id"]
        x, y, w, h = (float(v) for v in r["bbox"])
        groups[(r["image_id"], cls)].append((float(r["score"]), [x, y, x + w, y + h]))
    return {k: (np.array([s for s, _ in v]), np.array([b for _, b in v], np.float64).reshape(-1, 4))
            for k, v in groups.items()}


def category_to_class(dataset):
    """{dataset category id: contiguous class id}, or None where they are equal."""
    if not dataset.category_ids:
        return None
    return {cat: cls for cls, cat in dataset.category_ids.items()}
