"""One training step and one inference per registered architecture, on tiny inputs."""
import numpy as np
import pytest
import tensorflow as tf

from detect.config import get_cfg, merge_from_list
from detect.modeling.build import build_model

SMALL = ["MODEL.NUM_CLASSES", "4", "ANCHOR.SCALES", "[1, 2, 4]", "RPN.MIN_SIZE", "4",
         "RPN.PRE_NMS_TOP_N_TRAIN", "300", "RPN.POST_NMS_TOP_N_TRAIN", "64",
         "RPN.PRE_NMS_TOP_N_TEST", "300", "RPN.POST_NMS_TOP_N_TEST", "50",
         "TRAIN.ROI_BATCH_SIZE", "32", "RPN.BATCH_SIZE", "64"]
# FPN variants: one anchor size per level, RoIAlign on the pooled levels
TINY_FPN = ["MODEL.NECK", "fpn", "FPN.IN_LEVELS", "[2, 3, 4]", "FPN.TOP_LEVEL", "5", "FPN.CHANNELS", "32",
            "ANCHOR.SIZES", "[16, 32, 64, 128]", "MODEL.POOLER_LEVELS", "[2, 3, 4]",
            "MODEL.BOX_HEAD", "fc", "MODEL.BOX_HEAD_DIM", "64", "MODEL.SAMPLING_RATIO", "0"]
R50_FPN = ["MODEL.NECK", "fpn", "ANCHOR.SIZES", "[32, 64, 128, 256, 512]",
           "MODEL.POOLER_LEVELS", "[2, 3, 4, 5]", "MODEL.BOX_HEAD", "fc", "MODEL.SAMPLING_RATIO", "0"]
# Mask R-CNN: a small mask head on the tiny FPN, detectron2's on R50-FPN
TINY_MASK = ["MODEL.MASK_HEAD", "conv_upsample", "MODEL.MASK_HEAD_CONVS", "2", "MODEL.MASK_HEAD_DIM", "16",
             "MODEL.MASK_GT_SIZE", "28"]
R50_MASK = ["MODEL.MASK_HEAD", "conv_upsample"]


def _batch(mask_size=28):
    # masks cropped to their boxes (pipeline.py): a disc in each box
    yy, xx = np.mgrid[:mask_size, :mask_size] + 0.5
    disc = ((yy - mask_size / 2) ** 2 + (xx - mask_size / 2) ** 2 <= (mask_size / 2.5) ** 2)
    masks = np.broadcast_to(disc.astype(np.float32), (2, 2, mask_size, mask_size))
    return {"masks": tf.constant(masks),"image": tf.random.stateless_normal([2, 96, 128, 3], [0, 1]) * 50,
            "image_size": tf.constant([[96, 128], [80, 112]]),
            "boxes": tf.constant([[[10, 10, 60, 50], [0, 0, 0, 0]], [[20, 20, 90, 70], [5, 5, 40, 60]]],
                                 tf.float32),
            "classes": tf.constant([[1, -1], [2, 3]]), "crowd": tf.zeros([2, 2], tf.bool),
            "difficult": tf.zeros([2, 2], tf.bool), "num_objects": tf.constant([1, 2])}


def _arch(arch, backbone, pooler, *extra):
    return ["MODEL.ARCH", arch, "MODEL.BACKBONE", backbone, "MODEL.POOLER", pooler, *extra]


CASES = {"tiny-roi_pool": _arch("faster_rcnn", "tiny", "roi_pool"),
         "tiny-roi_align": _arch("faster_rcnn", "tiny", "roi_align"),
         "tiny-stride8": _arch("faster_rcnn", "tiny", "roi_align", "MODEL.FEATURE_STRIDE", "8"),
         "tiny-rfcn": _arch("rfcn", "tiny", "roi_pool"),
         "tiny-fpn": _arch("faster_rcnn", "tiny", "roi_align", *TINY_FPN),
         "vgg16": _arch("faster_rcnn", "vgg16", "roi_pool"),
         "r50-c4": _arch("faster_rcnn", "resnet50", "roi_align"),
         "r50-rfcn": _arch("rfcn", "resnet50", "roi_pool"),
         "r50-fpn": _arch("faster_rcnn", "resnet50", "roi_align", *R50_FPN),
         "tiny-fpn-mask": _arch("faster_rcnn", "tiny", "roi_align", *TINY_FPN, *TINY_MASK),
         "r50-fpn-mask": _arch("faster_rcnn", "resnet50", "roi_align", *R50_FPN, *R50_MASK)}


def _assert_model_checkpoint_restores_every_variable(cfg, model, directory):
    """A checkpoint of the model alone (what test_net and demo restore) must
    hold every variable, not only those the optimizer also tracks."""
    path = tf.train.Checkpoint(model=model).save(str(directory / "model"))
    fresh = build_model(cfg)
    fresh.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    assert len(model.variables) == len(fresh.variables)
    for want, got in zip(model.variables, fresh.variables):  # the same order: the same build
        if "seed_generator" not in want.path:  # dropout's random state is not a weight
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=want.path)


