"""Evaluates a detections file (COCO results JSON) against a named dataset.

    python tools/reval.py --dataset toy_test --results output/detections.json
    python tools/reval.py --dataset citypersons_val --results dets.json --metric mr coco
    python tools/reval.py --dataset coco:val.json:images --results dets.json

Metrics and their defaults by dataset: detect/evaluation/dispatch.py. Only
the annotations are read (image files need not be there). Every detection is
checked first; what was dropped is counted, with the first example of each
reason. Exit status 2, with a message, for an unreadable file, a results
file with no valid detection, or a dataset without ground truth.
The results' category_id is the dataset's own category id (VOC: 1..20).
Results of tools/predict.py (a folder of images, annotated later) name
images and classes by its images.json: pass that with --image-list and they
are matched by file name and class name.
"""
import argparse
import json
import os
import sys

from detect.cli.image_ids import to_dataset_ids
from detect.datasets import BadInputError, get_dataset
from detect.evaluation import METRICS, default_metrics, evaluate, json_ready, load_results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--results", required=True, help="COCO results JSON")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (detect/datasets/by_path.py)")
    p.add_argument("--metric", nargs="+", choices=METRICS, help="default: by dataset kind")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--image-list", help="tools/predict.py's images.json: the results' ids are "
                   "its images and the model's classes (matched to the dataset by name)")
    a = p.parse_args(argv)
    beside = os.path.join(os.path.dirname(os.path.abspath(a.results)), "images.json")
    try:
        dataset = get_dataset(a.dataset, a.data_dir, check_images=False,
                              datasets_file=a.datasets_file)
        results = load_results(a.results)
        if a.image_list:
            results, note = to_dataset_ids(results, a.image_list, dataset)
            print(note)
        elif os.path.exists(beside):
            print(f"warning: {beside} is beside the results: results of tools/predict.py name "
                  "its own images and classes, so pass --image-list with it", file=sys.stderr)
        if not results:
            raise BadInputError(f"{a.results} holds no detections: nothing to evaluate")
        figures, report = evaluate(dataset, results, a.metric or default_metrics(a.dataset, a.datasets_file))
    except (BadInputError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dataset.name}: {len(dataset)} images ({dataset.skips.summary()}), "
          f"{len(results)} detections\n")
    print(report)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(json_ready(figures), f, indent=2)
    return 0
