"""Mask R-CNN's pieces on hand-made cases: the cropped training masks, the
mask targets, the loss, and pasting masks into the image."""
import numpy as np
import pytest
import tensorflow as tf

from detect.datasets.pipeline import crop_masks
from detect.losses import mask_loss
from detect.modeling.postprocess import paste_masks
from detect.targets.mask_targets import mask_targets


def _square_mask(height=40, width=60, x=(20, 30), y=(10, 20)):
    m = np.zeros((1, height, width), np.uint8)
    m[0, y[0]:y[1], x[0]:x[1]] = 1
    return m


def test_crop_of_a_square_in_a_box_twice_its_size():
    # a 10 x 10 square centred in a 20 x 20 box: the middle half of the crop
    crop = crop_masks(_square_mask(), np.array([[15, 5, 35, 25]], np.float32), 8).numpy()[0]
    want = np.zeros((8, 8))
    want[2:6, 2:6] = 1
    np.testing.assert_allclose(crop, want, atol=1e-6)
    # the box of the square: full; a mask at the image border stays full to the edge
    np.testing.assert_allclose(crop_masks(_square_mask(), np.array([[20, 10, 30, 20]], np.float32),
                                          5).numpy(), 1.0, atol=1e-6)
    # at the image border the edge pixel extends outward (the top and left
    # cells read 1, not 0); inside the image the last cell centre, 1/4 pixel
    # before the mask's edge, reads 0.75 bilinearly
    corner = crop_masks(_square_mask(x=(0, 6), y=(0, 6)), np.array([[0, 0, 6, 6]], np.float32), 12)
    np.testing.assert_allclose(corner.numpy()[0, :-1, :-1], 1.0, atol=1e-6)
    np.testing.assert_allclose(corner.numpy()[0, :-1, -1], 0.75, atol=1e-6)


def test_crop_of_the_flipped_image_is_the_flipped_crop():
    rng = np.random.default_rng(0)
    masks = (rng.random((3, 30, 50)) > 0.5).astype(np.uint8)
    boxes = np.array([[3, 2, 20, 25], [10.5, 4.25, 47, 29], [0, 0, 50, 30]], np.float32)
    flipped_boxes = np.stack([50 - boxes[:, 2], boxes[:, 1], 50 - boxes[:, 0], boxes[:, 3]], 1)
    plain = crop_masks(masks, boxes, 16).numpy()
    flipped = crop_masks(masks[:, :, ::-1].copy(), flipped_boxes, 16).numpy()
    np.testing.assert_allclose(flipped, plain[:, :, ::-1], atol=1e-5)


def test_mask_targets_of_rois_on_a_square_object():
    # the object: a 20 x 20 square at x 20..40, y 10..30; its box is twice its size
    full = _square_mask(height=50, width=70, x=(20, 40), y=(10, 30))
    gt_box = np.array([[10, 0, 50, 40]], np.float32)
    crop = crop_masks(full, gt_box, 32)
    rois = np.array([[20, 10, 40, 30],     # exactly the square: all ones
                     [10, 0, 50, 40],      # the object's box: the middle half
                     [30, 10, 50, 30]],    # right half of the square, then outside
                    np.float32)
    t = mask_targets(rois, gt_box, crop, tf.zeros([3], tf.int32), size=8).numpy()
    np.testing.assert_array_equal(t[0], np.ones((8, 8)))
    middle = np.zeros((8, 8))
    middle[2:6, 2:6] = 1
    np.testing.assert_array_equal(t[1], middle)
    half = np.zeros((8, 8))
    half[:, :4] = 1
    np.testing.assert_array_equal(t[2], half)
    # matches pick the object: a RoI matched to the second (empty) object gets zeros
    two = tf.concat([crop, tf.zeros_like(crop)], 0)
    t = mask_targets(rois[:1], np.vstack([gt_box, gt_box]), two, tf.constant([1]), size=8).numpy()
    assert t.sum() == 0


