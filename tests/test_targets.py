"""Anchor targets, proposal generation, RoI sampling and losses."""
import numpy as np
import pytest
import tensorflow as tf

from detect.boxes import box_ops
from detect.losses import rcnn_losses, rpn_losses, smooth_l1
from detect.modeling.proposals import generate_proposals
from detect.targets.anchor_targets import anchor_targets
from detect.targets.proposal_targets import sample_rois
from detect.targets.sampling import random_subset

SEED = tf.constant([1, 2], tf.int32)


def test_anchor_labels_hand_case():
    anchors = tf.constant([[10, 10, 50, 50],     # exact match: fg
                           [10, 10, 50, 90],     # IoU 0.5: between thresholds, ignored
                           [100, 100, 140, 140], # far: bg
                           [-30, 10, 10, 50],    # crosses the left edge: ignored
                           [60, 60, 70, 70]],    # small, far: bg
                          tf.float32)
    labels, targets = anchor_targets(anchors, [[10, 10, 50, 50]], [False], 200, 200, SEED)
    assert labels.numpy().tolist() == [1, -1, 0, -1, 0]
    np.testing.assert_allclose(targets.numpy()[0], 0, atol=1e-6)
    assert np.all(targets.numpy()[1:] == 0)


def test_every_gt_gets_its_best_anchor_and_crowds_are_not_background():
    anchors = tf.constant([[0, 0, 40, 40], [100, 100, 120, 120], [150, 150, 190, 190]], tf.float32)
    gt = [[5, 5, 30, 30], [140, 140, 200, 200]]
    labels, targets = anchor_targets(anchors, gt, [False, True], 200, 200, SEED)
    # IoU of anchor 0 with gt 0 is 0.39 < 0.7, but it is that box's best anchor
    assert labels.numpy().tolist() == [1, 0, -1]
    # its target, by hand: anchor 40 x 40 centred at 20, gt 25 x 25 centred
    # at 17.5 -> dx = dy = -2.5 / 40, dw = dh = log(25 / 40) (RPN: no stds)
    np.testing.assert_allclose(targets.numpy()[0], [-0.0625, -0.0625, np.log(0.625), np.log(0.625)],
                               rtol=1e-5, atol=1e-6)
    labels, _ = anchor_targets(anchors, tf.zeros([0, 4]), tf.zeros([0], tf.bool), 200, 200, SEED)
    assert labels.numpy().tolist() == [0, 0, 0]  # no objects: everything is background


@pytest.mark.parametrize("num_pos,num_neg,batch,fraction", [(300, 5000, 256, 0.5), (10, 5000, 256, 0.5),
                                                             (200, 20, 256, 0.5), (50, 50, 64, 0.25)])
def test_sampled_counts(num_pos, num_neg, batch, fraction):
    # num_pos anchors on the gt box, num_neg far away
    pos = np.tile([[10, 10, 50, 50]], (num_pos, 1))
    neg = np.tile([[150, 150, 190, 190]], (num_neg, 1))
    anchors = tf.constant(np.vstack([pos, neg]), tf.float32)
    labels, _ = anchor_targets(anchors, [[10, 10, 50, 50]], [False], 200, 200, SEED,
                               batch_size=batch, fg_fraction=fraction)
    labels = labels.numpy()
    fg, bg = (labels == 1).sum(), (labels == 0).sum()
    assert fg == min(num_pos, int(batch * fraction))
    assert bg == min(num_neg, batch - fg)
    again, _ = anchor_targets(anchors, [[10, 10, 50, 50]], [False], 200, 200, SEED,
                              batch_size=batch, fg_fraction=fraction)
    assert np.array_equal(again.numpy(), labels)  # deterministic for a seed


def test_random_subset_is_uniform_and_bounded():
    mask = tf.constant([True] * 10 + [False] * 5)
    picks = np.zeros(15)
    for s in range(200):
        sub = random_subset(mask, 3, tf.constant([s, 0])).numpy()
        assert sub.sum() == 3 and not sub[10:].any()
        picks += sub
    assert picks[:10].min() > 30  # each of the 10 chosen about 60 times


def test_generate_proposals():
    anchors = tf.constant([[0, 0, 50, 50], [1, 1, 51, 51], [100, 100, 160, 160], [0, 0, 8, 8],
                           [-20, -20, 40, 40]], tf.float32)
    scores = tf.constant([0.9, 0.8, 0.7, 0.95, 0.6])
    boxes, kept = generate_proposals(anchors, scores, tf.zeros([5, 4]), 120, 150,
                                     pre_nms_top_n=10, post_nms_top_n=10, nms_thresh=0.7, min_size=16)
    # the 8-pixel box is too small; anchor 1 overlaps anchor 0; anchor 4 is clipped to the image
    np.testing.assert_allclose(boxes.numpy(), [[0, 0, 50, 50], [100, 100, 150, 120], [0, 0, 40, 40]])
    np.testing.assert_allclose(kept.numpy(), [0.9, 0.7, 0.6])
    boxes, _ = generate_proposals(anchors, scores, tf.zeros([5, 4]), 120, 150, pre_nms_top_n=2,
                                  post_nms_top_n=1, min_size=16)
    assert boxes.shape == (1, 4)