# the fast tier keeps one tiny step per head (box on RoI pooling, R-FCN, FPN
# Mask R-CNN on RoIAlign); the other backbones and poolers run in the full suite
FAST_CASES = ("tiny-roi_pool", "tiny-rfcn", "tiny-fpn-mask")


@pytest.mark.parametrize("name", [n if n in FAST_CASES else pytest.param(n, marks=pytest.mark.slow)
                                  for n in CASES])
def test_train_step_and_inference(name, tmp_path):
    # seeded: an unseeded random R50-FPN Mask R-CNN once kept no detection on an image
    tf.keras.utils.set_random_seed(0)
    cfg = merge_from_list(get_cfg(), SMALL + CASES[name])
    model = build_model(cfg)
    batch = _batch(cfg.MODEL.MASK_GT_SIZE)
    masks = bool(cfg.MODEL.MASK_HEAD)

    @tf.function
    def step(seed):
        with tf.GradientTape(persistent=True) as tape:
            losses = model.compute_losses(batch, seed)
            head = losses["rcnn_cls"] + losses["rcnn_box"] + (losses["mask"] if masks else 0.0)
            total = tf.add_n(list(losses.values()))
        grads = tape.gradient(total, model.trainable_variables)
        backbone_grads = tape.gradient(head, model.backbone.trainable_variables)
        return losses, grads, backbone_grads

    losses, grads, backbone_grads = step(tf.constant([0, 1]))
    assert set(losses) == {"rpn_cls", "rpn_box", "rcnn_cls", "rcnn_box"} | ({"mask"} if masks else set())
    if masks:  # random logits near 0: binary cross-entropy near log 2
        assert 0.5 < float(losses["mask"]) < 0.9
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert losses["rpn_cls"] > 0 and losses["rcnn_cls"] > 0
    assert all(g is not None for g in grads)
    # the head losses reach the backbone only through the RoI op's gradient
    assert sum(float(tf.norm(g)) for g in backbone_grads if g is not None) > 0
    out = model.detect(batch["image"], batch["image_size"])
    assert set(out) == {"boxes", "scores", "classes", "num_detections"} | ({"masks"} if masks else set())
    if masks:
        m = out["masks"].numpy()
        assert m.shape == (2, 100, 28, 28) and np.all((m >= 0) & (m <= 1))
        for i in range(2):  # probabilities for the detections, zeros after them
            n = int(out["num_detections"][i])
            assert np.all(m[i, n:] == 0) and (n == 0 or m[i, :n].min() > 0)
    assert out["boxes"].shape == (2, 100, 4) and out["scores"].shape == (2, 100)
    assert out["num_detections"].shape == (2,)
    for i, (h, w) in enumerate(batch["image_size"].numpy()):
        n = int(out["num_detections"][i])
        b = out["boxes"][i, :n].numpy()
        assert n > 0, "a random model scores every class near 1/4: above TEST.SCORE_THRESH"
        # inside the image (x1, y1 >= 0; x2 <= w; y2 <= h) and not inverted
        assert np.all(b[:, :2] >= 0) and np.all(b[:, 2] <= w) and np.all(b[:, 3] <= h), b
        assert np.all(b[:, 2] >= b[:, 0]) and np.all(b[:, 3] >= b[:, 1]), b
        classes = out["classes"][i, :n].numpy()
        assert np.all((classes >= 1) & (classes <= 3))
    _assert_model_checkpoint_restores_every_variable(cfg, model, tmp_path)


