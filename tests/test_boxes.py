"""Box arithmetic and anchors."""
import numpy as np
import pytest
import tensorflow as tf

from detect.boxes import box_ops
from detect.boxes.anchors import grid_anchors, reference_anchors
from detect.utils.cython_bbox import bbox_overlaps

# what py-faster-rcnn's generate_anchors() returns for base 16, ratios
# (0.5, 1, 2), scales (8, 16, 32) (its header comment shows an older table)
PY_FASTER_RCNN_TABLE = np.array([
    [-84, -40, 99, 55], [-176, -88, 191, 103], [-360, -184, 375, 199],
    [-56, -56, 71, 71], [-120, -120, 135, 135], [-248, -248, 263, 263],
    [-36, -80, 51, 95], [-80, -168, 95, 183], [-168, -344, 183, 359]], np.float32)


def test_reference_anchor_table():
    np.testing.assert_array_equal(reference_anchors(), PY_FASTER_RCNN_TABLE + [0, 0, 1, 1])
    a = reference_anchors(16, (1.0,), (1,))
    np.testing.assert_array_equal(a, [[0, 0, 16, 16]])  # one cell, centred on pixel 8


def test_grid_anchors_order_and_shift():
    ref = reference_anchors()
    anchors = grid_anchors(ref, 2, 3, 16).numpy()
    assert anchors.shape == (2 * 3 * 9, 4)
    # cell (h=1, w=2), anchor 4 sits at index (1 * 3 + 2) * 9 + 4, shifted by (32, 16)
    np.testing.assert_array_equal(anchors[(1 * 3 + 2) * 9 + 4], ref[4] + [32, 16, 32, 16])


def test_encode_and_decode_hand_values():
    # box: 10 x 10 centred at (5, 5); target: 10 wide, 20 high, centred at
    # (10, 10): half a width right, half a height down, same width, twice
    # the height -> deltas (0.5, 0.5, 0, log 2)
    box = tf.constant([[0.0, 0, 10, 10]])
    target = tf.constant([[5.0, 0, 15, 20]])
    np.testing.assert_allclose(box_ops.encode(box, target).numpy(), [[0.5, 0.5, 0.0, np.log(2.0)]],
                               rtol=1e-6, atol=1e-7)
    # divided by the stds: 0.5 / 0.1, 0.5 / 0.1, 0 / 0.2, log 2 / 0.2
    np.testing.assert_allclose(box_ops.encode(box, target, (0.1, 0.1, 0.2, 0.2)).numpy(),
                               [[5.0, 5.0, 0.0, np.log(2.0) / 0.2]], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(box_ops.decode(box, tf.constant([[0.5, 0.5, 0.0, np.log(2.0)]])).numpy(),
                               target.numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(box_ops.decode(box, tf.constant([[5.0, 5.0, 0.0, np.log(2.0) / 0.2]]),
                                              (0.1, 0.1, 0.2, 0.2)).numpy(), target.numpy(), atol=1e-5)
    # a box 20 wide at x 10-30 shifted left by a quarter of its width and
    # halved: centre 20 - 5 = 15, width 10 -> x 10-20 (y unchanged)
    np.testing.assert_allclose(box_ops.decode(tf.constant([[10.0, 0, 30, 8]]),
                                              tf.constant([[-0.25, 0.0, -np.log(2.0), 0.0]])).numpy(),
                               [[10, 0, 20, 8]], atol=1e-5)


def test_decode_clips_the_log_scale_at_log_1000_over_16():
    # dw = dh = 100 are clipped to log(1000 / 16): the 10-pixel box grows
    # 62.5 times to 625 pixels about its centre (5, 5)
    assert box_ops.MAX_LOG_SCALE == pytest.approx(np.log(62.5))
    big = box_ops.decode(tf.constant([[0.0, 0, 10, 10]]), tf.constant([[0, 0, 100.0, 100.0]])).numpy()
    np.testing.assert_allclose(big, [[5 - 312.5, 5 - 312.5, 5 + 312.5, 5 + 312.5]], rtol=1e-5)
    # just under the clip the size follows exp: not clipped
    under = box_ops.decode(tf.constant([[0.0, 0, 10, 10]]), tf.constant([[0, 0, np.log(50.0), 0]])).numpy()
    np.testing.assert_allclose(under, [[5 - 250, 0, 5 + 250, 10]], rtol=1e-5)
    # a shrinking delta is not clipped from below
    small = box_ops.decode(tf.constant([[0.0, 0, 10, 10]]), tf.constant([[0, 0, -100.0, 0]])).numpy()
    np.testing.assert_allclose(small, [[5, 0, 5, 10]], atol=1e-5)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (50, 2))
    boxes = np.hstack([xy, xy + rng.uniform(1, 50, (50, 2))]).astype(np.float32)
    xy = rng.uniform(0, 100, (50, 2))
    targets = np.hstack([xy, xy + rng.uniform(1, 50, (50, 2))]).astype(np.float32)
    stds = (0.1, 0.1, 0.2, 0.2)
    deltas = box_ops.encode(boxes, targets, stds)
    np.testing.assert_allclose(box_ops.decode(boxes, deltas, stds), targets, rtol=1e-4, atol=1e-3)
    # a box onto itself: zero deltas
    np.testing.assert_allclose(box_ops.encode(boxes, boxes), 0, atol=1e-6)


def test_iou_matches_cython_and_clip():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (30, 2))
    a = np.hstack([xy, xy + rng.uniform(0, 50, (30, 2))]).astype(np.float32)
    b = a[::-1] + 3
    np.testing.assert_allclose(box_ops.pairwise_iou(a, b), bbox_overlaps(a, b), rtol=1e-5, atol=1e-6)
    c = box_ops.clip(tf.constant([[-5.0, 3, 120, 90]]), 80, 100).numpy()
    np.testing.assert_array_equal(c, [[0, 3, 100, 80]])
    assert box_ops.keep_min_size(tf.constant([[0.0, 0, 15, 20], [0, 0, 16, 16]]), 16).numpy().tolist() == [False, True]


def test_tf_image_boundary():
    b = box_ops.to_tf_image_boxes(tf.constant([[10.0, 20, 30, 60]]), 100, 50).numpy()
    np.testing.assert_allclose(b, [[0.2, 0.2, 0.6, 0.6]])


def test_box_voting_averages_same_class_overlaps_by_score():
    from detect.boxes.box_ops import box_voting

    # 3 candidates, 2 classes: [N, C, 4]
    boxes = tf.constant([[[0, 0, 10, 10], [0, 0, 10, 10]],
                         [[1, 1, 11, 11], [50, 50, 60, 60]],
                         [[30, 30, 40, 40], [0, 0, 10, 10]]], tf.float32)
    scores = tf.constant([[0.9, 0.2], [0.3, 0.8], [0.5, 0.1]])
    kept = tf.constant([[0, 0, 10, 10], [50, 50, 60, 60]], tf.float32)
    voted = box_voting(kept, tf.constant([0, 1]), boxes, scores, iou_threshold=0.5).numpy()
    # class 0: boxes 0 and 1 overlap (IoU 0.68), box 2 does not
    np.testing.assert_allclose(voted[0], (0.9 * np.array([0, 0, 10, 10]) + 0.3 * np.array([1, 1, 11, 11])) / 1.2,
                               rtol=1e-5)
    np.testing.assert_allclose(voted[1], [50, 50, 60, 60])  # only itself
    # a threshold above every overlap keeps each box's own coordinates
    same = box_voting(kept, tf.constant([0, 1]), boxes, scores, iou_threshold=0.99).numpy()
    np.testing.assert_allclose(same, kept.numpy())
