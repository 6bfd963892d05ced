"""Trains a detector.

    python tools/train_net.py --cfg experiments/cfgs/faster_rcnn_vgg16.yml \
        --dataset voc_2007_trainval --weights data/imagenet_weights/vgg16.h5 --iters 70000

    python tools/train_net.py --cfg experiments/cfgs/finetune_mask_rcnn_r50_fpn.yml \
        --weights output/d2_mask_rcnn_3x --dataset coco:train.json:images \
        --test-dataset coco:val.json:images --eval-period 500 --output output/mine

--dataset and --test-dataset take a name, coco:<annotations.json>:<image dir>
or voc:<VOC root>[:<split>] (stored with absolute paths in the run's
config.yml), or a name of --datasets-file (detect/datasets/by_path.py).
--eval-period N evaluates on DATASETS.TEST every N iterations and at the end
(TensorBoard eval/*, <output>/eval_log.jsonl, the best model in
<output>/best; detect/engine/periodic_eval.py); the test set is read and
its classes checked against the training set's before training starts.

Checkpoints, TensorBoard logs and the merged config go to --output
(default output/<arch>_<backbone>_<dataset>); --resume continues from the
latest checkpoint there. Ctrl-C saves a checkpoint first.

--resume without --cfg continues the run with its own <output>/config.yml
(--set and the flags still apply on top). Before anything in the run is
written, the checkpoint is restored: if it does not fit the model (another
backbone, ANCHOR.SCALES, ...) or holds NaN/inf, the tool stops, names the
settings that differ from the run's config.yml and leaves the run as it was.
The line "weights: ..." says what the model starts from (a random
initialization is said so).

Beyond one device (detect/engine/distribute.py; docs/training.md, "Training
on several GPUs and machines"): --strategy mirrored trains on every local GPU
(--cpu-devices N: on N logical CPU devices, for testing), --strategy
multi_worker on the machines of TF_CONFIG, the same command on each;
TRAIN.IMS_PER_BATCH is the global batch. --tfrecords reads the shards that
tools/convert_*.py wrote (each worker its share of the files).
TRAIN.PRECISION mixed_float16 / mixed_bfloat16 trains in mixed precision.
--profile START,STOP writes a TensorFlow profiler trace of those iterations
to <output>/tensorboard and prints the most expensive ops. Exit codes: 2 bad
input, 3 NaN/inf, 4 a worker of the cluster failed (restart every worker
with --resume).
"""
import argparse
import copy
import json
import os
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import tensorflow as tf

from detect.config import (cfg_to_yaml, diff_cfg, get_cfg, merge_from_file,
                           merge_from_list, validate_cfg)
from detect.datasets import BadInputError, dataset_label, get_dataset
from detect.datasets.by_path import pin_datasets
from detect.datasets.pipeline import build_pipeline, input_options
from detect.datasets.records import has_masks
from detect.engine import distribute
from detect.engine.batching import plan_batch
from detect.engine.checkpoint import (CheckpointError, CheckpointMismatchError, NonFiniteCheckpointError,
                                      NonFiniteError, list_checkpoints)
