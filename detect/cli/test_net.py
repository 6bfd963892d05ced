"""Evaluates a trained detector on a dataset.

    python tools/test_net.py --output output/faster_rcnn_tiny_toy_train --dataset toy_test
    python tools/test_net.py --output output/my_run --dataset coco:val.json:images/val

Reads the config and the latest checkpoint from --output (or --checkpoint),
runs the detector over every image (per-class NMS, a per-image cap; Mask
R-CNN's masks pasted into the image), writes the detections as COCO results
JSON (masks as RLE), evaluates them (VOC AP, COCO box and mask AP or MR^-2
by dataset, or --metric) and prints a per-class table and the seconds
per image. Unreadable images are skipped (logged with path and reason, and
counted). If inference stops (an error, Ctrl-C), the detections so far are
written to <results stem>.partial.json before the error is reported.
"""
import argparse
import json
import os
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

from tqdm import tqdm

from detect.datasets import BadInputError, dataset_label, get_dataset
from detect.engine.checkpoint import load_model, read_class_names
from detect.engine.inference import class_mapping, iter_inference, median_seconds
from detect.evaluation import save_results
from detect.engine.periodic_eval import eval_metrics
from detect.evaluation import METRICS, evaluate, json_ready


def results_path_problem(path):
    """Why the detections cannot be written to ``path`` (checked before the
    inference, not after it), or None."""
    if os.path.isdir(path):
        return f"is a folder; name a file, e.g. {os.path.join(path, 'detections.json')}"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return "not writable"
    return None


def model_to_dataset_classes(output, dataset):
    """class_mapping of the run's classes.json onto the dataset's classes,
    said when they differ (None: the same classes, or a run without
    classes.json)."""
    if not os.path.isfile(os.path.join(output, "classes.json")):
        return None
    names = read_class_names(output)
    mapping = class_mapping(names, dataset.class_names)
    if mapping is not None:
        print(f"the model's {len(names) - 1} classes map by name onto {len(mapping)} of the "
              f"dataset's {dataset.num_classes - 1}; detections of other classes are left out")
    known = set(mapping.values()) if mapping is not None else set(range(1, dataset.num_classes))
    unknown = [n for i, n in enumerate(dataset.class_names) if i > 0 and i not in known]
    if unknown:
        more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        print(f"warning: {dataset.name} ({dataset.coco_json or 'its annotations'}) has classes the "
              f"model was not trained on ({os.path.join(output, 'classes.json')}): {unknown[:8]}{more}; "
              "their AP is 0. Evaluate on a set with the training classes, or train on one with these",
              file=sys.stderr)
    return mapping


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="train_net.py output folder")
    p.add_argument("--dataset", help="default: the training config's DATASETS.TEST")
    p.add_argument("--data-dir")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (default: the run's "
                   "DATASETS.FILE; detect/datasets/by_path.py)")
    p.add_argument("--checkpoint", help="a checkpoint: <output>/checkpoints/ckpt-N, one of its files, "
                   "or a folder (its latest); default: the latest of --output")
    p.add_argument("--metric", nargs="+", choices=METRICS)
    p.add_argument("--results", help="detections file (default: <output>/detections_<dataset>.json)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE")
    a = p.parse_args(argv)
    problem = a.results and results_path_problem(a.results)
    if problem:
        print(f"error: --results {a.results}: {problem}", file=sys.stderr)
        return 2
    try:
        cfg, model, ckpt = load_model(a.output, a.checkpoint, a.set)
        name = a.dataset or cfg.DATASETS.TEST
        datasets_file = a.datasets_file or cfg.DATASETS.FILE or None
        dataset = get_dataset(name, a.data_dir or cfg.DATA_DIR, datasets_file=datasets_file)
        label = dataset_label(name, datasets_file)
        class_map = model_to_dataset_classes(a.output, dataset)
    except (KeyError, ValueError, FileNotFoundError, BadInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dataset.name}: {len(dataset)} images; checkpoint {ckpt}")
    path = a.results or os.path.join(a.output, f"detections_{label}.json")
    results, times = [], []
    try:
        for _, dets, secs in tqdm(iter_inference(model, dataset, cfg, class_map), total=len(dataset),
                                  desc="test",
                                  unit="img", disable=a.no_progress):
            results += dets
            times.append(secs)
    except (Exception, KeyboardInterrupt) as e:
        partial = os.path.splitext(path)[0] + ".partial.json"
        save_results(results, partial)
        first_line = (str(e).strip().splitlines() or [""])[0][:500]
        why = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {first_line}"
        print(f"error: inference stopped after {len(times)} of {len(dataset)} images ({why}); "
              f"the {len(results)} detections so far are in {partial}", file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    if not times:
        print(f"error: none of the {len(dataset)} images could be read (see the warnings above)",
              file=sys.stderr)
        return 1
    skipped = len(dataset) - len(times)
    if skipped:
        print(f"warning: {skipped} of {len(dataset)} images could not be read and were skipped "
              "(listed above); they count as images without detections below", file=sys.stderr)
    seconds = median_seconds(times)
    save_results(results, path)
    try:
        figures, report = evaluate(dataset, results, a.metric or eval_metrics(
            name, model.roi_heads.has_masks, dataset, datasets_file))
    except ValueError as e:  # e.g. no ground truth at all: an error, not a number
        print(f"error: {len(results)} detections written to {path}, but they cannot be "
              f"evaluated: {e}", file=sys.stderr)
        return 1
    print(report)
    print(f"\n{len(results)} detections written to {path}; {seconds:.3f} s per image (median)")
    with open(os.path.join(a.output, f"metrics_{label}.json"), "w") as f:
        json.dump(json_ready(dict(figures, seconds_per_image=seconds)), f, indent=2)
    return 0
