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

from detect.datasets.coco import load_coco_api, segmentation_problem

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


def _check_ground_truth(dataset, gt, img_ids, cat_ids):
    anns = gt.loadAnns(gt.getAnnIds(imgIds=img_ids, catIds=cat_ids))
    if not any(not a.get("iscrowd", 0) for a in anns):
        raise ValueError(f"{dataset.name}: no ground-truth object (other than crowd regions) of "
                         f"the evaluated categories {cat_ids} in {len(img_ids)} images, so AP is "
                         "undefined. Check the annotation file and its categories")


def _check_segmentations(dataset, gt, img_ids, cat_ids):
    """Mask AP needs every ground-truth segmentation to decode: a ValueError
    naming the file and the first bad annotations otherwise."""
    bad = []
    for a in gt.loadAnns(gt.getAnnIds(imgIds=img_ids, catIds=cat_ids)):
        img = gt.imgs[a["image_id"]]
        problem = segmentation_problem(a.get("segmentation"), img.get("height"), img.get("width"))
        if problem:
            bad.append(f"annotation {a.get('id')} on image {a['image_id']}: {problem}")
    if bad:
        raise ValueError(f"{dataset.coco_json or dataset.name}: {len(bad)} ground-truth segmentations "
                         f"cannot be decoded, so mask AP cannot be computed ({'; '.join(bad[:3])}"
                         f"{'; ...' if len(bad) > 3 else ''}). Fix them, or evaluate boxes only "
                         "(--metric coco)")


def evaluate_coco(dataset, results, iou_type="bbox"):
    """Runs COCOeval; returns {"stats": {name: value}, "AP": {class: AP},
    "summary": COCOeval's printed table}. iou_type: "bbox" or "segm".

    Results on images outside the dataset's records are left out (the
    dispatch counts them: dispatch.py); no ground truth raises ValueError.
    """
    if dataset.coco_json:
        gt = load_coco_api(dataset.coco_json)
        kept = {r["image_id"] for r in dataset.records}
        results = [dict(r) for r in results if r["image_id"] in kept]
    else:
        if iou_type == "segm":
            raise ValueError(f"{dataset.name} has no instance masks: only bbox evaluation applies")
        gt, ids = to_coco_gt(dataset)
        to_class = {cat: cls for cls, cat in (dataset.category_ids or {}).items()}
        results = [dict(r, image_id=ids[r["image_id"]],
                        category_id=to_class.get(r["category_id"], r["category_id"]))
                   for r in results if r["image_id"] in ids]
    if dataset.coco_json:
        # Only the images the reader kept, and only the dataset's classes.
        img_ids = sorted(r["image_id"] for r in dataset.records)
        cat_ids = sorted(dataset.category_ids.values() if dataset.category_ids else gt.getCatIds())
    else:
        img_ids, cat_ids = sorted(gt.getImgIds()), sorted(gt.getCatIds())
    _check_ground_truth(dataset, gt, img_ids, cat_ids)
    if iou_type == "segm":
        _check_segmentations(dataset, gt, img_ids, cat_ids)
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
        ev.params.imgIds, ev.params.catIds = img_ids, cat_ids
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
