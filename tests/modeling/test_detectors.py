"""One training step and one inference per detector, on tiny inputs."""
import numpy as np
import pytest
import tensorflow as tf

from detect.config import get_cfg, merge_from_list
from detect.modeling.detector import TwoStageDetector

SMALL = ["MODEL.NUM_CLASSES", "4", "ANCHOR.SCALES", "[1, 2, 4]", "RPN.MIN_SIZE", "4",
         "RPN.PRE_NMS_TOP_N_TRAIN", "300", "RPN.POST_NMS_TOP_N_TRAIN", "64",
         "RPN.PRE_NMS_TOP_N_TEST", "300", "RPN.POST_NMS_TOP_N_TEST", "50",
         "TRAIN.ROI_BATCH_SIZE", "32", "RPN.BATCH_SIZE", "64"]


def _batch():
    return {"image": tf.random.stateless_normal([2, 96, 128, 3], [0, 1]) * 50,
            "image_size": tf.constant([[96, 128], [80, 112]]),
            "boxes": tf.constant([[[10, 10, 60, 50], [0, 0, 0, 0]], [[20, 20, 90, 70], [5, 5, 40, 60]]],
                                 tf.float32),
            "classes": tf.constant([[1, -1], [2, 3]]), "crowd": tf.zeros([2, 2], tf.bool),
            "difficult": tf.zeros([2, 2], tf.bool), "num_objects": tf.constant([1, 2])}


CASES = [("faster_rcnn", "tiny", "roi_pool"), ("faster_rcnn", "tiny", "roi_align"),
         ("rfcn", "tiny", "roi_pool"), ("faster_rcnn", "vgg16", "roi_pool"),
         ("faster_rcnn", "resnet50", "roi_align"), ("rfcn", "resnet50", "roi_pool")]


@pytest.mark.parametrize("arch,backbone,pooler", CASES, ids=["-".join(c) for c in CASES])
def test_train_step_and_inference(arch, backbone, pooler):
    cfg = merge_from_list(get_cfg(), SMALL + ["MODEL.ARCH", arch, "MODEL.BACKBONE", backbone,
                                              "MODEL.POOLER", pooler])
    model = TwoStageDetector.from_cfg(cfg)
    batch = _batch()

    @tf.function
    def step(seed):
        with tf.GradientTape(persistent=True) as tape:
            losses = model.compute_losses(batch, seed)
            head = losses["rcnn_cls"] + losses["rcnn_box"]
            total = tf.add_n(list(losses.values()))
        grads = tape.gradient(total, model.trainable_variables)
        trunk_grads = tape.gradient(head, model.trunk.trainable_variables)
        return losses, grads, trunk_grads

    losses, grads, trunk_grads = step(tf.constant([0, 1]))
    assert set(losses) == {"rpn_cls", "rpn_box", "rcnn_cls", "rcnn_box"}
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert losses["rpn_cls"] > 0 and losses["rcnn_cls"] > 0
    assert all(g is not None for g in grads)
    # the head losses reach the backbone only through the RoI op's gradient
    assert sum(float(tf.norm(g)) for g in trunk_grads if g is not None) > 0
    boxes, scores, classes, valid = model.detect(batch["image"], batch["image_size"])
    assert boxes.shape == (2, 100, 4) and scores.shape == (2, 100) and valid.shape == (2,)
    for i, (h, w) in enumerate(batch["image_size"].numpy()):
        n = int(valid[i])
        b = boxes[i, :n].numpy()
        assert np.all(b[:, 0] >= 0) and np.all(b[:, 2] <= w) and np.all(b[:, 3] <= h)
        assert np.all((classes[i, :n].numpy() >= 1) & (classes[i, :n].numpy() <= 3))


def test_unknown_names_are_clear():
    with pytest.raises(KeyError, match="unknown backbone 'vgg19'"):
        TwoStageDetector.from_cfg(merge_from_list(get_cfg(), ["MODEL.BACKBONE", "vgg19"]))
    with pytest.raises(ValueError, match="MODEL.ARCH must be"):
        TwoStageDetector.from_cfg(merge_from_list(get_cfg(), ["MODEL.ARCH", "yolo",
                                                              "MODEL.BACKBONE", "tiny"]))
    with pytest.raises(FileNotFoundError, match="weights file nowhere.h5 does not exist"):
        TwoStageDetector.from_cfg(merge_from_list(get_cfg(), ["MODEL.WEIGHTS", "nowhere.h5"]))
