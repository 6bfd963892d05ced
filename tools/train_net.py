#!/usr/bin/env python
"""Trains a detector.

    python tools/train_net.py --cfg experiments/cfgs/faster_rcnn_vgg16.yml \
        --dataset voc_2007_trainval --weights data/imagenet_weights/vgg16.h5 --iters 70000

Checkpoints, TensorBoard logs and the merged config go to --output
(default output/<arch>_<backbone>_<dataset>); --resume continues from the
latest checkpoint there. Ctrl-C saves a checkpoint first.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import tensorflow as tf  # noqa: E402

from detect.config import cfg_to_yaml, get_cfg, merge_from_file, merge_from_list  # noqa: E402
from detect.datasets import BadInputError, get_dataset  # noqa: E402
from detect.datasets.pipeline import build_pipeline  # noqa: E402
from detect.engine.trainer import NonFiniteLossError, Trainer  # noqa: E402
from detect.modeling.detector import TwoStageDetector  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", help="YAML overrides (experiments/cfgs/*.yml)")
    p.add_argument("--dataset", help="training set (default: DATASETS.TRAIN, toy_train)")
    p.add_argument("--data-dir", help="dataset root (default: DATA_DIR)")
    p.add_argument("--net", help="backbone: vgg16 | resnet50 | tiny (MODEL.BACKBONE)")
    p.add_argument("--weights", help="backbone weights (MODEL.WEIGHTS)")
    p.add_argument("--iters", type=int, help="iterations (TRAIN.MAX_ITERS)")
    p.add_argument("--output", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY VALUE", help="config overrides")
    return p.parse_args(argv)


def setup(a):
    cfg = get_cfg()
    if a.cfg:
        merge_from_file(cfg, a.cfg)
    merge_from_list(cfg, a.set)
    if a.net:
        cfg.MODEL.BACKBONE = a.net
    if a.weights is not None:
        cfg.MODEL.WEIGHTS = a.weights
    if a.iters:
        cfg.TRAIN.MAX_ITERS = a.iters
    if a.data_dir:
        cfg.DATA_DIR = a.data_dir
    if a.dataset:
        cfg.DATASETS.TRAIN = a.dataset
    return cfg


def main(argv=None):
    a = parse_args(argv)
    try:
        cfg = setup(a)
        dataset = get_dataset(cfg.DATASETS.TRAIN, cfg.DATA_DIR)
    except (KeyError, ValueError, FileNotFoundError, BadInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cfg.MODEL.NUM_CLASSES != dataset.num_classes:
        print(f"MODEL.NUM_CLASSES set to {dataset.num_classes} for {dataset.name}")
        cfg.MODEL.NUM_CLASSES = dataset.num_classes
    out = a.output or os.path.join(cfg.OUTPUT_DIR, f"{cfg.MODEL.ARCH}_{cfg.MODEL.BACKBONE}_{cfg.DATASETS.TRAIN}")
    if not a.resume and tf.train.latest_checkpoint(os.path.join(out, "checkpoints")):
        print(f"error: {out} already holds checkpoints; pass --resume to continue, or another "
              "--output", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yml"), "w") as f:
        f.write(cfg_to_yaml(cfg))
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(list(dataset.class_names), f)
    print(f"{dataset.name}: {len(dataset)} images ({dataset.skips.summary()}); output in {out}")
    tf.keras.utils.set_random_seed(cfg.TRAIN.SEED)
    try:
        model = TwoStageDetector.from_cfg(cfg)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = build_pipeline(dataset, training=True, batch_size=cfg.TRAIN.IMS_PER_BATCH,
                          scales=tuple(cfg.TRAIN.SCALES), max_size=cfg.TRAIN.MAX_SIZE,
                          flip=cfg.TRAIN.FLIP, normalization=cfg.MODEL.PIXEL_NORMALIZATION,
                          seed=cfg.TRAIN.SEED, drop_empty=True, epochs=None, drop_remainder=True)
    trainer = Trainer(cfg, model, data, out)
    if a.resume:
        path = trainer.restore()
        print(f"resumed from {path} (iteration {int(trainer.step.numpy())})" if path
              else "no checkpoint to resume from; starting at iteration 0")
    try:
        losses = trainer.train(cfg.TRAIN.MAX_ITERS, progress=not a.no_progress)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    print(f"done: {int(trainer.step.numpy())} iterations; checkpoint {trainer.manager.latest_checkpoint}; "
          "final losses " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
