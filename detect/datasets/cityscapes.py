"""Cityscapes ``gtFine`` person polygons -> pedestrian COCO-format JSON with masks.

Input: one file per image,
    <gtfine_root>/<split>/<city>/<city>_<seq>_<frame>_gtFine_polygons.json
    {"imgHeight": H, "imgWidth": W,
     "objects": [{"label": "person", "polygon": [[x, y], ...], "deleted": 0}, ...]}
and optionally CityPersons' boxes for the same images (``citypersons_root``,
the gtBboxCityPersons folder; format in citypersons.py).

Masks. Polygons are painted in file order, each over the earlier ones, with
PIL's ``ImageDraw.polygon`` (vertices are pixel indices, the outline is part
of the fill), exactly as cityscapesScripts' json2instanceImg paints
``*_gtFine_instanceIds.png``. An instance's mask is the pixels it holds at the
end: its polygon minus every later polygon of any label (a car in front).
Deleted objects and ``license plate`` (label id -1) are not painted, as there.
Boxes are ``[x, y, w, h]`` in continuous pixels: a mask over columns 2..5 has
x = 2, w = 4. Segmentations are RLE (pycocotools), ``counts`` a str.

Instances. ``person`` objects are pedestrians; ``rider`` objects and groups
(``persongroup``, ``ridergroup``) are ignore regions (``ignore`` = ``iscrowd``
= 1), as in CityPersons. The Cityscapes instance id of a person or rider is
label id * 1000 + the number of earlier non-deleted, non-group objects of the
label in the file (person 24000, 24001, ...; rider 25000, ...), the id
json2instanceImg paints; groups have none.

Without CityPersons boxes an annotation's bbox is its mask's tight box,
``height`` that box's height and ``vis_ratio`` 1.0 (the full body is not
known). With them (``citypersons_root``), each CityPersons object is matched
to a Cityscapes instance: by its ``instanceId`` where that names one, else by
the best IoU (>= MATCH_IOU) of its ``bboxVis`` (made from the masks) with an
unmatched instance's mask box. A match takes CityPersons' full-body bbox,
label (``pedestrian`` an object, the others ignore regions, as
convert_citypersons), ``height`` and ``vis_ratio`` with the instance's mask.
CityPersons ``ignore`` regions without a person polygon (posters,
reflections) stay ignore regions with their box as mask. A person or rider
wholly hidden by later polygons has no mask and is left out (counted as
"hidden", not an error). Problems are counted and logged in a SkipLog
(``strict`` raises instead):
  malformed annotation   unreadable file, no size or objects list: file skipped
  malformed polygon      missing, < 3 points, non-numeric or beyond +-1e6 px:
                         object not painted
  unknown label          not a Cityscapes label: painted (it covers what is
                         behind it), not an instance
  unmatched CityPersons object  a pedestrian box with no instance: kept as an
                         ignore region (box mask), so no detection there counts
                         as a false positive
  (fixed) no CityPersons box / no CityPersons file: the instance is kept with
                         its mask box, as without CityPersons
"""
import collections
import glob
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from tqdm import tqdm

from detect.datasets.citypersons import IGNORE_LABELS, OBJECT_LABEL, read_cityscapes_files, write_pedestrian_json
from detect.datasets.records import BadInputError, SkipLog

# cityscapesScripts helpers/labels.py: every label name; license plate (id -1) is never painted.
LABELS = ("unlabeled", "ego vehicle", "rectification border", "out of roi", "static", "dynamic",
          "ground", "road", "sidewalk", "parking", "rail track", "building", "wall", "fence",
          "guard rail", "bridge", "tunnel", "pole", "polegroup", "traffic light", "traffic sign",
          "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "caravan",
          "trailer", "train", "motorcycle", "bicycle", "license plate")
NOT_PAINTED = ("license plate",)
LABEL_IDS = {"person": 24, "rider": 25}  # the instance labels this converter keeps
MATCH_IOU = 0.5
MAX_COORD = 1e6  # pixels; larger polygon coordinates are malformed
POLYGONS_SUFFIX = "_gtFine_polygons.json"
CITYPERSONS_SUFFIX = "_gtBboxCityPersons.json"

Instance = collections.namedtuple("Instance", "label group cs_id mask box")


def base_label(label):
    """(label without a trailing "group", is_group), as json2instanceImg reads
    labels; (None, False) for a label that is not a string."""
    if not isinstance(label, str):
        return None, False
    if label not in LABELS and label.endswith("group"):
        return label[: -len("group")], True
    return label, False


def _polygon(obj):
    """[(x, y), ...] of an object, or None unless it is >= 3 points within
    +-MAX_COORD (PIL's integer rasterizer wraps around far beyond)."""
    try:
        points = [(float(x), float(y)) for x, y in obj["polygon"]]
    except (KeyError, TypeError, ValueError):
        return None
    if len(points) < 3 or not all(abs(v) <= MAX_COORD for p in points for v in p):
        return None  # also NaN
    return points


