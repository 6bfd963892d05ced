"""Training learns: each head (box with RoI pooling, R-FCN with PS-RoI
pooling, Mask R-CNN with RoIAlign) overfits one batch of toy images within a
set number of steps of the real training step (Trainer: SGD with momentum,
weight decay, the config's learning rate).

Losses alone can mislead (the box loss is averaged over sampled RoIs, and
more of them are foreground as the RPN improves), so the check also asks
the heads what they learned, on RoIs that do not depend on training: the
ground-truth boxes shifted by a fixed fraction. Before training the heads
guess (class accuracy near 1/3, boxes no better than the shifted RoIs, masks
near half the box); after it they must name the class, move each box onto
its object and outline its mask. A model that never improves fails here,
whatever its losses' finiteness.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from detect.boxes import box_ops
from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.datasets import get_dataset
from detect.datasets.pipeline import build_pipeline
from detect.datasets.toy import write_toy_dataset
from detect.engine.trainer import Trainer
from detect.modeling.build import build_model

pytestmark = pytest.mark.slow  # learning checks: each head overfits a batch, a short toy run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["TRAIN.SCALES", "[96]", "TRAIN.MAX_SIZE", "128", "TEST.SCALES", "[96]", "TEST.MAX_SIZE", "128",
         "TRAIN.WARMUP_ITERS", "50", "TRAIN.SNAPSHOT_ITERS", "1000", "TRAIN.IMS_PER_BATCH", "2",
         "MODEL.NUM_CLASSES", "4"]
CASES = {  # config file, overrides, steps
    "box-roi_pool": ("toy_quickstart.yml", ["MODEL.POOLER", "roi_pool"], 200),
    # R-FCN's PS-RoI pooling rounds RoIs to whole cells: at stride 8 a shift
    # of 10% of a 14-25 px wide toy object moves no bin, and its x offsets
    # cannot be learned (dy was, dx not); at stride 4 both are
    "rfcn-ps_roi_pool": ("toy_quickstart.yml", ["MODEL.ARCH", "rfcn", "MODEL.RFCN_GROUP_SIZE", "3",
                                                "MODEL.FEATURE_STRIDE", "4"], 400),
    "mask-roi_align": ("toy_mask_rcnn.yml", [], 200),
}


def _cfg(name):
    file, extra, _ = CASES[name]
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", file))
    return merge_from_list(cfg, SMALL + extra)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    write_toy_dataset(str(root / "toy"), num_train=4, num_test=1, seed=9, workers=1)
    return str(root)


def _batch(cfg, data_root):
    data = build_pipeline(get_dataset("toy_coco_train", data_root), training=True, batch_size=2,
                          scales=(96,), max_size=128, seed=1, drop_empty=True, drop_remainder=True,
                          normalization="torch", with_masks=bool(cfg.MODEL.MASK_HEAD),
                          mask_size=cfg.MODEL.MASK_GT_SIZE)
    return next(iter(data))


SHIFTS = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]]) * 0.1  # of the box's width, height


def _shifted_gt_rois(batch):
    """Each ground-truth box moved by 10% of its size in the four diagonal
    directions (IoU with their box 0.68): [R, 5] RoIs, their gt boxes
    [R, 4], classes [R] and gt masks [R, M, M] (cropped to the box by the
    pipeline), R = 4 x the objects."""
    rois, boxes, classes, masks = [], [], [], []
    for i, n in enumerate(batch["num_objects"].numpy()):
        b = batch["boxes"][i, :n].numpy()
        wh = b[:, 2:] - b[:, :2]
        for shift in SHIFTS:
            rois.append(np.hstack([np.full((n, 1), i), b + np.tile(shift * wh, 2)]))
            boxes.append(b)
            classes.append(batch["classes"][i, :n].numpy())
            if "masks" in batch:
                masks.append(batch["masks"][i, :n].numpy())
    return (np.vstack(rois).astype(np.float32), np.vstack(boxes), np.concatenate(classes),
            np.concatenate(masks) if masks else None)


def _diagonal_iou(a, b):
    return np.diag(box_ops.pairwise_iou(tf.constant(a, tf.float32), tf.constant(b, tf.float32)).numpy())


def _heads(model, cfg, batch):
    """What the heads say on the shifted ground-truth RoIs: class accuracy,
    the mean IoU of their refined boxes with the objects, and the mean mask
    IoU (None without a mask head)."""
    rois, gt, classes, gt_masks = _shifted_gt_rois(batch)
    features = model.features(batch["image"])
    logits, deltas = model.roi_heads(features, tf.constant(rois))
    accuracy = float(np.mean(np.argmax(logits.numpy(), axis=1) == classes))
    per_class = deltas.numpy()[np.arange(len(rois)), classes if deltas.shape[1] > 1 else 0]
    refined = box_ops.decode(tf.constant(rois[:, 1:]), tf.constant(per_class), cfg.TRAIN.BBOX_STDS)
    box_iou = float(np.mean(_diagonal_iou(refined.numpy(), gt)))
    mask_iou = None
    if gt_masks is not None:
        exact = np.hstack([rois[:, :1], gt]).astype(np.float32)  # the mask head on the object's box
        logits = model.roi_heads.mask_logits(features, tf.constant(exact), tf.constant(classes, tf.int32))
        m = logits.shape[1]
        want = tf.image.resize(gt_masks[..., None], (m, m), "area")[..., 0].numpy() >= 0.5
        got = logits.numpy() > 0
        mask_iou = float(np.mean((got & want).sum((1, 2)) / np.maximum((got | want).sum((1, 2)), 1)))
    return accuracy, box_iou, mask_iou


def _recall(model, batch, min_score=0.5):
    """The fraction of the batch's objects that a detection of their class
    with a score of at least min_score covers by IoU >= 0.5."""
    out = model.detect(batch["image"], batch["image_size"])
    found, total = 0, 0
    for i, n in enumerate(batch["num_objects"].numpy()):
        k = int(out["num_detections"][i])
        keep = out["scores"][i, :k].numpy() >= min_score
        boxes, classes = out["boxes"][i, :k].numpy()[keep], out["classes"][i, :k].numpy()[keep]
        total += n
        if len(boxes):
            iou = box_ops.pairwise_iou(batch["boxes"][i, :n], tf.constant(boxes)).numpy()
            same = batch["classes"][i, :n].numpy()[:, None] == classes[None, :]
            found += int((np.where(same, iou, 0.0).max(axis=1) >= 0.5).sum())
    return found / total


def overfit(name, data_root, out, seed=0, steps=None):
    """Trains CASES[name] on one batch; returns {"before", "after": (class
    accuracy, box IoU, mask IoU), "recall": (before, after), "shifted_iou",
    "history": [losses per step]}."""
    cfg = _cfg(name)
    tf.keras.utils.set_random_seed(seed)  # first: the pipeline's shuffle draws from the global seed
    batch = _batch(cfg, data_root)
    trainer = Trainer(cfg, build_model(cfg), [batch], out)
    trainer.build(batch)
    rois, gt, _, _ = _shifted_gt_rois(batch)
    report = {"shifted_iou": float(np.mean(_diagonal_iou(rois[:, 1:], gt))),
              "before": _heads(trainer.model, cfg, batch), "history": []}
    recall_before = _recall(trainer.model, batch)
    step = trainer._train_step_fn()
    for i in range(steps or CASES[name][2]):
        losses, finite = step(batch, tf.constant([seed, i], tf.int32))
        report["history"].append({k: float(v) for k, v in losses.items()})
        assert all(bool(v) for v in finite.values()), (i, report["history"][-1])
    report["after"] = _heads(trainer.model, cfg, batch)
    report["recall"] = (recall_before, _recall(trainer.model, batch))
    return report


@pytest.mark.parametrize("name", list(CASES))
def test_each_head_overfits_one_batch(name, data_root, tmp_path):
    r = overfit(name, data_root, str(tmp_path))
    history = r["history"]
    summary = {k: v for k, v in r.items() if k != "history"}
    summary.update(first=history[0], last=history[-1])

    def fell(k):  # the mean of the last 5 steps over the first: single steps are noisy
        return np.mean([h[k] for h in history[-5:]]) / history[0][k]

    # measured (seeds 0-3, 2-core AVX-512 EPYC): rpn_cls fell to 0.00-0.02 of
    # its first value, rpn_box 0.00-0.02, rcnn_cls 0.01-0.16, total 0.02-0.2,
    # mask 0.07-0.09
    assert fell("rpn_cls") < 0.25 and fell("rpn_box") < 0.5, summary
    assert fell("rcnn_cls") < 0.5 and fell("total") < 0.5, summary
    # the detector finds the objects it was trained on (random init: no
    # score reaches 0.5 among 4 classes); measured 0.75-1.0 of 8 objects
    assert r["recall"][0] == 0.0 and r["recall"][1] >= 0.5, summary
    # the box head moves the shifted boxes towards their objects: IoU 0.68
    # before, 0.73-0.87 after (never below 0.73)
    assert r["after"][1] > r["shifted_iou"] + 0.03, summary
    if r["before"][2] is not None:  # the mask head outlines the objects: mask IoU 0.96-0.97
        assert fell("mask") < 0.5, summary
        assert r["after"][2] > 0.8 and r["after"][2] > r["before"][2] + 0.2, summary


def test_a_short_toy_run_clears_a_floor_well_above_chance(tmp_path):
    """train_net.py as a user runs it: 300 iterations of the quick start's
    Faster R-CNN on 200 toy images, evaluated on 30 held-out ones. Measured
    on a 2-core AVX-512 EPYC: the random initialization (one step at a
    learning rate of 1e-9, every score kept) VOC07 mAP 0.008; after 300
    iterations 0.37, 0.29 and 0.28 (TRAIN.SEED 1, 2, 3); the quick start's
    3,500 iterations reach 0.90. The floor, 0.1, is 12 times chance."""
    from tests.engine.runs import tool

    data, out = tmp_path / "data", tmp_path / "run"
    write_toy_dataset(str(data / "toy"), num_train=200, num_test=30, seed=5, workers=1)
    code = tool("train_net").main([
        "--cfg", os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"), "--dataset", "toy_train",
        "--test-dataset", "toy_test", "--data-dir", str(data), "--iters", "300", "--eval-period", "300",
        "--output", str(out), "--no-progress",
        "--set", "TRAIN.SNAPSHOT_ITERS", "1000", "TRAIN.STEPS", "[250]", "TRAIN.WARMUP_ITERS", "50"])
    assert code == 0
    (entry,) = [json.loads(line) for line in open(out / "eval_log.jsonl")]
    assert entry["iteration"] == 300 and entry["main"]["name"] == "voc07/mAP"
    assert entry["main"]["value"] >= 0.1, entry["main"]
