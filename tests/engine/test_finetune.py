"""Fine-tuning from a pretrained detector with other classes: every layer
that fits is copied, predictor rows follow the class names, the rest stays
as initialized; train_net.py --weights RUN says so and trains."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.datasets.toy import write_toy_dataset
from detect.engine.checkpoint import load_model
from detect.engine.finetune import find_pretrained, load_pretrained
from detect.modeling.build import build_model
from detect.weights import WeightsFileError
from tests.engine.runs import ROOT, make_run, tool

CFG = os.path.join(ROOT, "experiments", "cfgs", "toy_mask_rcnn.yml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pretrained") / "run")
    make_run(out, config="toy_mask_rcnn.yml")  # classes: circle, rectangle, triangle
    return out


def model_for(num_classes):
    cfg = get_cfg()
    merge_from_file(cfg, CFG)
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", str(num_classes)])
    tf.keras.utils.set_random_seed(5)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    return model


def test_rows_follow_class_names(run):
    _, old, _ = load_model(run)
    old = {v.path: v.numpy() for v in old.variables}
    model = model_for(3)
    fresh = {v.path: v.numpy() for v in model.variables}
    names = ["__background__", "triangle", "hexagon"]
    report = load_pretrained(model, run, names)
    assert report.kept_classes == ["triangle"] and report.new_classes == ["hexagon"]
    assert report.fresh == [] and report.copied == len(model.variables)
    got = {v.path: v.numpy() for v in model.variables}
    # shared layers: the pretrained values
    for path in ("block1_conv1/kernel", "fpn/fpn_output2/kernel", "rpn/rpn_head/rpn_cls/kernel",
                 "roi_heads/fc_head/fc6/kernel", "mask_head/deconv/kernel"):
        np.testing.assert_array_equal(got[path], old[path], err_msg=path)
    cls, box, mask = "roi_heads/cls_score/kernel", "roi_heads/bbox_pred/kernel", "mask_head/predictor/kernel"
    # background <- background, triangle (old 3) -> 1, hexagon keeps its fresh column
    np.testing.assert_array_equal(got[cls][:, 0], old[cls][:, 0])
    np.testing.assert_array_equal(got[cls][:, 1], old[cls][:, 3])
    np.testing.assert_array_equal(got[cls][:, 2], fresh[cls][:, 2])
    np.testing.assert_array_equal(got["roi_heads/cls_score/bias"], [old["roi_heads/cls_score/bias"][0],
                                                                     old["roi_heads/cls_score/bias"][3],
                                                                     fresh["roi_heads/cls_score/bias"][2]])
    np.testing.assert_array_equal(got[box][:, 4:8], old[box][:, 12:16])
    np.testing.assert_array_equal(got[box][:, 8:12], fresh[box][:, 8:12])
    np.testing.assert_array_equal(got[mask][..., 1], old[mask][..., 3])
    np.testing.assert_array_equal(got[mask][..., 2], fresh[mask][..., 2])


def test_another_architecture_is_refused(run, tmp_path):
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"))
    merge_from_list(cfg, ["MODEL.BACKBONE", "tiny", "MODEL.NUM_CLASSES", "4", "FPN.CHANNELS", "32"])
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    report = load_pretrained(model, run, ["__background__", "circle", "rectangle", "triangle"])
    assert report.fresh  # the layers that do not fit stay as initialized, and are named
    assert find_pretrained(str(tmp_path)) is None  # a folder without config.yml
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        load_pretrained(model, str(tmp_path / "nothing"), ["__background__", "a"])
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not weights")
    assert find_pretrained(str(bad)) is None
    with pytest.raises(WeightsFileError):
        load_pretrained(model, str(bad), ["__background__", "a"])


@pytest.mark.slow
def test_train_net_fine_tunes_from_a_run(run, tmp_path, capsys):
    data = tmp_path / "data"
    write_toy_dataset(str(data / "toy"), num_train=2, num_test=1, seed=4, workers=1)
    out = str(tmp_path / "tuned")
    tiny = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TRAIN.WARMUP_ITERS", "1",
            "TRAIN.IMS_PER_BATCH", "1", "TRAIN.SNAPSHOT_ITERS", "1"]
    code = tool("train_net").main(["--cfg", CFG, "--dataset", "toy_coco_train", "--data-dir", str(data),
                                   "--weights", run, "--iters", "1", "--output", out, "--no-progress",
                                   "--set", *tiny])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "pretrained: " in printed and f"variables from {run}" in printed
    assert "predictor rows kept for 3 classes of the same name: circle, rectangle, triangle" in printed
    with open(os.path.join(out, "classes.json")) as f:
        assert json.load(f) == ["__background__", "circle", "rectangle", "triangle"]


def test_predictors_of_another_width_stay_fresh(run):
    """New classes and a narrower box head: the predictors cannot take rows
    of another width; they are left as initialized and named."""
    cfg = get_cfg()
    merge_from_file(cfg, CFG)
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", "3", "MODEL.BOX_HEAD_DIM", "128"])
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    report = load_pretrained(model, run, ["__background__", "circle", "star"])
    assert "roi_heads/cls_score/kernel" in report.fresh and "roi_heads/fc_head/fc7/kernel" in report.fresh
    assert "mask_head/predictor/kernel" not in report.fresh  # the mask head kept its width


def test_class_ids_follow_names_when_counts_agree():
    from detect.engine.inference import class_mapping

    assert class_mapping(["__background__", "person", "car"], ["__background__", "car", "bicycle"]) == {2: 1}
    assert class_mapping(["__background__", "a", "b"], ["__background__", "a", "b"]) is None
    # VOC's names of COCO classes are those classes (a COCO model on a VOC set)
    from detect.weights.coco_classes import COCO_CATEGORIES
    from detect.datasets.pascal_voc import VOC_CLASSES

    coco = ["__background__"] + list(COCO_CATEGORIES.values())
    mapping = class_mapping(coco, ("__background__",) + VOC_CLASSES)
    assert len(mapping) == 20  # every VOC class is a COCO class
    assert mapping[coco.index("airplane")] == 1 and mapping[coco.index("tv")] == 20
    assert mapping[coco.index("couch")] == VOC_CLASSES.index("sofa") + 1


def test_finetune_config_builds_the_imported_detectron2_model():
    """experiments/cfgs/finetune_mask_rcnn_r50_fpn.yml differs from the
    detectron2 Mask R-CNN it fine-tunes only in training settings, so the
    import's run folder loads into it; the keys that differ are listed."""
    from detect.config import diff_cfg
    from detect.weights import zoo

    zoo_cfg, fine = get_cfg(), get_cfg()
    merge_from_file(zoo_cfg, zoo.ARCHITECTURES[("detectron2", "mask_rcnn_R_50_FPN_3x")].config_path)
    merge_from_file(fine, os.path.join(ROOT, "experiments", "cfgs", "finetune_mask_rcnn_r50_fpn.yml"))
    changed = {k.split(".")[0] + "." + k.split(".")[1] for k, _, _ in diff_cfg(zoo_cfg, fine)}
    assert {k for k in changed if k.startswith(("MODEL.", "RESNETS.", "FPN.", "ANCHOR.", "RPN."))} \
        == {"MODEL.FREEZE_AT", "MODEL.WEIGHTS"}
    assert fine.MODEL.WEIGHTS == "output/d2_mask_rcnn_3x"  # the header's import
    assert fine.TRAIN.LEARNING_RATE < zoo_cfg.TRAIN.LEARNING_RATE and fine.TRAIN.WARMUP_ITERS > 0
    assert fine.TEST.EVAL_PERIOD > 0 and fine.TRAIN.MAX_ITERS <= 5000
