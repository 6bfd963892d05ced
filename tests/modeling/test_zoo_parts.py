"""The pieces that make the model zoos' detectors: hand-worked values for
their anchors, frozen BatchNorm, resize rounding, per-level proposal NMS,
RoIAlign level mapping, stride placement and torchvision's mask paste."""
import numpy as np
import pytest
import tensorflow as tf

from detect.boxes.anchors import corner_anchors
from detect.datasets.pipeline import model_input, pad_to_multiple, target_size
from detect.modeling.poolers import assign_levels
from detect.modeling.postprocess import DetectionPostprocessor, paste_masks
from detect.modeling.proposals import generate_proposals
from detect.modeling.resnet import FrozenBatchNorm, resnet_body


def test_torchvision_anchors_are_rounded_on_the_corner():
    # size 32, ratio h/w 0.5: w = 32 / sqrt(0.5) = 45.25, h = 22.63 -> halves 22.63, 11.31
    np.testing.assert_array_equal(corner_anchors(32, [0.5, 1.0, 2.0], rounded=True),
                                  [[-23, -11, 23, 11], [-16, -16, 16, 16], [-11, -23, 11, 23]])


def test_detectron2_anchors_are_not_rounded():
    a = corner_anchors(32, [0.5], rounded=False)[0]
    np.testing.assert_allclose(a, [-22.627417, -11.313708, 22.627417, 11.313708], rtol=1e-6)
    assert (a[2] - a[0]) * (a[3] - a[1]) == pytest.approx(32 * 32, rel=1e-6)


def test_frozen_batchnorm_with_epsilon_zero():
    layer = FrozenBatchNorm(0.0)
    layer.build((None, 2))
    layer.gamma.assign([3.0, 1.0])
    layer.beta.assign([0.5, 0.0])
    layer.moving_mean.assign([1.0, -2.0])
    layer.moving_variance.assign([4.0, 0.25])
    # (2 - 1) * 3 / 2 + 0.5 = 2; (0 + 2) * 1 / 0.5 = 4
    np.testing.assert_allclose(layer(tf.constant([[2.0, 0.0]])).numpy(), [[2.0, 4.0]])
    assert not layer.trainable_weights


def test_resize_rounding():
    # 480 x 640 to 800: factor 5/3, 640 x 5/3 = 1066.67
    assert [int(x) for x in target_size(480, 640, 800.0, 1333.0)[:2]] == [800, 1067]
    assert [int(x) for x in target_size(480, 640, 800.0, 1333.0, "floor")[:2]] == [800, 1066]
    # detectron2's int(x + 0.5): 2 x 3 to short side 3 gives a long side of 4.5 -> 5
    # (TensorFlow's round is half to even: 4)
    assert [int(x) for x in target_size(2, 3, 3.0, 1000.0, "detectron2")[:2]] == [3, 5]
    assert [int(x) for x in target_size(2, 3, 3.0, 1000.0)[:2]] == [3, 4]
    # capped by the long side: 100 x 1000 to 800 / 1333 -> 133.3 x 1333
    assert [int(x) for x in target_size(100, 1000, 800.0, 1333.0, "detectron2")[:2]] == [133, 1333]


def test_model_input_pads_normalized_zeros_to_the_divisor():
    image, size = model_input(np.full((30, 50, 3), 200, np.uint8), 40.0, 1000.0, "torch", "floor", 32)
    assert image.shape == (1, 64, 96, 3) and size.numpy().tolist() == [[40, 66]]
    assert float(tf.reduce_max(tf.abs(image[0, 40:]))) == 0.0
    assert float(image[0, 0, 0, 0]) == pytest.approx((200 - 123.675) / 58.395, rel=1e-5)
    assert pad_to_multiple(tf.zeros([1, 64, 96, 3]), 32).shape == (1, 64, 96, 3)