def tight_box(mask, x0=0, y0=0):
    """[x, y, w, h] (continuous pixels) of a non-empty [H, W] mask whose pixel
    (0, 0) is the image's (x0, y0)."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    x1, y1 = int(cols[0]), int(rows[0])
    return [float(x0 + x1), float(y0 + y1), float(cols[-1] + 1 - x1), float(rows[-1] + 1 - y1)]


def encode(mask):
    """COCO RLE of a uint8 [H, W] mask, counts as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask, np.uint8))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def box_mask(box, height, width):
    """uint8 [H, W] mask of an [x, y, w, h] box, rounded and clipped to the image."""
    x, y, w, h = box
    mask = np.zeros((height, width), np.uint8, order="F")
    x1, y1 = max(int(round(x)), 0), max(int(round(y)), 0)
    mask[y1:max(int(round(y + h)), y1), x1:max(int(round(x + w)), x1)] = 1
    return mask


def person_instances(objects, height, width, path, skips, counts):
    """Paints the objects in file order; the visible person / rider instances.

    Returns:
      list of Instance (label "person" or "rider", group flag, Cityscapes
      instance id or None for groups, uint8 [H, W] visible mask, mask box);
      counts["hidden"] gets the instances without a visible pixel.
    """
    canvas = Image.new("I", (width, height), 0)  # 32-bit: one value per object
    draw = ImageDraw.Draw(canvas)
    per_label = collections.Counter()
    wanted = []  # (paint value, label, group, cs_id, polygon bounds)
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            skips.skip(path, f"malformed polygon: object {i} is not an object")
            continue
        if obj.get("deleted"):
            continue
        label, group = base_label(obj.get("label"))
        cs_id = None
        if label in LABEL_IDS and not group:  # counted even if malformed: ids stay aligned
            cs_id = LABEL_IDS[label] * 1000 + per_label[label]
            per_label[label] += 1
        if label in NOT_PAINTED:
            continue
        points = _polygon(obj)
        if points is None:
            skips.skip(path, f"malformed polygon: object {i} ({obj.get('label')!r}) needs "
                             f"'polygon': [[x, y], ...] with >= 3 points within +-{MAX_COORD:g}")
            continue
        if label not in LABELS:
            skips.skip(path, f"unknown label: {obj.get('label')!r} (object {i}), painted as an "
                             "occluder only")
        draw.polygon(points, fill=i + 1)
        if label in LABEL_IDS:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            wanted.append((i + 1, label, group, cs_id, (xs, ys)))
    painted = np.asarray(canvas)
    instances = []
    for value, label, group, cs_id, (xs, ys) in wanted:
        x1, y1 = max(int(math.floor(min(xs))), 0), max(int(math.floor(min(ys))), 0)
        x2, y2 = int(math.ceil(max(xs))) + 1, int(math.ceil(max(ys))) + 1
        crop = painted[y1:y2, x1:x2] == value
        if not crop.any():  # hidden by later polygons, or outside the image
            counts["hidden"] += 1
            continue
        mask = np.zeros((height, width), np.uint8, order="F")  # as pycocotools encodes
        mask[y1:y2, x1:x2] = crop
        instances.append(Instance(label, group, cs_id, mask, tight_box(crop, x1, y1)))
    return instances


