"""torchvision's anchors sit at image size // map size per axis, not at the
level's stride: on an 800 x 1216 input P6 has 13 x 19 cells, and its anchors
step 800 // 13 = 61 pixels down and 1216 // 19 = 64 across. Our RPN once
placed them 64 apart in both, so large objects' proposals (and boxes) came
out shifted down by up to 12 x 3 = 36 pixels. Values worked out by hand from
torchvision's AnchorGenerator (grid_anchors: shifts = arange(map) * stride,
strides = image_size // map_size; cell_anchors rounded about (0, 0))."""
import numpy as np
import pytest
import tensorflow as tf

import detect.modeling.rpn as rpn_module
from detect.boxes.anchors import corner_anchors, image_strides
from detect.modeling.poolers import ROIPooler
from detect.modeling.rpn import RPN
from detect.weights import zoo

# torchvision's defaults: sizes 32..512 on P2..P6, ratios 0.5, 1, 2
SIZES = {"p2": 32, "p3": 64, "p4": 128, "p5": 256, "p6": 512}
STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
TEST = {"pre_nms_top_n": 10, "post_nms_top_n": 10, "nms_thresh": 0.7, "min_size": 0.001,
        "per_level_nms": True}


def test_image_strides_of_an_800_pixel_side():
    assert [int(s) for s in image_strides(800, 1216, 13, 19)] == [61, 64]
    assert [int(s) for s in image_strides(800, 1216, 25, 38)] == [32, 32]
    # tensors in, as the RPN calls it
    assert [int(s) for s in image_strides(tf.constant(800), tf.constant(1216), 13, 19)] == [61, 64]


def _rpn(strides_from_image):
    refs = {k: corner_anchors(SIZES[k], [0.5, 1.0, 2.0], rounded=True) for k in SIZES}
    return RPN(refs, STRIDES, channels=4, train=TEST, test=TEST, strides_from_image=strides_from_image)


def _features(height, width):
    return {k: tf.zeros([1, -(-height // s), -(-width // s), 4]) for k, s in STRIDES.items()}


def test_torchvision_rpn_places_p6_anchors_at_image_size_over_map_size():
    rpn = _rpn(True)
    _, _, anchors = rpn(_features(800, 1216), tf.constant([800, 1216]))
    p6 = anchors[-1].numpy().reshape(13, 19, 3, 4)
    # the square anchor (ratio 1, size 512: [-256, -256, 256, 256]) of the
    # last row, first and last column: y = 12 * 61, x = 0 and 18 * 64
    np.testing.assert_array_equal(p6[12, 0, 1], [-256, 12 * 61 - 256, 256, 12 * 61 + 256])
    np.testing.assert_array_equal(p6[12, 18, 1], [18 * 64 - 256, 476, 18 * 64 + 256, 988])
    # P5 divides 800: 32 in both
    p5 = anchors[-2].numpy().reshape(25, 38, 3, 4)
    np.testing.assert_array_equal(p5[24, 37, 1], [37 * 32 - 128, 24 * 32 - 128, 37 * 32 + 128,
                                                  24 * 32 + 128])


def test_detectron2_rpn_keeps_the_level_stride():
    _, _, anchors = _rpn(False)(_features(800, 1216))
    p6 = anchors[-1].numpy().reshape(13, 19, 3, 4)
    np.testing.assert_array_equal(p6[12, 0, 1], [-256, 12 * 64 - 256, 256, 12 * 64 + 256])


def test_torchvision_rpn_without_the_image_shape_is_an_error():
    with pytest.raises(ValueError, match="image_shape"):
        _rpn(True)(_features(64, 64))


@pytest.mark.parametrize("key", sorted(zoo.ARCHITECTURES))
def test_the_zoo_configs_choose_the_anchor_strides(key):
    from detect.config import get_cfg, merge_from_file

    cfg = get_cfg()
    merge_from_file(cfg, zoo.ARCHITECTURES[key].config_path)
    levels = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64} if len(cfg.ANCHOR.SIZES) == 5 else {"c4": 16}
    rpn = RPN.from_cfg(cfg, levels, channels=4)
    assert rpn.strides_from_image == (key[0] == "torchvision")


def test_detect_passes_the_padded_image_shape_to_the_anchors(monkeypatch):
    """Through GeneralizedRCNN.detect: a torchvision zoo model on a 96 x 64
    input (P5 3 x 2 cells, P6 2 x 1) places P6 anchors 96 // 2 = 48 apart
    down and 64 across."""
    from detect.config import get_cfg, merge_from_file, validate_cfg
    from detect.modeling.build import build_model

    seen = []
    original = rpn_module.grid_anchors

    def spy(reference, height, width, stride):
        if tf.executing_eagerly():  # not Keras' symbolic build pass
            seen.append((int(height), int(width), tuple(int(s) for s in stride)
                         if isinstance(stride, (tuple, list)) else int(stride)))
        return original(reference, height, width, stride)

    monkeypatch.setattr(rpn_module, "grid_anchors", spy)
    cfg = get_cfg()
    merge_from_file(cfg, zoo.ARCHITECTURES[("torchvision", "fasterrcnn_resnet50_fpn")].config_path)
    validate_cfg(cfg)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 96, 64, 3]), tf.constant([[96, 64]]))
    assert seen[-1] == (2, 1, (48, 64))
    assert seen[-2] == (3, 2, (32, 32))


def test_large_rois_are_pooled_from_the_coarse_levels():
    """Each level's map holds its level number: a RoI pools the number of
    the level torchvision's LevelMapper gives it, floor(4 + log2(sqrt(area)
    / 224) + 1e-6) clamped to 2..5: 100 px -> 2, 224 -> 4, 448 -> 5,
    1000 -> 5; a 900 x 60 box (sqrt 232) -> 4."""
    strides = {"p2": 4, "p3": 8, "p4": 16, "p5": 32}
    feats = {k: tf.fill([1, 1024 // s, 1024 // s, 2], float(k[1])) for k, s in strides.items()}
    pooler = ROIPooler("roi_align", 7, strides, sampling_ratio=2, aligned=False,
                       level_mapping="torchvision")
    rois = tf.constant([[0, 10, 10, 110, 110], [0, 100, 100, 324, 324], [0, 50, 50, 498, 498],
                        [0, 0, 0, 1000, 1000], [0, 20, 400, 920, 460]], tf.float32)
    pooled = pooler(feats, rois).numpy()
    np.testing.assert_allclose(pooled[:, 3, 3, 0], [2, 4, 5, 5, 4])