def test_sample_rois_counts_labels_targets():
    rng = np.random.default_rng(0)
    gt = np.array([[20, 20, 80, 80], [100, 20, 140, 100]], np.float32)
    jitter = rng.uniform(-4, 4, (40, 4)).astype(np.float32)
    near = np.vstack([gt[0] + jitter[:20], gt[1] + jitter[20:]])
    far = rng.uniform(150, 190, (300, 2)).astype(np.float32)
    far = np.hstack([far, far + 8])
    proposals = np.vstack([near, far])
    rois, labels, targets, matches = sample_rois(proposals, gt, [3, 5], [False, False], SEED,
                                                 batch_size=32, fg_fraction=0.25)
    labels, matches = labels.numpy(), matches.numpy()
    assert len(labels) == 32 and (labels > 0).sum() == 8 and set(labels[labels > 0]) <= {3, 5}
    assert np.all(labels[8:] == 0)  # foreground first
    fg = labels > 0
    iou = box_ops.pairwise_iou(rois[:8], gt).numpy()
    matched = gt[iou.argmax(1)]
    np.testing.assert_array_equal(matches[:8], iou.argmax(1))  # the gt row of each fg RoI
    assert np.all(matches[8:] == -1) and np.all(labels[:8] == np.array([3, 5])[matches[:8]])
    np.testing.assert_allclose(targets.numpy()[fg],
                               box_ops.encode(rois[:8], matched, (0.1, 0.1, 0.2, 0.2)).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert np.all(targets.numpy()[~fg] == 0)
    # no proposals at all: the ground truth itself is sampled as foreground
    rois, labels, _, _ = sample_rois(tf.zeros([0, 4]), gt, [3, 5], [False, False], SEED)
    assert sorted(labels.numpy().tolist()) == [3, 5]
    # a crowd row before the objects: matches index the rows as given
    with_crowd = np.vstack([[0, 0, 10, 10], gt]).astype(np.float32)
    _, labels, _, matches = sample_rois(tf.zeros([0, 4]), with_crowd, [1, 3, 5], [True, False, False],
                                        SEED)
    assert sorted(zip(labels.numpy().tolist(), matches.numpy().tolist())) == [(3, 1), (5, 2)]


def test_sample_rois_target_hand_values():
    # gt 20 x 20 centred at (10, 10); the proposal 20 x 30 centred at
    # (10, 15), IoU 2/3: dy = -5 / 30, dh = log(20 / 30), over the stds
    # (0.1, 0.1, 0.2, 0.2); the gt itself, also sampled, has zero targets
    gt = np.array([[0, 0, 20, 20]], np.float32)
    rois, labels, targets, _ = sample_rois(np.array([[0, 0, 20, 30]], np.float32), gt, [2], [False],
                                           SEED, batch_size=4, fg_fraction=0.5)
    rois, labels, targets = rois.numpy(), labels.numpy(), targets.numpy()
    assert labels[:2].tolist() == [2, 2]
    by_roi = {tuple(r): t for r, t in zip(rois[:2].tolist(), targets[:2])}
    np.testing.assert_allclose(by_roi[(0, 0, 20, 30)], [0, -5 / 30 / 0.1, 0, np.log(2 / 3) / 0.2],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(by_roi[(0, 0, 20, 20)], 0, atol=1e-6)


def test_losses_hand_values():
    np.testing.assert_allclose(smooth_l1(tf.constant([0.0, 0.05, 2.0]), 0.0, sigma=3.0).numpy(),
                               [0.0, 0.5 * 9 * 0.0025, 2.0 - 0.5 / 9], rtol=1e-6)
    logits = tf.constant([10.0, -10.0, 0.0])
    labels = tf.constant([1, 0, -1])
    out = rpn_losses(logits, tf.zeros([3, 4]), labels, tf.ones([3, 4]) * 0.5, sigma=1.0)
    assert out["rpn_cls"].numpy() == pytest.approx(np.log1p(np.exp(-10.0)), rel=1e-4)
    # one foreground anchor, 4 coordinates of 0.5 -> 4 * 0.125, over 2 sampled
    assert out["rpn_box"].numpy() == pytest.approx(4 * 0.125 / 2)
    logits = tf.constant([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    deltas = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 100)
    out = rcnn_losses(logits, deltas, tf.constant([2, 0]), tf.zeros([2, 4]))
    assert out["rcnn_cls"].numpy() == pytest.approx(np.log(3.0))
    chosen = np.arange(24).reshape(2, 3, 4)[0, 2] / 100  # class 2 of RoI 0
    assert out["rcnn_box"].numpy() == pytest.approx((0.5 * chosen ** 2).sum() / 2, rel=1e-5)
