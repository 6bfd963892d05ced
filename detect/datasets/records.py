"""Image records: the one in-memory form every reader produces.

A record is a dict:
  image_id      int (COCO id) or str (VOC index)
  file_name     absolute path of the image
  height, width int, pixels
  boxes         float32 [N, 4], [x1, y1, x2, y2] in continuous pixel
                coordinates (a box covering pixel columns 0..9 is x1=0, x2=10)
  classes       int32 [N], contiguous ids, 1..num_classes (0 is background)
  difficult     bool [N], VOC "difficult" (ignored by VOC evaluation)
  crowd         bool [N], COCO iscrowd / pedestrian ignore regions: never
                trained on as objects, matched as ignore regions
  segmentations list of N COCO segmentations (polygons or RLE) or None
  heights, vis_ratios  float32 [N] (pedestrian data; see data/README.md)
  areas         float32 [N], COCO files: each annotation's "area" (NaN where
                it has none), what COCO's evaluation sizes objects by
Boxes are kept as annotated, also where they cross the image border
(full-body pedestrian boxes often do, and the evaluators must see them as
annotated); training clips them after resizing (pipeline.py). Unusable
annotations (non-finite, zero-area, entirely outside the image) are dropped,
each logged and counted in a SkipLog.
"""
import collections
import logging

import numpy as np

log = logging.getLogger("detect.datasets")


class BadInputError(ValueError):
    """An input file or annotation that cannot be used (with --strict)."""


class SkipLog:
    """Counts and logs every fixed or skipped input, with its path and reason.

    With strict=True the first problem raises BadInputError instead.
    """

    def __init__(self, strict=False):
        self.strict = strict
        self.skipped = collections.Counter()
        self.fixed = collections.Counter()
        self.examples = []

    def skip(self, path, reason):
        if self.strict:
            raise BadInputError(f"{path}: {reason}")
        self.skipped[reason.split(":")[0]] += 1
        self.examples.append((path, reason))
        log.warning("skipped %s: %s", path, reason)

    def fix(self, path, reason):
        if self.strict:
            raise BadInputError(f"{path}: {reason} (not fixed with --strict)")
        self.fixed[reason.split(":")[0]] += 1
        log.info("fixed %s: %s", path, reason)

    def merge(self, other):
        self.skipped.update(other.skipped)
        self.fixed.update(other.fixed)
        self.examples.extend(other.examples)

    def summary(self):
        parts = [f"{n} skipped ({reason})" for reason, n in sorted(self.skipped.items())]
        parts += [f"{n} fixed ({reason})" for reason, n in sorted(self.fixed.items())]
        return ", ".join(parts) if parts else "no bad input"


def clean_boxes(boxes, height, width, path, skips, what="box"):
    """Flags unusable boxes; usable ones are kept exactly as annotated.

    Args:
      boxes: float [N, 4] x1, y1, x2, y2 (continuous pixels).
      height, width: image size.
      path: for the log.
      skips: SkipLog.

    Returns:
      (float32 [N, 4] boxes, bool [N] keep mask): non-finite boxes, boxes
      with x2 <= x1 or y2 <= y1, and boxes entirely outside the image are
      dropped (and counted). Boxes partly outside are kept unclipped: the
      evaluation protocols (VOC devkit, COCO, CityPersons) use them as
      annotated; training clips them (pipeline.py).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep = np.ones(len(boxes), bool)
    for i, b in enumerate(boxes):
        if not np.all(np.isfinite(b)):
            skips.skip(path, f"non-finite {what}: {b.tolist()}")
            keep[i] = False
        elif b[2] - b[0] <= 0 or b[3] - b[1] <= 0:
            skips.skip(path, f"zero-area {what}: {b.tolist()} in a {width}x{height} image")
            keep[i] = False
        elif b[2] <= 0 or b[3] <= 0 or b[0] >= width or b[1] >= height:
            skips.skip(path, f"outside the image {what}: {b.tolist()} in a {width}x{height} image")
            keep[i] = False
    return boxes.astype(np.float32), keep


def empty_record(image_id, file_name, height, width):
    return {"image_id": image_id, "file_name": file_name, "height": int(height),
            "width": int(width), "boxes": np.zeros((0, 4), np.float32),
            "classes": np.zeros((0,), np.int32), "difficult": np.zeros((0,), bool),
            "crowd": np.zeros((0,), bool), "segmentations": None}


def select(record, keep):
    """A copy of record with only the objects where keep is True."""
    out = dict(record)
    for key in ("boxes", "classes", "difficult", "crowd", "heights", "vis_ratios", "annotation_ids",
                "areas"):
        if key in record and record[key] is not None:
            out[key] = record[key][keep]
    if record.get("segmentations") is not None:
        out["segmentations"] = [s for s, k in zip(record["segmentations"], keep) if k]
    return out


def has_masks(records):
    """Whether any object of the records has a segmentation. A COCO export
    of boxes only ("segmentation": [] or none) has lists of None: no masks."""
    return any(seg is not None for r in records for seg in (r.get("segmentations") or []))
