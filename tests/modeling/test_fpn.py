"""FPN levels, RoI level assignment, the multi-level pooler and per-level proposals."""
import numpy as np
import pytest
import tensorflow as tf

from detect.modeling.backbones import BACKBONES
from detect.modeling.fpn import FPN
from detect.modeling.poolers import ROIPooler, assign_levels
from detect.modeling.proposals import generate_proposals
from detect.ops import roi_align


@pytest.mark.parametrize("size", [(96, 128), (100, 130)])
def test_fpn_levels_shapes_and_strides(size):
    backbone = BACKBONES.get("tiny")(levels=[2, 3, 4])
    fpn = FPN(backbone.strides, channels=16, top_level=6)
    c = backbone(tf.zeros([2, *size, 3]))
    p = fpn(c)
    assert fpn.strides == {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
    assert sorted(p) == sorted(fpn.strides)
    for k in (2, 3, 4):  # same grid as the backbone level
        assert p[f"p{k}"].shape == (2, *c[f"c{k}"].shape[1:3], 16)
    # levels above the backbone: stride-2 subsampling, ceil sizes
    assert p["p5"].shape[1:3] == (-(-p["p4"].shape[1] // 2), -(-p["p4"].shape[2] // 2))
    np.testing.assert_array_equal(p["p6"].numpy(), p["p5"].numpy()[:, ::2, ::2])


def test_fpn_top_down_is_nearest_upsampling_plus_lateral():
    """With 1x1 identity laterals and identity 3x3 outputs, p_k = c_k + up(p_{k+1})."""
    c = {"c2": tf.random.stateless_normal([1, 8, 10, 2], [0, 1]),
         "c3": tf.random.stateless_normal([1, 4, 5, 2], [0, 2])}
    fpn = FPN({"c2": 4, "c3": 8}, channels=2, top_level=0)
    fpn(c)
    eye = np.eye(2, dtype=np.float32)
    center = np.zeros([3, 3, 2, 2], np.float32)
    center[1, 1] = eye
    for layer in fpn.lateral:
        layer.set_weights([eye[None, None], np.zeros(2, np.float32)])
    for layer in fpn.output_convs:
        layer.set_weights([center, np.zeros(2, np.float32)])
    p = fpn(c)
    up = np.repeat(np.repeat(c["c3"].numpy(), 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(p["p3"].numpy(), c["c3"].numpy(), atol=1e-6)
    np.testing.assert_allclose(p["p2"].numpy(), c["c2"].numpy() + up, atol=1e-6)


def test_level_assignment_hand_worked():
    def box(side_w, side_h=None):
        return [10.0, 10.0, 10.0 + side_w, 10.0 + (side_h if side_h is not None else side_w)]

    boxes = tf.constant([box(224), box(112), box(448), box(56), box(223), box(224, 225),
                         box(28), box(2000), box(0), box(896)])
    got = assign_levels(boxes, 2, 5).numpy().tolist()
    # 224 -> 4; 112 -> 3; 448 -> 5; 56 -> 2; just under 224 -> 3; just over -> 4;
    # 28 -> 1 clamped to 2; 2000 -> 7 clamped to 5; empty -> 2; 896 -> 6 clamped to 5
    assert got == [4, 3, 5, 2, 3, 4, 2, 5, 2, 5]


def _levels_and_rois():
    features = {f"p{k}": tf.random.stateless_normal([2, 128 // 2 ** k, 96 // 2 ** k, 3], [k, 7])
                for k in (2, 3, 4, 5)}
    rois = tf.constant([[0, 4, 4, 12, 10], [1, 10, 20, 40, 52], [0, 0, 0, 90, 120],
                        [1, 30, 30, 46, 46], [0, 2.5, 3.5, 70.5, 50.5], [1, 50, 60, 51, 61],
                        [1, 0, 0, 95, 127]], tf.float32)
    return features, rois


def test_multilevel_pooler_equals_roi_align_at_the_assigned_level():
    features, rois = _levels_and_rois()
    strides = {f"p{k}": 2 ** k for k in (2, 3, 4, 5)}
    pooler = ROIPooler("roi_align", 7, strides, sampling_ratio=0, canonical_size=32, canonical_level=4)
    levels = assign_levels(rois[:, 1:], 2, 5, 32, 4).numpy()
    assert len(set(levels.tolist())) == 4  # the RoIs cover every level
    weights = tf.random.stateless_normal([len(levels), 7, 7, 3], [3, 3])

    def per_roi(feats):
        out = [roi_align(feats[f"p{k}"], rois[i:i + 1], 7, 1.0 / 2 ** k, 0, aligned=True)
               for i, k in enumerate(levels)]
        return tf.concat(out, 0)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(features)
        got, want = pooler(features, rois), per_roi(features)
        loss_got, loss_want = tf.reduce_sum(got * weights), tf.reduce_sum(want * weights)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    g_got, g_want = tape.gradient(loss_got, features), tape.gradient(loss_want, features)
    for name in features:
        np.testing.assert_allclose(g_got[name].numpy(), g_want[name].numpy(), rtol=1e-5, atol=1e-6)
        assert float(tf.reduce_sum(tf.abs(g_got[name]))) > 0


def test_multilevel_pooler_with_no_rois():
    features, _ = _levels_and_rois()
    pooler = ROIPooler("roi_align", 7, {f"p{k}": 2 ** k for k in (2, 3, 4, 5)})
    assert pooler(features, tf.zeros([0, 5])).shape[0] == 0


def test_per_level_top_k_then_merged_nms():
    """Level A keeps its 2 best (0.9, 0.8; 0.7 is cut by its level's top-k),
    level B its 2 best (0.95, 0.75); B's 0.75 box is A's 0.9 box, so the
    merged NMS removes it."""
    a_boxes = tf.constant([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]],
                          tf.float32)
    b_boxes = tf.constant([[0, 20, 10, 30], [20, 20, 30, 30], [0, 0, 10, 10]], tf.float32)
    a_scores = tf.constant([0.9, 0.8, 0.7, 0.1])
    b_scores = tf.constant([0.95, 0.2, 0.75])
    boxes, scores = generate_proposals(
        [a_boxes, b_boxes], [a_scores, b_scores], [tf.zeros([4, 4]), tf.zeros([3, 4])], 100, 100,
        pre_nms_top_n=2, post_nms_top_n=10, nms_thresh=0.5, min_size=0)
    np.testing.assert_allclose(scores.numpy(), [0.95, 0.9, 0.8])
    np.testing.assert_allclose(boxes.numpy(), [[0, 20, 10, 30], [0, 0, 10, 10], [20, 0, 30, 10]])
    # one level: exactly the single-level path (top-k, NMS, top-n)
    boxes, scores = generate_proposals(a_boxes, a_scores, tf.zeros([4, 4]), 100, 100,
                                       pre_nms_top_n=3, post_nms_top_n=2, nms_thresh=0.5, min_size=0)
    np.testing.assert_allclose(scores.numpy(), [0.9, 0.8])