def test_mask_targets_follow_a_flipped_image():
    full = _square_mask(height=40, width=60, x=(10, 25), y=(5, 30))
    gt_box = np.array([[5, 0, 30, 35]], np.float32)
    roi = np.array([[8, 2, 28, 33]], np.float32)
    t = mask_targets(roi, gt_box, crop_masks(full, gt_box, 56), tf.zeros([1], tf.int32), 14).numpy()
    flip = lambda b: np.stack([60 - b[:, 2], b[:, 1], 60 - b[:, 0], b[:, 3]], 1)
    t_flipped = mask_targets(flip(roi), flip(gt_box), crop_masks(full[:, :, ::-1].copy(), flip(gt_box), 56),
                             tf.zeros([1], tf.int32), 14).numpy()
    np.testing.assert_array_equal(t_flipped, t[:, :, ::-1])
    assert 0 < t.sum() < 14 * 14


def test_no_foreground_rois_gives_no_targets_and_zero_loss():
    t = mask_targets(tf.zeros([0, 4]), tf.zeros([0, 4]), tf.zeros([0, 16, 16]), tf.zeros([0], tf.int32))
    assert t.shape == (0, 28, 28)
    assert float(mask_loss(tf.zeros([0, 28, 28]), t)["mask"]) == 0.0


def test_mask_loss_reads_only_the_ground_truth_class_map():
    from detect.config import get_cfg, merge_from_list
    from detect.modeling.build import build_model
    from tests.modeling.test_detectors import CASES, SMALL

    heads = build_model(merge_from_list(get_cfg(), SMALL + CASES["tiny-fpn-mask"])).roi_heads
    features = {f"p{k}": tf.random.stateless_normal([1, 64 // 2 ** k, 64 // 2 ** k, 32], [k, 0])
                for k in (2, 3, 4)}
    rois = tf.constant([[0, 4, 4, 40, 40], [0, 10, 8, 30, 50]], tf.float32)
    maps = heads.mask_head(heads.mask_pooler(features, rois)).numpy()  # [2, 28, 28, C]
    logits = heads.mask_logits(features, rois, tf.constant([2, 3])).numpy()
    np.testing.assert_allclose(logits, np.stack([maps[0, ..., 2], maps[1, ..., 3]]), rtol=1e-5, atol=1e-6)
    # the loss: binary cross-entropy of that map alone, averaged over pixels and RoIs
    target = (np.random.default_rng(1).random((2, 28, 28)) > 0.5).astype(np.float32)
    want = np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))
    assert float(mask_loss(tf.constant(logits), target)["mask"]) == pytest.approx(want, rel=1e-5)


def test_pasting_a_constant_map_fills_exactly_its_box():
    ones = np.ones((2, 28, 28), np.float32)
    boxes = np.array([[10, 5, 30, 25], [0, 0, 7, 3]], np.float32)
    out = paste_masks(ones, boxes, 40, 50).numpy()
    assert out.dtype == np.uint8 and out.shape == (2, 40, 50)
    for m, (x1, y1, x2, y2) in zip(out, boxes.astype(int)):
        want = np.zeros((40, 50), np.uint8)
        want[y1:y2, x1:x2] = 1
        np.testing.assert_array_equal(m, want)
    # a box past the border is cut at the image; fractional edges take pixels whose centre is inside
    out = paste_masks(ones[:1], np.array([[44.6, -3, 60, 12.4]], np.float32), 40, 50).numpy()[0]
    want = np.zeros((40, 50), np.uint8)
    want[0:12, 45:50] = 1
    np.testing.assert_array_equal(out, want)


def test_pasting_no_masks_gives_an_empty_stack():
    # an image without detections, eagerly and in a graph (test_net, the export)
    for paste in (paste_masks, tf.function(paste_masks)):
        out = paste(tf.zeros([0, 28, 28]), tf.zeros([0, 4]), tf.constant(30), tf.constant(40))
        assert out.shape == (0, 30, 40) and out.dtype == tf.uint8


def test_paste_is_bilinear_in_the_box():
    # left half 1, right half 0: the pasted mask covers the left half of the box
    half = np.zeros((1, 28, 28), np.float32)
    half[:, :, :14] = 1
    out = paste_masks(half, np.array([[0, 0, 56, 28]], np.float32), 28, 56).numpy()[0]
    assert out[:, :28].all() and not out[:, 28:].any()
    # a mask that round-trips: crop a shape to its box, paste it back
    full = _square_mask(height=60, width=80, x=(22, 50), y=(14, 44))
    full[0, 14:24, 22:30] = 0  # a notch
    box = np.array([[22, 14, 50, 44]], np.float32)
    back = paste_masks(crop_masks(full, box, 28), box, 60, 80).numpy()
    np.testing.assert_array_equal(back, full)
