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
"""
import glob
import json
import os

from detect.datasets.records import BadInputError, SkipLog

OBJECT_LABEL = "pedestrian"
IGNORE_LABELS = ("rider", "sitting person", "person (other)", "person group", "ignore")


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
    for path in files:
        try:
            with open(path) as f:
                data = json.load(f)
            height, width = int(data["imgHeight"]), int(data["imgWidth"])
            objects = data["objects"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            skips.skip(path, f"malformed annotation: {type(e).__name__}: {e}")
            continue
        city = os.path.basename(os.path.dirname(path))
        stem = os.path.basename(path)[: -len("_gtBboxCityPersons.json")]
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
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    tmp = out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"images": images, "annotations": anns,
                   "categories": [{"id": 1, "name": "person"}]}, f)
    os.replace(tmp, out_json)
    return len(images), len(anns), skips
