"""Small exports for the tests: one per architecture the registry builds,
with random weights and tiny test sizes (tests/modeling/test_detectors.py's
settings), and the test images."""
import io
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from detect.config import cfg_to_yaml, get_cfg, merge_from_list
from detect.datasets.toy import TOY_CLASSES, make_image
from detect.modeling.build import build_model
from tests.modeling.test_detectors import CASES, SMALL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASS_NAMES = ["__background__"] + list(TOY_CLASSES)  # SMALL has MODEL.NUM_CLASSES 4
# 90 x 100-ish pictures resized to a shorter side of 64: boxes are rescaled
TEST_SIZES = ["TEST.SCALES", "[64]", "TEST.MAX_SIZE", "128"]
ARCHS = {
    "tiny": CASES["tiny-roi_align"],
    "tiny-fpn": CASES["tiny-fpn"],
    "vgg16": CASES["vgg16"] + ["MODEL.BOX_HEAD_DIM", "64"],  # not 4096 x 25088 weights
    "r50-c4": CASES["r50-c4"],
    "r50-fpn": CASES["r50-fpn"],
    "rfcn-r50": CASES["r50-rfcn"],
    "tiny-fpn-mask": CASES["tiny-fpn-mask"],
}


def arch_cfg(name):
    return merge_from_list(get_cfg(), SMALL + ARCHS[name] + TEST_SIZES)


def random_model(cfg, seed=0):
    """The detector of cfg with its variables created (random weights)."""
    tf.keras.utils.set_random_seed(seed)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    return model


def write_run(out, cfg, model):
    """A train_net.py-style output folder: config.yml, classes.json, checkpoints/ckpt-1."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yml"), "w") as f:
        f.write(cfg_to_yaml(cfg))
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(CLASS_NAMES, f)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), os.path.join(out, "checkpoints"),
                                         max_to_keep=1, checkpoint_name="ckpt")
    return manager.save(checkpoint_number=1)


def picture(seed=1):
    """uint8 RGB [H, W, 3] toy picture of 90-110 px a side, and its PNG and JPEG bytes."""
    rgb, _ = make_image(seed, 0, 90, 110)
    png, jpeg = io.BytesIO(), io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    Image.fromarray(rgb).save(jpeg, format="JPEG", quality=90)
    return rgb, png.getvalue(), jpeg.getvalue()


def first_n(out):
    """model.detect's dict for a batch of one -> numpy boxes, scores, classes of its detections."""
    n = int(out["num_detections"][0])
    return {"boxes": out["boxes"][0, :n].numpy(), "scores": out["scores"][0, :n].numpy(),
            "classes": out["classes"][0, :n].numpy()}


def assert_same_detections(got, want, what):
    """Same count and classes, boxes within 1e-3 px, scores within 1e-5."""
    assert len(want["scores"]) > 0, f"{what}: no detections to compare"
    assert len(got["scores"]) == len(want["scores"]), what
    np.testing.assert_array_equal(np.asarray(got["classes"]), want["classes"], err_msg=what)
    np.testing.assert_allclose(np.asarray(got["scores"]), want["scores"], rtol=0, atol=1e-5, err_msg=what)
    np.testing.assert_allclose(np.asarray(got["boxes"], np.float64).reshape(-1, 4), want["boxes"],
                               rtol=0, atol=1e-3, err_msg=what)
    assert ("masks" in got) == ("masks" in want), what
    if "masks" in want:  # full-image 0/1 masks; a pixel may flip where a value rounds at the threshold
        got_masks = np.asarray(got["masks"], np.uint8)
        assert got_masks.shape == want["masks"].shape and want["masks"].any(), what
        assert np.mean(got_masks != want["masks"]) < 1e-3, what


def from_outputs(out):
    """A signature's (or the server's) outputs -> the dict first_n gives."""
    got = {"boxes": np.asarray(out["detection_boxes"]), "scores": np.asarray(out["detection_scores"]),
           "classes": np.asarray(out["detection_classes"])}
    if "detection_masks" in out:
        got["masks"] = np.asarray(out["detection_masks"], np.uint8)
    return got