from detect.engine.finetune import find_pretrained, load_pretrained
from detect.engine.memory_check import MemoryBudgetError
from detect.engine.periodic_eval import PeriodicEvaluator, check_test_classes, eval_metrics
from detect.engine.profiling import parse_window
from detect.engine.trainer import NoTrainingDataError, Trainer
from detect.modeling.build import build_model
from detect.weights import WeightsFileError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cfg", help="YAML overrides (experiments/cfgs/*.yml)")
    p.add_argument("--dataset", help="training set (DATASETS.TRAIN, default toy_train): a name, "
                   "coco:<annotations.json>:<image dir> or voc:<VOC root>[:<split>]")
    p.add_argument("--test-dataset", help="the set --eval-period evaluates (DATASETS.TEST)")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (DATASETS.FILE; "
                   "detect/datasets/by_path.py)")
    p.add_argument("--eval-period", type=int, metavar="N",
                   help="evaluate on DATASETS.TEST every N iterations and at the end, to "
                        "TensorBoard and <output>/eval_log.jsonl, keeping the best model in "
                        "<output>/best (TEST.EVAL_PERIOD; 0: never)")
    p.add_argument("--data-dir", help="dataset root (default: DATA_DIR)")
    p.add_argument("--net", help="backbone: vgg16 | resnet50 | tiny (MODEL.BACKBONE)")
    p.add_argument("--weights", help="backbone weights, or a whole pretrained detector: a run folder "
                   "(train_net.py's or import_weights.py's) or a model zoo file, whose layers are "
                   "copied and whose predictor rows are kept for classes of the same name (MODEL.WEIGHTS)")
    p.add_argument("--iters", type=int, help="iterations (TRAIN.MAX_ITERS)")
    p.add_argument("--output", help="output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint (without --cfg: with the run's config.yml)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--strategy", choices=distribute.STRATEGIES,
                   help="tf.distribute strategy (TRAIN.STRATEGY): default (one device), mirrored "
                        "(every local GPU), multi_worker (the machines of TF_CONFIG)")
    p.add_argument("--cpu-devices", type=int, default=0, metavar="N",
                   help="split the CPU into N logical devices (--strategy mirrored without a GPU; "
                        "for testing)")
    p.add_argument("--tfrecords", metavar="PATTERN",
                   help="train from these TFRecord shards (tools/convert_*.py) instead of the "
                        "image files; --dataset still names the classes")
    p.add_argument("--profile", metavar="START,STOP",
                   help="profile iterations START..STOP (TensorBoard trace and an op table)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE", help="config overrides")
    return p.parse_args(argv)


def setup(a, base=None):
    """Defaults, then base (a YAML file: --cfg, or on --resume the run's own
    config.yml), then --set, then the other flags; range-checked."""
    cfg = get_cfg()
    if base:
        merge_from_file(cfg, base)
    merge_from_list(cfg, a.set)
    if a.net:
        cfg.MODEL.BACKBONE = a.net
    if a.weights is not None:
        cfg.MODEL.WEIGHTS = a.weights
    if a.iters is not None:
        cfg.TRAIN.MAX_ITERS = a.iters
    if a.data_dir:
        cfg.DATA_DIR = a.data_dir
    if a.dataset:
        cfg.DATASETS.TRAIN = a.dataset
    if a.test_dataset:
        cfg.DATASETS.TEST = a.test_dataset
    if a.datasets_file:
        cfg.DATASETS.FILE = a.datasets_file
    if a.eval_period is not None:
        cfg.TEST.EVAL_PERIOD = a.eval_period
    if cfg.DATASETS.FILE:  # path specs are made absolute by main (pin_datasets)
        cfg.DATASETS.FILE = os.path.abspath(cfg.DATASETS.FILE)
    if a.strategy:
        cfg.TRAIN.STRATEGY = a.strategy
    return validate_cfg(cfg)


def output_dir(a, cfg):
    label = dataset_label(cfg.DATASETS.TRAIN, cfg.DATASETS.FILE or None)
    return a.output or os.path.join(cfg.OUTPUT_DIR, f"{cfg.MODEL.ARCH}_{cfg.MODEL.BACKBONE}_{label}")


def describe_weights(cfg, restored=None):
    """The "weights: ..." line: what the model starts from."""
    w = cfg.MODEL.WEIGHTS
    if restored:
        return f"weights: restored from {restored}" + (f" (MODEL.WEIGHTS {w} not loaded)" if w else "")
    if not w:
        note = "" if cfg.MODEL.BACKBONE == "tiny" else (
            "; a pretrained backbone trains far better: --weights imagenet or a file (data/README.md)")
        return f"weights: random initialization (MODEL.WEIGHTS is empty){note}"
    if w == "imagenet":
        return f"weights: ImageNet {cfg.MODEL.BACKBONE} (keras.applications)"
    return f"weights: {w}"


def config_changes(saved_path, cfg):
    """'KEY old -> new' for each setting that differs from a run's saved
    config.yml; None if there is none or it does not load."""
    if not os.path.exists(saved_path):
        return None
    try:
        saved = merge_from_file(get_cfg(), saved_path)
    except (KeyError, ValueError, OSError):
        return None
    return [f"{k} {old!r} -> {new!r}" for k, old, new in diff_cfg(saved, cfg)]


def main(argv=None):
    a = parse_args(argv)
    try:
        if a.cpu_devices:  # before TensorFlow initializes its devices
            distribute.split_cpu(a.cpu_devices)
        window = parse_window(a.profile) if a.profile else None
        cfg = setup(a, a.cfg)
        if a.cpu_devices and cfg.TRAIN.STRATEGY != "mirrored":
            raise ValueError(f"--cpu-devices splits the CPU for --strategy mirrored; the strategy is "
                             f"{cfg.TRAIN.STRATEGY}")
        out = output_dir(a, cfg)
        saved_cfg = os.path.join(out, "config.yml")
        if a.resume and not a.cfg and os.path.exists(saved_cfg):
            cfg = setup(a, saved_cfg)
            print(f"config: {saved_cfg} (the run's own; --cfg not given)")
        # paths made absolute (or, holding ':' or '+', stored structured in
        # <out>/datasets.yml): the run's config.yml reads the same data from any folder
        (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST), pinned = pin_datasets(
            [cfg.DATASETS.TRAIN, cfg.DATASETS.TEST], cfg.DATASETS.FILE or None, out)
        cfg.DATASETS.FILE = pinned or ""
        datasets_file = cfg.DATASETS.FILE or None
        if not cfg.DATASETS.TRAIN:
            raise ValueError("no training set: pass --dataset (a name, coco:<annotations.json>:<image "
                             "dir> or voc:<VOC root>[:<split>]) or set DATASETS.TRAIN")
        if cfg.TEST.EVAL_PERIOD and not cfg.DATASETS.TEST:
            raise ValueError(f"TEST.EVAL_PERIOD is {cfg.TEST.EVAL_PERIOD} but DATASETS.TEST is empty: "
                             "pass --test-dataset, or --eval-period 0 to train without evaluating")
        dataset = get_dataset(cfg.DATASETS.TRAIN, cfg.DATA_DIR, datasets_file=datasets_file)
        source = dataset
        test_set = test_classes = None
        if cfg.TEST.EVAL_PERIOD:  # read and checked now, not after hours of training
            if cfg.TRAIN.STRATEGY == "multi_worker":
                raise ValueError("--eval-period runs on one machine; with --strategy multi_worker "
                                 "evaluate the checkpoints with tools/test_net.py")
            test_set = get_dataset(cfg.DATASETS.TEST, cfg.DATA_DIR, datasets_file=datasets_file)
            test_classes = check_test_classes(dataset, test_set)
        if a.tfrecords:
            source = sorted(tf.io.gfile.glob(a.tfrecords))
            if not source:
                raise FileNotFoundError(f"--tfrecords {a.tfrecords}: no file matches")
        if window and window[1] > cfg.TRAIN.MAX_ITERS:
            raise ValueError(f"--profile {a.profile}: the run ends at iteration {cfg.TRAIN.MAX_ITERS}")
        # multi_worker: waits here until every worker of TF_CONFIG has started
        strategy = distribute.build_strategy(cfg.TRAIN.STRATEGY, cfg.TRAIN.COLLECTIVE_TIMEOUT)
        plan = plan_batch(cfg.TRAIN.IMS_PER_BATCH, strategy, cfg.TRAIN.IMS_PER_DEVICE, cfg.TRAIN.STRATEGY)
    except (KeyError, ValueError, FileNotFoundError, BadInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(distribute.describe(strategy, cfg.TRAIN.STRATEGY))
    print(f"{plan.describe()} (TRAIN.IMS_PER_BATCH {cfg.TRAIN.IMS_PER_BATCH}, TRAIN.IMS_PER_DEVICE "
          f"{cfg.TRAIN.IMS_PER_DEVICE}; detect/engine/batching.py)")
    if cfg.MODEL.MASK_HEAD and not has_masks(dataset.records):
        print(f"error: MODEL.MASK_HEAD {cfg.MODEL.MASK_HEAD!r} trains on instance masks, and "
              f"{dataset.name} has none; use a COCO-format set with segmentations (e.g. "
              "toy_coco_train, coco_2017_train) or leave MODEL.MASK_HEAD empty", file=sys.stderr)
        return 2
    if cfg.MODEL.NUM_CLASSES != dataset.num_classes:
        print(f"MODEL.NUM_CLASSES set to {dataset.num_classes} for {dataset.name}")
        cfg.MODEL.NUM_CLASSES = dataset.num_classes
    checkpoints = list_checkpoints(os.path.join(out, "checkpoints"))
    if not a.resume and checkpoints:
        print(f"error: {out} already holds checkpoints; pass --resume to continue, or another "
              "--output", file=sys.stderr)
        return 2
    resuming = a.resume and bool(checkpoints)
    changes = config_changes(saved_cfg, cfg) if resuming else None
    print(f"{dataset.name}: {len(dataset)} images (annotations: {dataset.skips.summary()}; image files "
          f"are checked as training reads them); output in {out}")
    if test_set is not None:
        print(f"evaluating on {test_set.name} ({len(test_set)} images) every {cfg.TEST.EVAL_PERIOD} "
              "iterations and at the end")
    tf.keras.utils.set_random_seed(cfg.TRAIN.SEED)
    build_cfg = cfg
    # a whole pretrained detector (a run folder, a zoo file) is copied in
    # after the model is built, not given to the backbone
    pretrained = None
    if not resuming and cfg.MODEL.WEIGHTS not in ("", "imagenet"):
        if not os.path.exists(cfg.MODEL.WEIGHTS):
            print(f"error: MODEL.WEIGHTS {cfg.MODEL.WEIGHTS} does not exist: pass --weights with a run "
                  "folder (tools/import_weights.py's or train_net.py's --output), a model zoo file or "
                  "a backbone's weights file (data/README.md)", file=sys.stderr)
            return 2
        try:
            pretrained = find_pretrained(cfg.MODEL.WEIGHTS)
        except (WeightsFileError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if resuming or pretrained:  # the checkpoint holds every weight: no download, no weights file needed
        build_cfg = copy.deepcopy(cfg)
        build_cfg.MODEL.WEIGHTS = ""
    try:
        with strategy.scope():
            model = build_model(build_cfg)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    def data(context):
        """This input pipeline's batches of per_replica images (its share of the files)."""
        part = distribute.shard_source(source, context.num_input_pipelines, context.input_pipeline_id)
        return build_pipeline(part, training=True, batch_size=plan.per_replica,
                              scales=tuple(cfg.TRAIN.SCALES), max_size=cfg.TRAIN.MAX_SIZE,
                              flip=cfg.TRAIN.FLIP, seed=cfg.TRAIN.SEED, drop_empty=True, epochs=None,
                              drop_remainder=True, with_masks=bool(cfg.MODEL.MASK_HEAD),
                              mask_size=cfg.MODEL.MASK_GT_SIZE, **input_options(cfg))
    try:
        trainer = Trainer(cfg, model, data, out, strategy=strategy)
    except distribute.DistributionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if test_set is not None and trainer.chief:
        metrics = eval_metrics(cfg.DATASETS.TEST, bool(cfg.MODEL.MASK_HEAD), test_set, datasets_file)
        trainer.evaluator = PeriodicEvaluator(cfg, model, test_set, metrics, out, test_classes,
                                              progress=not a.no_progress)
        trainer.eval_period = cfg.TEST.EVAL_PERIOD
    restored = None
    if a.resume:
        try:  # before anything in the run is written
            restored = trainer.restore()
        except NonFiniteCheckpointError as e:
            print(f"error: {e}\nNothing in {out} was changed.", file=sys.stderr)
            return 2
        except CheckpointMismatchError as e:
            if changes:
                why = f"settings that differ from {saved_cfg}: " + "; ".join(changes)
            elif changes is None:
                why = f"{saved_cfg} is missing or does not load, so no settings can be compared"
            else:
                why = f"the settings are those of {saved_cfg}"
            print(f"error: {e}\n{why}.\nNothing in {out} was changed. To continue this run, resume "
                  "without --cfg (it uses the run's config.yml) and without --set for those keys; "
                  "for new settings, train into another --output.", file=sys.stderr)
            return 2
        except CheckpointError as e:  # files that cannot be read
            print(f"error: {e}\nNothing in {out} was changed.", file=sys.stderr)
            return 2
        print(f"resumed from {restored} (iteration {int(trainer.step.numpy())})" if restored
              else "no checkpoint to resume from; starting at iteration 0")
        if restored and changes:
            print(f"settings changed since {saved_cfg}: " + "; ".join(changes))
    if pretrained and not restored:
        try:
            with strategy.scope():
                trainer.build()
                report = load_pretrained(model, pretrained, dataset.class_names)
        except (WeightsFileError, FileNotFoundError, KeyError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print("\n".join(report.lines()))
    else:
        print(describe_weights(cfg, restored))
    if window and window[0] <= int(trainer.step.numpy()):
        print(f"error: --profile {a.profile}: the run resumes after iteration "
              f"{int(trainer.step.numpy())}; profile later iterations", file=sys.stderr)
        return 2
    # Training starts: only now are the run's config and classes (re)written (by the chief).
    if trainer.chief:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.yml"), "w") as f:
            f.write(cfg_to_yaml(cfg))
        with open(os.path.join(out, "classes.json"), "w") as f:
            json.dump(list(dataset.class_names), f)
    try:
        losses = trainer.train(cfg.TRAIN.MAX_ITERS, progress=not a.no_progress, profile=window)
    except NonFiniteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (NoTrainingDataError, distribute.DistributionError, MemoryBudgetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except tf.errors.ResourceExhaustedError as e:
        reason = (str(e.message).strip().splitlines() or ["out of memory"])[0][:300]
        smaller = plan.smaller()
        fix = (f"Set a smaller one, e.g. --set TRAIN.IMS_PER_DEVICE {smaller}: the global batch "
               f"{plan.global_batch} is then made of more accumulation steps, and the recipe's learning "
               "rate and schedule still hold" if smaller else
               "Even one image per step does not fit: train on smaller images (TRAIN.SCALES, "
               "TRAIN.MAX_SIZE) or on a device with more memory")
        print(f"error: training ran out of memory at iteration {int(trainer.step.numpy()) + 1} with "
              f"TRAIN.IMS_PER_DEVICE {plan.per_device} ({reason}). {fix}. Last checkpoint: "
              f"{trainer.last_checkpoint() or 'none'}.", file=sys.stderr)
        return 2
    except distribute.CLUSTER_ERRORS as e:
        if cfg.TRAIN.STRATEGY != "multi_worker":
            raise
        reason = distribute.cluster_error_reason(e)
        print(f"error: training stopped at iteration {int(trainer.step.numpy()) + 1}: another worker "
              f"of the cluster failed or cannot be reached ({type(e).__name__}: {reason[:300]}). "
              f"Restart every worker with --resume to continue from "
              f"{trainer.last_checkpoint() or 'the start (no checkpoint yet)'}.", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 130
    if not losses:  # resumed at or past TRAIN.MAX_ITERS
        print(f"nothing to train: the run is at iteration {int(trainer.step.numpy())} of "
              f"TRAIN.MAX_ITERS {cfg.TRAIN.MAX_ITERS}; checkpoint {trainer.last_checkpoint()}")
        return 0
    skipped = f" ({trainer.skipped} skipped for a loss-scale overflow)" if trainer.skipped else ""
    print(f"done: {int(trainer.step.numpy())} iterations{skipped}; checkpoint "
          f"{trainer.last_checkpoint()}; final losses "
          + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    if cfg.TRAIN.STRATEGY == "multi_worker":
        print(f"weights fingerprint {distribute.fingerprint(trainer.model.variables)} "
              "(the same on every worker)")
    return 0
