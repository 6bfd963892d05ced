"""CityPersons' own annotation files -> pedestrian COCO-format JSON.

Input: the Cityscapes layout, one file per image,
    <gt_root>/<split>/<city>/<city>_<seq>_<frame>_gtBboxCityPersons.json
    {"imgHeight": H, "imgWidth": W, "objects": [{"label": ..., "bbox": [x, y, w, h],
      "bboxVis": [x, y, w, h], "instanceId": ...}, ...]}
Output: one COCO-format file with category 1 "person" and, per annotation,
``height`` (full-body box height), ``vis_ratio`` (visible box area / full
box area) and ``ignore``. As in the CityPersons benchmark, "pedestrian" boxes
are the objects; riders, sitting persons, other persons, person groups and
"ignore" regions become ignore regions (``ignore`` = ``iscrowd`` = 1).

``load_citypersons`` reads that file, or CityPersons' own COCO-style file
(the benchmark's ``val_gt.json``: categories ``ignore region`` (id 0),
``pedestrian`` (1), ``rider``, ``sitting person``, ``person (other)``,
``person group``; images named by ``im_name``). Its categories map to the one
class "person" as the benchmark's script (eval_MR_multisetup.py) evaluates
them: only the ``pedestrian`` category (id 1, the id results carry), each box
with its own ``ignore`` flag (set on riders, groups and the like), ignore
boxes matched by intersection over the detection's area. Boxes filed under
the other categories become ignore regions of the class, as the CityPersons
protocol treats those labels; the script leaves such boxes out altogether,
so where a file has them a detection on one is a false positive there and
ignored here (data/README.md).
"""
import copy
import glob
import json
import os

from detect.datasets.coco import category_map, coco_api, coco_records, load_coco_api
from detect.datasets.dataset import Dataset
from detect.datasets.records import BadInputError, SkipLog

OBJECT_LABEL = "pedestrian"
IGNORE_LABELS = ("rider", "sitting person", "person (other)", "person group", "ignore")
# Category names of CityPersons' own COCO-style files (and of common re-exports).
OFFICIAL_CATEGORIES = ("ignore region", "pedestrian", "rider", "sitting person",
                       "person (other)", "other person", "person group", "people group")


def is_official_format(data):
    """True for CityPersons' own COCO-style annotation dict (val_gt.json)."""
    names = {c.get("name") for c in data["categories"]}
    return OBJECT_LABEL in names and names <= set(OFFICIAL_CATEGORIES)


def official_to_pedestrian(data):
    """CityPersons' own annotation dict -> the pedestrian format (a copy).

    One category "person" keeping the ``pedestrian`` category's id; boxes of
    the other known categories become ignore regions of it (``ignore`` = 1);
    boxes of unlisted category ids are left alone (the reader counts them).
    Images named by ``im_name`` alone ("<city>_..._leftImg8bit.png") get the
    ``<city>/`` folder of the Cityscapes layout as ``file_name``.
    """
    data = copy.deepcopy(data)
    ped_id = next(c["id"] for c in data["categories"] if c.get("name") == OBJECT_LABEL)
    known = {c.get("id") for c in data["categories"]}
    for a in data["annotations"]:
        if a.get("category_id") in known and a.get("category_id") != ped_id:
            a["category_id"], a["ignore"] = ped_id, 1
    for im in data["images"]:
        name = im.get("file_name") or im.get("im_name") or ""
        if name and "/" not in name:
            name = f"{name.split('_')[0]}/{name}"
        im["file_name"] = name
    data["categories"] = [{"id": ped_id, "name": "person"}]
    return data


