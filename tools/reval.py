#!/usr/bin/env python
"""Evaluates a detections file (COCO results JSON) against a named dataset.

    python tools/reval.py --dataset toy_test --results output/detections.json
    python tools/reval.py --dataset citypersons_val --results dets.json --metric mr coco

Metrics: voc07 (VOC2007 11-point AP), voc (VOC2010+ area AP), coco (box AP
through pycocotools), coco_segm (mask AP; needs "segmentation" in the
results), mr (pedestrian log-average miss rate MR^-2). The default is voc07
for VOC-layout sets, coco for COCO sets, and for pedestrian sets (citypersons_*,
*_person) mr plus AP (coco for COCO-based ones, else voc07).
The results' category_id is the dataset's own category id (VOC: 1..20).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detect.datasets import BadInputError, get_dataset  # noqa: E402
from detect.evaluation import (evaluate_coco, evaluate_miss_rate, evaluate_voc,  # noqa: E402
                               load_results)
from detect.evaluation.results import category_to_class  # noqa: E402

METRICS = ("voc07", "voc", "coco", "coco_segm", "mr")


def default_metrics(name):
    """Pedestrian sets (citypersons_*, *_person): MR^-2 and AP (COCO AP for
    COCO-based sets, else VOC07 AP); COCO sets: COCO AP; others: VOC07 AP."""
    coco = name.startswith(("coco_", "toy_coco_"))
    if "citypersons" in name or name.endswith("_person"):
        return ["mr", "coco" if coco else "voc07"]
    return ["coco"] if coco else ["voc07"]


def table(title, rows, value_name):
    width = max([len(r[0]) for r in rows] + [5])
    lines = [title, f"  {'class':<{width}}  {value_name:>8}"]
    lines += [f"  {name:<{width}}  {value:8.4f}" for name, value in rows]
    return "\n".join(lines)


def evaluate(dataset, results, metrics):
    """{metric: result dict}, and the printed report."""
    out, report = {}, []
    mapping = category_to_class(dataset)
    for metric in metrics:
        if metric in ("voc07", "voc"):
            r = evaluate_voc(dataset, results, use_07_metric=metric == "voc07",
                             category_to_class=mapping)
            report.append(table(f"{r['metric']} AP (IoU > 0.5)", list(r["AP"].items())
                                + [("mAP", r["mAP"])], "AP"))
        elif metric in ("coco", "coco_segm"):
            r = evaluate_coco(dataset, results, "segm" if metric == "coco_segm" else "bbox")
            report.append(r["summary"].rstrip())
            report.append(table(f"COCO {'mask' if metric == 'coco_segm' else 'box'} AP per class",
                                [(k, v) for k, v in r["AP"].items() if not math.isnan(v)], "AP"))
            r = {k: v for k, v in r.items() if k != "summary"}
        elif metric == "mr":
            person = dataset.class_names.index("person") if "person" in dataset.class_names else 1
            r = evaluate_miss_rate(dataset, results, class_id=person, category_to_class=mapping)
            report.append(table("log-average miss rate MR^-2 (lower is better)", list(r.items()),
                                "MR^-2"))
        else:
            raise ValueError(f"unknown metric {metric}; choose from {METRICS}")
        out[metric] = r
    return out, "\n\n".join(report)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--results", required=True, help="COCO results JSON")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--metric", nargs="+", choices=METRICS, help="default: by dataset kind")
    p.add_argument("--json", help="also write the figures to this JSON file")
    a = p.parse_args(argv)
    try:
        dataset = get_dataset(a.dataset, a.data_dir)
        results = load_results(a.results)
        figures, report = evaluate(dataset, results, a.metric or default_metrics(a.dataset))
    except (BadInputError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.dataset}: {len(dataset)} images, {len(results)} detections\n")
    print(report)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
