#!/usr/bin/env python
"""Evaluates a trained detector on a dataset.

    python tools/test_net.py --output output/faster_rcnn_tiny_toy_train --dataset toy_test

Reads the config and the latest checkpoint from --output (or --checkpoint),
runs the detector over every image (per-class NMS, a per-image cap), writes
the detections as COCO results JSON, evaluates them (VOC AP, COCO AP or
MR^-2 by dataset, or --metric) and prints a per-class table and the seconds
per image.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import tensorflow as tf  # noqa: E402

from detect.config import get_cfg, merge_from_file, merge_from_list  # noqa: E402
from detect.datasets import BadInputError, get_dataset  # noqa: E402
from detect.engine.inference import run_inference  # noqa: E402
from detect.evaluation import save_results  # noqa: E402
from detect.modeling.detector import TwoStageDetector  # noqa: E402
from reval import METRICS, default_metrics, evaluate  # noqa: E402


def load_model(output, checkpoint=None, overrides=()):
    """(cfg, model) from a training output folder, weights restored."""
    cfg = get_cfg()
    cfg_path = os.path.join(output, "config.yml")
    if not os.path.exists(cfg_path):
        raise FileNotFoundError(f"{cfg_path} does not exist: --output must be a train_net.py output folder")
    merge_from_file(cfg, cfg_path)
    merge_from_list(cfg, list(overrides))
    model = TwoStageDetector.from_cfg(cfg)
    path = checkpoint or tf.train.latest_checkpoint(os.path.join(output, "checkpoints"))
    if not path:
        raise FileNotFoundError(f"no checkpoint in {os.path.join(output, 'checkpoints')}")
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))  # create the variables
    status = tf.train.Checkpoint(model=model).restore(path)
    status.expect_partial().assert_existing_objects_matched()
    return cfg, model, path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="train_net.py output folder")
    p.add_argument("--dataset", help="default: the training config's DATASETS.TEST")
    p.add_argument("--data-dir")
    p.add_argument("--checkpoint", help="a checkpoint path (default: the latest)")
    p.add_argument("--metric", nargs="+", choices=METRICS)
    p.add_argument("--results", help="detections file (default: <output>/detections_<dataset>.json)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY VALUE")
    a = p.parse_args(argv)
    try:
        cfg, model, ckpt = load_model(a.output, a.checkpoint, a.set)
        name = a.dataset or cfg.DATASETS.TEST
        dataset = get_dataset(name, a.data_dir or cfg.DATA_DIR)
    except (KeyError, ValueError, FileNotFoundError, BadInputError, AssertionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dataset.name}: {len(dataset)} images; checkpoint {ckpt}")
    results, seconds = run_inference(model, dataset, cfg, progress=not a.no_progress)
    path = a.results or os.path.join(a.output, f"detections_{name}.json")
    save_results(results, path)
    figures, report = evaluate(dataset, results, a.metric or default_metrics(name))
    print(report)
    print(f"\n{len(results)} detections written to {path}; {seconds:.3f} s per image (median)")
    with open(os.path.join(a.output, f"metrics_{name}.json"), "w") as f:
        json.dump(dict(figures, seconds_per_image=seconds), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