def load_citypersons(annotation_json, image_dir, name, strict=False, check_images=True):
    """A pedestrian Dataset from our converted file or CityPersons' own one.

    For CityPersons' own file the records are the ground truth that every
    evaluator uses (coco_json is None: COCO AP runs on the records, where the
    file's ``ignore`` boxes are crowd regions, as for the converted file).
    """
    coco = load_coco_api(annotation_json)
    official = is_official_format(coco.dataset)
    if official:
        coco = coco_api(official_to_pedestrian(coco.dataset))
    class_names, cat_to_id = category_map(coco.dataset["categories"])
    records, skips = coco_records(coco, annotation_json, image_dir, cat_to_id, strict, check_images)
    return Dataset(name, class_names, records, skips,
                   coco_json=None if official else os.path.abspath(annotation_json),
                   category_ids={v: k for k, v in cat_to_id.items()})


def read_cityscapes_json(path):
    """(height, width, objects) of a Cityscapes annotation file, gtFine
    polygons or CityPersons boxes alike (both are {"imgHeight", "imgWidth",
    "objects": [...]}); ValueError, saying what, if unusable."""
    try:
        with open(path) as f:
            data = json.load(f)
        height, width = int(data["imgHeight"]), int(data["imgWidth"])
        objects = data["objects"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from e
    if height <= 0 or width <= 0 or not isinstance(objects, list):
        raise ValueError(f"size {width}x{height} and objects list {type(objects).__name__}")
    return height, width, objects


def read_cityscapes_files(files, suffix, skips):
    """(path, city, stem, height, width, objects) of each readable file of
    ``files`` (<city>/<stem><suffix> paths, an iterable such as a progress
    bar); an unreadable one is counted in ``skips`` (a SkipLog) and left out."""
    for path in files:
        try:
            height, width, objects = read_cityscapes_json(path)
        except ValueError as e:
            skips.skip(path, f"malformed annotation: {e}")
            continue
        stem = os.path.basename(path)[: -len(suffix)]
        yield path, os.path.basename(os.path.dirname(path)), stem, height, width, objects


def convert_citypersons(gt_root, split, out_json, strict=False):
    """Writes out_json; image file_name is "<city>/<stem>_leftImg8bit.png".

    Returns:
      (number of images, number of annotations, SkipLog).
    """
    skips = SkipLog(strict)
    files = sorted(glob.glob(os.path.join(gt_root, split, "*", "*_gtBboxCityPersons.json")))
    if not files:
        raise FileNotFoundError(f"no *_gtBboxCityPersons.json files under "
                                f"{os.path.join(gt_root, split)}/<city>/")
    images, anns = [], []
    for path, city, stem, height, width, objects in read_cityscapes_files(files, "_gtBboxCityPersons.json",
                                                                          skips):
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": f"{city}/{stem}_leftImg8bit.png",
                       "height": height, "width": width})
        for obj in objects:
            label = obj.get("label")
            if label != OBJECT_LABEL and label not in IGNORE_LABELS:
                skips.skip(path, f"unknown class: '{label}'")
                continue
            try:
                x, y, w, h = (float(v) for v in obj["bbox"])
                vx, vy, vw, vh = (float(v) for v in obj.get("bboxVis", obj["bbox"]))
            except (KeyError, TypeError, ValueError):
                skips.skip(path, "malformed annotation: bbox must be [x, y, w, h]")
                continue
            if w <= 0 or h <= 0:
                skips.skip(path, f"zero-area box: {obj['bbox']}")
                continue
            ignore = int(label != OBJECT_LABEL)
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                         "bbox": [x, y, w, h], "area": w * h, "height": h,
                         "vis_ratio": max(vw, 0) * max(vh, 0) / (w * h), "ignore": ignore,
                         "iscrowd": ignore, "label": label})
    if not images:
        raise BadInputError(f"no usable annotation files under {os.path.join(gt_root, split)}")
    write_pedestrian_json(out_json, images, anns)
    return len(images), len(anns), skips


def write_pedestrian_json(out_json, images, annotations):
    """Writes a one-category ("person") COCO-format file, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    tmp = out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"images": images, "annotations": annotations,
                   "categories": [{"id": 1, "name": "person"}]}, f)
    os.replace(tmp, out_json)