def test_per_level_nms_keeps_overlaps_across_levels():
    """The same box on two levels: one NMS over both keeps one, NMS within
    each level keeps both; top-k per level runs before the size filter."""
    anchors = [tf.constant([[10.0, 10.0, 50.0, 50.0], [12.0, 10.0, 52.0, 50.0]]),
               tf.constant([[10.0, 10.0, 50.0, 50.0]])]
    deltas = [tf.zeros([2, 4]), tf.zeros([1, 4])]
    logits = [tf.constant([3.0, 2.0]), tf.constant([1.0])]
    merged, _ = generate_proposals(anchors, logits, deltas, 100, 100, pre_nms_top_n=2,
                                   post_nms_top_n=10, nms_thresh=0.7, min_size=0)
    per_level, scores = generate_proposals(anchors, logits, deltas, 100, 100, pre_nms_top_n=2,
                                           post_nms_top_n=10, nms_thresh=0.7, min_size=0,
                                           per_level_nms=True)
    assert merged.shape[0] == 1 and per_level.shape[0] == 2
    np.testing.assert_allclose(scores.numpy(), 1 / (1 + np.exp([-3.0, -1.0])), rtol=1e-6)
    # top-1 per level first: the level-0 winner is tiny after clipping -> dropped, not replaced
    anchors[0] = tf.constant([[-60.0, 10.0, -20.0, 50.0], [12.0, 10.0, 52.0, 50.0]])
    kept, _ = generate_proposals(anchors, logits, deltas, 100, 100, pre_nms_top_n=1, post_nms_top_n=10,
                                 nms_thresh=0.7, min_size=0.001, per_level_nms=True)
    np.testing.assert_allclose(kept.numpy(), [[10.0, 10.0, 50.0, 50.0]])


def test_level_mappings_agree_away_from_boundaries():
    boxes = tf.constant([[0.0, 0.0, 224.0, 224.0], [0, 0, 111.0, 111.0], [0, 0, 500.0, 500.0],
                         [0, 0, 20.0, 20.0]])
    for mapping in ("detectron2", "torchvision"):
        assert assign_levels(boxes, 2, 5, mapping=mapping).numpy().tolist() == [4, 2, 5, 2]


@pytest.mark.parametrize("in_1x1", [True, False])
def test_stride_placement(in_1x1):
    inputs, outputs = resnet_body(50, stride_in_1x1=in_1x1, top_level=3)
    model = tf.keras.Model(inputs, outputs)
    conv1, conv2 = model.get_layer("res3_0_conv1"), model.get_layer("res3_0_conv2")
    assert conv1.strides == ((2, 2) if in_1x1 else (1, 1))
    assert conv2.strides == ((1, 1) if in_1x1 else (2, 2))
    assert [int(d) for d in model(tf.zeros([1, 64, 96, 3]))[3].shape[1:3]] == [8, 12]


def test_torchvision_mask_paste_by_hand():
    """A full 28 x 28 mask on box [10, 10, 20, 20]: grown by 30 / 28 to
    [9.64, 20.36] -> pixels 9..20, a 12-pixel resize of the 30-cell padded
    mask: pixel i reads cell (i + 0.5) 2.5 - 0.5, so i = 0 reads 0.75 of
    cell 1 (a one) and 0.25 of the zero border, i = 11 (cell 28.25) the
    same; corners 0.75^2 = 0.5625. So rows and columns 9..20 are inside
    (torchvision's paste_masks_in_image gives the same). detectron2's paste
    of the same mask covers exactly 10..19."""
    mask, box = tf.ones([1, 28, 28]), tf.constant([[10.0, 10.0, 20.0, 20.0]])
    expected = np.zeros((40, 40), np.uint8)
    expected[9:21, 9:21] = 1
    np.testing.assert_array_equal(paste_masks(mask, box, 40, 40, style="torchvision")[0], expected)
    d2 = np.zeros((40, 40), np.uint8)
    d2[10:20, 10:20] = 1
    np.testing.assert_array_equal(paste_masks(mask, box, 40, 40)[0], d2)
    # past the image's corner: grown to [34.64, -5.36, 45.36, 5.36], truncated
    # toward zero to [34, -5, 45, 5]; pixels 34..44 x -5..5 are inside, of
    # which the image holds 34..39 x 0..5
    corner = paste_masks(mask, tf.constant([[35.0, -5.0, 45.0, 5.0]]), 40, 40, style="torchvision")[0]
    expected = np.zeros((40, 40), np.uint8)
    expected[0:6, 34:40] = 1
    np.testing.assert_array_equal(corner, expected)
    assert paste_masks(tf.zeros([0, 28, 28]), tf.zeros([0, 4]), 40, 40, style="torchvision").shape == (0, 40, 40)