def test_detections_rescaled_to_original_pixels():
    cfg = merge_from_list(get_cfg(), SMALL + CASES["tiny-roi_align"] + ["TEST.SCORE_THRESH", "0.0"])
    model = build_model(cfg)
    batch = _batch()
    original = tf.constant([[192, 384], [40, 56]])  # x2 / x3 and x0.5 of the input sizes
    resized = model.detect(batch["image"], batch["image_size"])
    rescaled = model.detect(batch["image"], batch["image_size"], original)
    for i, (sy, sx) in enumerate([(2.0, 3.0), (0.5, 0.5)]):
        n = int(resized["num_detections"][i])
        assert n > 0 and int(rescaled["num_detections"][i]) == n
        want = resized["boxes"][i, :n].numpy() * np.array([sx, sy, sx, sy])
        np.testing.assert_allclose(rescaled["boxes"][i, :n].numpy(), want, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(rescaled["classes"][i], resized["classes"][i])


def test_unknown_names_are_clear():
    with pytest.raises(KeyError, match="unknown backbone 'vgg19'"):
        build_model(merge_from_list(get_cfg(), ["MODEL.BACKBONE", "vgg19"]))
    with pytest.raises(KeyError, match=r"unknown RoI heads \(MODEL.ARCH\) 'yolo'"):
        build_model(merge_from_list(get_cfg(), ["MODEL.ARCH", "yolo", "MODEL.BACKBONE", "tiny"]))
    with pytest.raises(KeyError, match="unknown neck 'bifpn'"):
        build_model(merge_from_list(get_cfg(), ["MODEL.NECK", "bifpn", "MODEL.BACKBONE", "tiny",
                                                "FPN.IN_LEVELS", "[2, 3, 4]"]))
    with pytest.raises(FileNotFoundError, match="weights file nowhere.h5 does not exist"):
        build_model(merge_from_list(get_cfg(), ["MODEL.WEIGHTS", "nowhere.h5"]))
    with pytest.raises(ValueError, match="needs MODEL.ARCH faster_rcnn"):
        build_model(merge_from_list(get_cfg(), SMALL + CASES["tiny-rfcn"] + TINY_MASK))
    mask_model = build_model(merge_from_list(get_cfg(), SMALL + CASES["tiny-fpn-mask"]))
    without_masks = {k: v for k, v in _batch().items() if k != "masks"}
    with pytest.raises(ValueError, match="with_masks=True"):
        mask_model.compute_losses(without_masks, tf.constant([0, 1]))
    with pytest.raises(ValueError, match="R-FCN runs on one feature level"):
        build_model(merge_from_list(get_cfg(), SMALL + CASES["tiny-fpn"] + ["MODEL.ARCH", "rfcn"]))
    with pytest.raises(ValueError, match="ANCHOR.SIZES needs one anchor size per level"):
        build_model(merge_from_list(get_cfg(), SMALL + CASES["tiny-fpn"] + ["ANCHOR.SIZES", "[32]"]))
    with pytest.raises(ValueError, match="the tiny backbone has strides"):
        build_model(merge_from_list(get_cfg(), ["MODEL.BACKBONE", "tiny", "MODEL.FEATURE_STRIDE", "32"]))


@pytest.mark.parametrize("name", [pytest.param("r50-c4", marks=pytest.mark.slow), "tiny-fpn-mask"])
def test_heads_take_an_image_without_rois(name):
    # no proposals or no detections: conv heads (res5, the mask head) must not
    # see an empty batch, which TensorFlow's oneDNN convolution gets wrong
    cfg = merge_from_list(get_cfg(), SMALL + CASES[name] + ["TEST.SCORE_THRESH", "1.0"])
    model = build_model(cfg)
    batch = _batch(cfg.MODEL.MASK_GT_SIZE)
    out = model.detect(batch["image"], batch["image_size"])  # nothing scores above 1.0
    assert out["num_detections"].numpy().tolist() == [0, 0]
    features = model.features(batch["image"])
    logits, deltas = model.roi_heads(features, tf.zeros([0, 5]))
    assert logits.shape == (0, 4) and deltas.shape == (0, 4, 4)
    if cfg.MODEL.MASK_HEAD:
        assert out["masks"].shape == (2, 100, 28, 28) and not out["masks"].numpy().any()
        crowd_only = dict(batch, crowd=tf.ones([2, 2], tf.bool))  # no foreground RoI at all
        assert float(model.compute_losses(crowd_only, tf.constant([0, 1]))["mask"]) == 0.0


def test_the_mask_head_trains_on_at_most_mask_rois_per_image(monkeypatch):
    """TRAIN.MASK_ROIS_PER_IMAGE: a random subset of each image's foreground
    RoIs reaches the mask head (all of them with 0); the box head still
    gets every sampled RoI."""
    from detect.modeling.roi_heads import StandardROIHeads

    seen = []
    real = StandardROIHeads.mask_logits
    monkeypatch.setattr(StandardROIHeads, "mask_logits",
                        lambda self, f, rois, classes: seen.append(rois) or real(self, f, rois, classes))
    counts = {}
    for cap in (0, 3):
        # a low foreground threshold: a random RPN's proposals touching an object count
        cfg = merge_from_list(get_cfg(), SMALL + CASES["tiny-fpn-mask"] + [
            "TRAIN.MASK_ROIS_PER_IMAGE", str(cap), "TRAIN.FG_THRESH", "0.05", "TRAIN.BG_THRESH_HI", "0.05",
            "TRAIN.FG_FRACTION", "0.5"])
        model = build_model(cfg)
        seen.clear()
        losses = model.compute_losses(_batch(cfg.MODEL.MASK_GT_SIZE), tf.constant([0, 1]))
        assert np.isfinite(float(losses["mask"]))
        per_image = np.bincount(seen[-1][:, 0].numpy().astype(int), minlength=2)
        counts[cap] = per_image
    # many foreground RoIs per image without a cap
    assert all(counts[0] > 3), counts
    np.testing.assert_array_equal(counts[3], [3, 3])
