"""COCO box and mask AP through pycocotools' COCOeval.

COCO-format datasets are evaluated against their own annotation file; any
other dataset (VOC layout, the toy set) is turned into a COCO ground truth
first, with difficult objects and ignore regions as crowd regions.
"""
import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detect.datasets.coco import load_coco_api

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def to_coco_gt(dataset):
    """(COCO api, {image_id: coco int id}) built from a dataset's records."""
    images, anns, ids = [], [], {}
    for i, r in enumerate(dataset.records, start=1):
        ids[r["image_id"]] = i
        images.append({"id": i, "file_name": r["file_name"], "height": r["height"],
                       "width": r["width"]})
        for b, c, d, crowd in zip(r["boxes"], r["classes"], r["difficult"], r["crowd"]):
            x1, y1, x2, y2 = (float(v) for v in b)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                         "iscrowd": int(bool(d) or bool(crowd))})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": i, "name": n} for i, n in enumerate(dataset.class_names)
                                   if i > 0]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco, ids


def evaluate_coco(dataset, results, iou_type="bbox"):
    """Runs COCOeval; returns {"stats": {name: value}, "AP": {class: AP},
    "summary": COCOeval's printed table}. iou_type: "bbox" or "segm"."""
    if dataset.coco_json:
        gt = load_coco_api(dataset.coco_json)
        results = [dict(r) for r in results]
    else:
        if iou_type == "segm":
            raise ValueError(f"{dataset.name} has no instance masks: only bbox evaluation applies")
        gt, ids = to_coco_gt(dataset)
        results = [dict(r, image_id=ids[r["image_id"]]) for r in results if r["image_id"] in ids]
    if iou_type == "segm":
        results = [r for r in results if "segmentation" in r]
    else:
        results = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        dt = gt.loadRes(results) if results else COCO()
        if not results:
            dt.dataset = {"images": gt.dataset["images"], "annotations": [],
                          "categories": gt.dataset["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, iou_type)
        if dataset.coco_json:
            # Only the images the reader kept, and only the dataset's classes.
            ev.params.imgIds = sorted(r["image_id"] for r in dataset.records)
            if dataset.category_ids:
                ev.params.catIds = sorted(dataset.category_ids.values())
        else:
            ev.params.imgIds = sorted(gt.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    per_class = {}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        name = gt.cats[cat_id]["name"]
        per_class[name] = float(np.mean(p[p > -1])) if np.any(p > -1) else float("nan")
    return {"stats": dict(zip(STAT_NAMES, map(float, ev.stats))), "AP": per_class,
            "summary": out.getvalue()}
