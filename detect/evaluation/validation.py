"""Every detection of a results file checked against its dataset, before any metric.

A detection (results.py gives the format) is dropped, and counted under its
reason with the index of the first one, when:
  - it is not a JSON object, or lacks image_id, category_id, bbox or score;
  - its image_id is not an image of the dataset (after the reader's skips),
    or has the wrong type: VOC-layout sets name images by their index string
    ("000005"), COCO-format sets by integers. A number is never matched to a
    string id (zero-padding and "2008_000002"-style ids make that a guess):
    such files are rejected with a message saying which type to write;
  - its category_id is not one the dataset evaluates (for a ``_person`` set,
    any category but person);
  - its bbox is not 4 finite numbers, or has a negative width or height
    (zero-size boxes stay: they are false positives, as in the devkit);
  - its score is not a finite number (NaN, null, a string);
  - its segmentation, when present, is not an RLE dict or a polygon list.
Nothing is fixed: a file with bad entries is evaluated on the rest, and the
report says what was left out and why (dispatch.py).
"""
import collections
import math
import numbers

REQUIRED = ("image_id", "category_id", "bbox", "score")


class DropLog:
    """Counts of dropped detections by reason, with the first example of each."""

    def __init__(self):
        self.counts = collections.Counter()
        self.first = {}

    def drop(self, index, reason, detail):
        self.counts[reason] += 1
        self.first.setdefault(reason, (index, detail))

    @property
    def total(self):
        return sum(self.counts.values())

    def summary(self, num_results):
        """One line, e.g. "dropped 2 of 9 detections: 2 unknown image_id (first:
        detection 4, image_id 99)"."""
        if not self.counts:
            return f"all {num_results} detections valid"
        parts = [f"{n} {reason} (first: detection {self.first[reason][0]}, "
                 f"{self.first[reason][1]})" for reason, n in self.counts.most_common()]
        return f"dropped {self.total} of {num_results} detections: " + "; ".join(parts)


def _finite(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _short(v, n=60):
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def _id_problem(image_id, image_ids, dataset_name):
    """None if image_id names an image of the dataset, else (reason, detail)."""
    ok_type = isinstance(image_id, (str, int)) and not isinstance(image_id, bool)
    if ok_type and image_id in image_ids:
        return None
    example = next(iter(image_ids), None)
    if example is not None and ok_type and type(image_id) is not type(example):
        want = "strings (quoted)" if isinstance(example, str) else "integers"
        return ("image_id of the wrong type", f"image_id {_short(image_id)}: {dataset_name} "
                f"names its images by {want} such as {example!r}")
    if not ok_type:
        return ("image_id not a string or an integer", f"image_id {_short(image_id)}")
    return ("unknown image_id", f"image_id {_short(image_id)} is not an image of {dataset_name}")


def validate_results(dataset, results):
    """(valid detections, DropLog) for a list of detections.

    Args:
      dataset: the Dataset the results are for (records, category_ids).
      results: the loaded list (results.load_results).

    Returns:
      valid: new dicts with image_id, category_id, bbox (4 floats), score
        (float) and segmentation where present, in the input order.
    """
    image_ids = {r["image_id"] for r in dataset.records}
    if dataset.category_ids:
        categories = set(dataset.category_ids.values())
    else:
        categories = set(range(1, dataset.num_classes))
    dropped, valid = DropLog(), []
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            dropped.drop(i, "not a JSON object", _short(r))
            continue
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            dropped.drop(i, "missing keys", f"no {', '.join(missing)}; a detection needs "
                         "image_id, category_id, bbox [x, y, w, h] and score")
            continue
        problem = _id_problem(r["image_id"], image_ids, dataset.name)
        if problem:
            dropped.drop(i, *problem)
            continue
        cat = r["category_id"]
        if isinstance(cat, bool) or not isinstance(cat, int) or cat not in categories:
            dropped.drop(i, "unknown category_id", f"category_id {_short(cat)}; {dataset.name} "
                         f"evaluates {sorted(categories)[:25]}")
            continue
        box = r["bbox"]
        if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(map(_finite, box)):
            dropped.drop(i, "bbox not 4 finite numbers", f"bbox {_short(box)}")
            continue
        if box[2] < 0 or box[3] < 0:
            dropped.drop(i, "negative bbox width or height", f"bbox {_short(box)}")
            continue
        if not _finite(r["score"]):
            dropped.drop(i, "score not a finite number", f"score {_short(r['score'])}")
            continue
        seg = r.get("segmentation")
        if seg is not None and not (isinstance(seg, list) or
                                    (isinstance(seg, dict) and "counts" in seg and "size" in seg)):
            dropped.drop(i, "segmentation not an RLE or polygons", f"segmentation {_short(seg)}")
            continue
        out = {"image_id": r["image_id"], "category_id": cat,
               "bbox": [float(v) for v in box], "score": float(r["score"])}
        if seg is not None:
            out["segmentation"] = seg
        valid.append(out)
    return valid, dropped