def box_iou(a, b):
    """IoU of two [x, y, w, h] boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(iw, 0) * max(ih, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def read_citypersons_objects(path, skips):
    """CityPersons objects of one file: [(label, bbox, bbox_vis, instance_id)]."""
    try:
        with open(path) as f:
            objects = json.load(f)["objects"]
        if not isinstance(objects, list):
            raise TypeError("objects is not a list")
    except (OSError, ValueError, KeyError, TypeError) as e:
        skips.skip(path, f"malformed annotation: {type(e).__name__}: {e}")
        return []
    out = []
    for obj in objects:
        label = obj.get("label") if isinstance(obj, dict) else None
        if label != OBJECT_LABEL and label not in IGNORE_LABELS:
            skips.skip(path, f"unknown class: '{label}'")
            continue
        try:
            box = [float(v) for v in obj["bbox"]]
            vis = [float(v) for v in obj.get("bboxVis", obj["bbox"])]
        except (KeyError, TypeError, ValueError):
            box = vis = []
        if len(box) != 4 or len(vis) != 4 or not all(map(math.isfinite, box + vis)):
            skips.skip(path, "malformed annotation: bbox and bboxVis must be [x, y, w, h]")
            continue
        if box[2] <= 0 or box[3] <= 0:
            skips.skip(path, f"zero-area box: {box}")
            continue
        out.append((label, box, vis, obj.get("instanceId")))
    return out


def match(instances, cp_objects, counts):
    """Pairs CityPersons objects with instances: by instanceId, then bboxVis IoU.

    Returns:
      (pairs [(cp_object, instance index)], unmatched cp_objects); counts
      gets "matched by id", "matched by IoU" and "id match, other box" (an id
      match whose bboxVis has IoU < MATCH_IOU with the mask box: a sign
      the files disagree).
    """
    by_id = {inst.cs_id: k for k, inst in enumerate(instances) if inst.cs_id is not None}
    taken, pairs, rest = set(), [], []
    for obj in cp_objects:
        k = by_id.get(obj[3]) if isinstance(obj[3], int) else None
        if k is None or k in taken:
            rest.append(obj)
            continue
        taken.add(k)
        pairs.append((obj, k))
        counts["matched by id"] += 1
        if box_iou(obj[2], instances[k].box) < MATCH_IOU:
            counts["id match, other box"] += 1
    unmatched = []
    for obj in rest:
        best = max(((box_iou(obj[2], inst.box), k) for k, inst in enumerate(instances)
                    if k not in taken), default=(0.0, None))
        if best[0] >= MATCH_IOU:
            taken.add(best[1])
            pairs.append((obj, best[1]))
            counts["matched by IoU"] += 1
        else:
            unmatched.append(obj)
    return pairs, unmatched


def _annotation(mask, bbox, vis_area, ignore, label, inst=None):
    area = float(mask.sum())
    ann = {"category_id": 1, "bbox": bbox, "area": area, "height": bbox[3],
           "vis_ratio": vis_area / (bbox[2] * bbox[3]), "ignore": int(ignore),
           "iscrowd": int(ignore), "label": label, "segmentation": encode(mask)}
    if inst is not None and inst.cs_id is not None:
        ann["instance_id"] = inst.cs_id
    return ann


def image_annotations(instances, cp_objects, height, width, path, skips, counts):
    """Annotations (without ids) of one image; cp_objects None: no CityPersons file."""
    def alone(inst):
        return _annotation(inst.mask, inst.box, inst.box[2] * inst.box[3],
                           inst.label != "person" or inst.group,
                           inst.label + ("group" if inst.group else ""), inst)

    if cp_objects is None:
        return [alone(inst) for inst in instances]
    pairs, unmatched = match(instances, cp_objects, counts)
    anns = [_annotation(instances[k].mask, box, max(vis[2], 0) * max(vis[3], 0),
                        label != OBJECT_LABEL, label, instances[k])
            for (label, box, vis, _), k in pairs]
    for label, box, vis, inst_id in unmatched:
        if label == OBJECT_LABEL:
            skips.skip(path, f"unmatched CityPersons object: pedestrian {box} (instanceId "
                             f"{inst_id!r}) has no person polygon; kept as an ignore region")
        else:
            counts["CityPersons-only ignore regions"] += 1
        mask = box_mask(box, height, width)
        anns.append(_annotation(mask, box, box[2] * box[3], True, label))
    for k in sorted(set(range(len(instances))) - {k for _, k in pairs}):
        inst = instances[k]
        skips.fix(path, f"no CityPersons box: {inst.label} instance {inst.cs_id} kept with its "
                        "mask box")
        anns.append(alone(inst))
    return anns


def convert_cityscapes(gtfine_root, split, out_json, citypersons_root=None, strict=False,
                       progress=False):
    """Writes out_json (atomically); image file_name is "<city>/<stem>_leftImg8bit.png".

    Args:
      gtfine_root: the gtFine folder (holds <split>/<city>/*_gtFine_polygons.json).
      split: train, val, ...
      out_json: output path, e.g. data/citypersons/annotations/citypersons_val.json.
      citypersons_root: the gtBboxCityPersons folder, to merge its boxes; or None.
      strict: raise BadInputError on the first problem instead of counting it.
      progress: show a tqdm bar.

    Returns:
      (number of images, number of annotations, SkipLog, Counter of
      "hidden" instances, matches and CityPersons-only ignore regions).
    """
    skips, counts = SkipLog(strict), collections.Counter()
    files = sorted(glob.glob(os.path.join(gtfine_root, split, "*", "*" + POLYGONS_SUFFIX)))
    if not files:
        raise FileNotFoundError(f"no *{POLYGONS_SUFFIX} files under "
                                f"{os.path.join(gtfine_root, split)}/<city>/ (give the gtFine "
                                "folder as --gtfine-root)")
    if citypersons_root and not os.path.isdir(os.path.join(citypersons_root, split)):
        raise FileNotFoundError(f"{os.path.join(citypersons_root, split)} does not exist (give "
                                "the gtBboxCityPersons folder as --citypersons-root)")
    images, anns = [], []
    bar = tqdm(files, desc=f"cityscapes {split}", unit="img", disable=not progress)
    for path, city, stem, height, width, objects in read_cityscapes_files(bar, POLYGONS_SUFFIX, skips):
        instances = person_instances(objects, height, width, path, skips, counts)
        cp_objects = None
        if citypersons_root:
            cp_path = os.path.join(citypersons_root, split, city, stem + CITYPERSONS_SUFFIX)
            if os.path.exists(cp_path):
                cp_objects = read_citypersons_objects(cp_path, skips)
            else:
                skips.fix(cp_path, "no CityPersons file: boxes of this image from the masks")
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": f"{city}/{stem}_leftImg8bit.png",
                       "height": height, "width": width})
        for ann in image_annotations(instances, cp_objects, height, width, path, skips, counts):
            anns.append({"id": len(anns) + 1, "image_id": image_id, **ann})
    if not images:
        raise BadInputError(f"no usable annotation files under {os.path.join(gtfine_root, split)}")
    write_pedestrian_json(out_json, images, anns)
    return len(images), len(anns), skips, counts