def test_min_box_size_drops_thin_boxes_before_nms():
    post = DetectionPostprocessor(nms_thresh=0.5, score_thresh=0.05, detections_per_image=5,
                                  min_box_size=0.01)
    proposals = tf.constant([[10.0, 10.0, 10.005, 30.0], [40.0, 40.0, 60.0, 60.0]])
    logits = tf.constant([[0.0, 5.0], [0.0, 5.0]])
    boxes, scores, classes, n = post(proposals, logits, tf.zeros([2, 2, 4]), tf.constant([100, 100]))
    assert int(n) == 1 and boxes[0].numpy().tolist() == [40.0, 40.0, 60.0, 60.0]


@pytest.mark.parametrize("size", [(40, 61), (13, 20), (97, 148), (30, 45)])
def test_pil_bilinear_resize_equals_pillow(size):
    """detectron2 resizes uint8 images with Pillow; resize_image's
    pil_bilinear must give Pillow's values exactly (down and up, aspect
    kept as detectron2 keeps it)."""
    from PIL import Image

    from detect.datasets.pipeline import resize_image

    rng = np.random.default_rng(size[0])
    # smooth structure plus noise, as photos have both
    yy, xx = np.mgrid[0:53, 0:80]
    base = 127 + 100 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None]
    image = np.clip(base + rng.normal(0, 20, (53, 80, 3)), 0, 255).astype(np.uint8)
    expected = np.asarray(Image.fromarray(image).resize(size[::-1], Image.BILINEAR))
    got = resize_image(tf.constant(image, tf.float32), size[0], size[1], "pil_bilinear").numpy()
    np.testing.assert_array_equal(got, expected)


def test_detectron2_ranks_saturated_proposals_by_logit():
    """Logits 20 (level 0) and 30 (level 1) both have a float32 sigmoid of
    exactly 1: ranked by probability (torchvision) the tie goes to the
    first level, ranked by logit (detectron2's find_top_rpn_proposals) the
    second level's box is the best one."""
    anchors = [tf.constant([[10.0, 10.0, 50.0, 50.0]]), tf.constant([[60.0, 60.0, 90.0, 90.0]])]
    deltas = [tf.zeros([1, 4]), tf.zeros([1, 4])]
    logits = [tf.constant([20.0]), tf.constant([30.0])]
    assert float(tf.sigmoid(20.0)) == float(tf.sigmoid(30.0)) == 1.0
    args = dict(pre_nms_top_n=1, post_nms_top_n=1, nms_thresh=0.7, min_size=0, per_level_nms=True)
    by_probability, _ = generate_proposals(anchors, logits, deltas, 100, 100, **args)
    by_logit, scores = generate_proposals(anchors, logits, deltas, 100, 100, rank_by_logit=True, **args)
    np.testing.assert_array_equal(by_probability.numpy(), [[10, 10, 50, 50]])
    np.testing.assert_array_equal(by_logit.numpy(), [[60, 60, 90, 90]])
    assert float(scores[0]) == 1.0  # probabilities out, either way


def test_min_size_zero_drops_empty_proposals_only():
    """detectron2's Boxes.nonempty: an anchor wholly above the image clips
    to a box of height 0 and is dropped; a 0.01-pixel sliver is kept."""
    anchors = tf.constant([[10.0, -50.0, 60.0, -20.0], [10.0, 10.0, 60.0, 10.01], [5.0, 5.0, 9.0, 9.0]])
    boxes, _ = generate_proposals(anchors, tf.constant([3.0, 2.0, 1.0]), tf.zeros([3, 4]), 100, 100,
                                  pre_nms_top_n=3, post_nms_top_n=3, min_size=0.0, per_level_nms=True)
    np.testing.assert_allclose(boxes.numpy(), [[10, 10, 60, 10.01], [5, 5, 9, 9]], rtol=1e-6)
