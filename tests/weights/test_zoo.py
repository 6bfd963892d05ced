"""The zoo architectures' maps cover every tensor both ways, and an import
writes a run folder whose checkpoint holds exactly the source's arrays in
our layouts (inverses written here, independently of zoo.py)."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from detect.cli import import_weights as cli
from detect.config import get_cfg, merge_from_file, validate_cfg
from detect.engine.checkpoint import load_model
from detect.modeling.build import build_model
from detect.weights import WeightsFileError
from detect.weights import zoo
from tests.weights.torch_files import save_state_dict

TORCHVISION = [k for k in zoo.ARCHITECTURES if k[0] == "torchvision"]
# one per config (1x and 3x share theirs)
DETECTRON2 = [("detectron2", "faster_rcnn_R_50_FPN_1x"), ("detectron2", "mask_rcnn_R_50_FPN_3x"),
              ("detectron2", "faster_rcnn_R_50_C4_1x")]
SMALL_TEST = ["TEST.SCALES", "[96]", "TEST.MAX_SIZE", "128"]


def built(arch):
    cfg = get_cfg()
    merge_from_file(cfg, arch.config_path)
    validate_cfg(cfg)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    return model


_MODELS = {}


def model_of(key):
    if key not in _MODELS:
        _MODELS[key] = built(zoo.ARCHITECTURES[key])
    return _MODELS[key]


def to_source(path, value):
    """Our variable value -> the PyTorch array (the inverse layouts)."""
    if path.endswith("fc6/kernel"):  # rows (H, W, C) -> PyTorch's (C, H, W) flattening
        return value.reshape(7, 7, 256, -1).transpose(3, 2, 0, 1).reshape(value.shape[1], -1)
    if path.endswith("/kernel") and value.ndim == 2:
        return value.T
    if path.endswith("deconv/kernel"):  # [kh, kw, out, in] -> [in, out, kh, kw]
        return value.transpose(3, 2, 0, 1)
    if path.endswith("/kernel"):  # [kh, kw, in, out] -> [out, in, kh, kw]
        return value.transpose(3, 2, 0, 1)
    return value


def detectron2_source(path, value):
    """As to_source, for detectron2's class layouts: its background is the
    last score row and has no box or mask rows (ours are zeroed in place,
    since the import fills them with zeros)."""
    if path == "roi_heads/cls_score/kernel":
        return np.concatenate([value[:, 1:], value[:, :1]], 1).T
    if path == "roi_heads/cls_score/bias":
        return np.concatenate([value[1:], value[:1]])
    if path in ("roi_heads/bbox_pred/kernel", "roi_heads/bbox_pred/bias"):
        value[..., :4] = 0
        return to_source(path, value)[4:]
    if path in ("mask_head/predictor/kernel", "mask_head/predictor/bias"):
        value[..., 0] = 0
        return to_source(path, value)[1:]
    return to_source(path, value)


def new_style(name):
    """torchvision's current key names (Conv2dNormActivation), from the
    published files' flat ones."""
    name = re.sub(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.(weight|bias)$",
                  r"backbone.fpn.\1_blocks.\2.0.\3", name)
    name = re.sub(r"^rpn\.head\.conv\.(weight|bias)$", r"rpn.head.conv.0.0.\1", name)
    return re.sub(r"^roi_heads\.mask_head\.mask_fcn(\d)\.(weight|bias)$",
                  lambda m: f"roi_heads.mask_head.{int(m.group(1)) - 1}.0.{m.group(2)}", name)


def source_state(key, rng, style="flat"):
    """({source name: array}, {our path: value}) for the model of ``key``."""
    model, mapping = model_of(key), zoo.ARCHITECTURES[key].mapping()
    ours, state = {}, {}
    for v in model.variables:
        value = rng.normal(size=v.shape).astype(np.float32)
        if "moving_variance" in v.path:
            value = np.abs(value) + 0.5
        name = mapping[v.path][0]
        if key[0] == "detectron2":
            state[name] = detectron2_source(v.path, value)
        else:
            state[new_style(name) if style == "new" else name] = to_source(v.path, value)
        ours[v.path] = value
    return state, ours


@pytest.mark.parametrize("key", [k if k[1] in ("maskrcnn_resnet50_fpn", "faster_rcnn_R_50_C4_1x")
                                 else pytest.param(k, marks=pytest.mark.slow)
                                 for k in TORCHVISION + DETECTRON2], ids=lambda k: k[1])
def test_map_covers_every_variable_and_tensor_once(key):
    model, mapping = model_of(key), zoo.ARCHITECTURES[key].mapping()
    paths = [v.path for v in model.variables]
    assert len(set(paths)) == len(paths)
    assert set(mapping) == set(paths)
    sources = [src for src, _ in mapping.values()]
    assert len(set(sources)) == len(sources)
    # ResNet-50 has 53 convs (49 + 4 projections), res5 in the box head for C4
    assert sum(s.endswith(("conv1.weight", "conv2.weight", "conv3.weight", "downsample.0.weight",
                           "shortcut.weight")) for s in sources) == 53


@pytest.mark.slow
@pytest.mark.parametrize("arch,style", [("maskrcnn_resnet50_fpn", "flat"), ("maskrcnn_resnet50_fpn", "new"),
                                        ("maskrcnn_resnet50_fpn_v2", "new")])
def test_import_round_trip_and_tools_take_the_run(tmp_path, arch, style):
    key = ("torchvision", arch)
    state, ours = source_state(key, np.random.default_rng(1), style)
    state["backbone.body.bn1.num_batches_tracked"] = np.array(0, np.int64)  # bookkeeping: ignored
    path = str(tmp_path / "mask.pth")
    save_state_dict(path, state)
    run = str(tmp_path / "run")
    report, _ = cli.import_model(zoo.ARCHITECTURES[key], path, run, SMALL_TEST)
    assert report.assigned == len(ours) and report.ignored == ["backbone.body.bn1.num_batches_tracked"]
    cfg, model, _ = load_model(run)
    assert cfg.TEST.SCALES == [96] and cfg.RESNETS.NORM_EPS == (1e-5 if arch.endswith("v2") else 0.0)
    for v in model.variables:
        np.testing.assert_array_equal(v.numpy(), ours[v.path], err_msg=v.path)
    with open(os.path.join(run, "classes.json")) as f:
        names = json.load(f)
    assert len(names) == 91 and names[1] == "person" and names[12] == "N/A" and names[90] == "toothbrush"
    if arch.endswith("v2"):  # torchvision's own v2 names, as its state_dict() writes them
        assert "rpn.head.conv.1.0.weight" in state and "roi_heads.box_head.5.weight" in state
        assert "roi_heads.mask_head.3.1.running_var" in state and "backbone.fpn.inner_blocks.0.1.bias" in state
    if style == "flat":  # demo.py takes the run folder as it is
        from detect.cli.demo import main as demo
        assert demo(["--output", run, "--out-dir", str(tmp_path / "demo"), "--thresh", "0.0"]) == 0
        assert os.path.isfile(tmp_path / "demo" / "toy_sample_det.jpg")


@pytest.mark.slow
def test_detectron2_model_zoo_pickle_round_trip(tmp_path):
    """A model-zoo .pkl ({"model": {name: array}, "__author__", ...}) with
    its background last: scores move to row 0, box and mask rows for the
    background are zeros; pixel_mean / pixel_std are left out."""
    import pickle

    key = ("detectron2", "mask_rcnn_R_50_FPN_3x")
    state, ours = source_state(key, np.random.default_rng(3))
    state["pixel_mean"] = np.array([103.53, 116.28, 123.675], np.float32).reshape(3, 1, 1)
    path = str(tmp_path / "model_final_f10217.pkl")
    with open(path, "wb") as f:
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}, f)
    run = str(tmp_path / "run")
    report, _ = cli.import_model(zoo.ARCHITECTURES[key], path, run, SMALL_TEST)
    assert report.ignored == ["pixel_mean"]
    _, model, _ = load_model(run)
    got = {v.path: v.numpy() for v in model.variables}
    for p, value in ours.items():
        np.testing.assert_array_equal(got[p], value, err_msg=p)
    cls = state["roi_heads.box_predictor.cls_score.weight"]
    np.testing.assert_array_equal(got["roi_heads/cls_score/kernel"][:, 0], cls[80])  # background
    np.testing.assert_array_equal(got["roi_heads/cls_score/kernel"][:, 1], cls[0])  # person
    with open(os.path.join(run, "classes.json")) as f:
        names = json.load(f)
    assert len(names) == 81 and names[1] == "person" and names[80] == "toothbrush"


def _import_fails(tmp_path, state, match):
    path = str(tmp_path / "bad.pth")
    save_state_dict(path, state)
    run = tmp_path / "run"
    with pytest.raises(WeightsFileError, match=match):
        cli.import_model(zoo.ARCHITECTURES[("torchvision", "fasterrcnn_resnet50_fpn")], path, str(run))
    assert not run.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".import-")]


@pytest.mark.slow
def test_missing_extra_and_misshapen_tensors_are_named(tmp_path):
    key = ("torchvision", "fasterrcnn_resnet50_fpn")
    state, _ = source_state(key, np.random.default_rng(2))
    missing = dict(state)
    del missing["rpn.head.cls_logits.bias"]
    _import_fails(tmp_path, missing, r"lacks 1 tensors.*rpn\.head\.cls_logits\.bias")
    extra = dict(state, **{"roi_heads.mask_head.mask_fcn1.weight": np.zeros((256, 256, 3, 3), np.float32)})
    _import_fails(tmp_path, extra, r"1 tensors this architecture does not use.*mask_fcn1")
    other_classes = dict(state)
    other_classes["roi_heads.box_predictor.cls_score.weight"] = np.zeros((81, 1024), np.float32)
    _import_fails(tmp_path, other_classes, r"cls_score\.weight has shape \[81, 1024\].*\[1024, 91\]")


def test_cli_lists_and_explains_offline_download(tmp_path, capsys, monkeypatch):
    assert cli.main(["--list"]) == 0
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in capsys.readouterr().out

    def offline(*args, **kwargs):
        raise OSError("no network")
    monkeypatch.setattr(cli.urllib.request, "urlopen", offline)
    code = cli.main(["--source", "torchvision", "--arch", "fasterrcnn_resnet50_fpn", "--weights",
                     "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "--output", str(tmp_path / "r"),
                     "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "could not be downloaded" in err
    assert "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in err
    assert not os.listdir(tmp_path / "cache")


def test_zoo_slots_map_by_name_onto_a_coco_dataset():
    from detect.engine.inference import class_mapping
    from detect.weights.coco_classes import contiguous_coco_classes, torchvision_coco_classes

    mapping = class_mapping(torchvision_coco_classes(), contiguous_coco_classes())
    assert len(mapping) == 80 and 12 not in mapping  # slot 12 is "N/A"
    assert mapping[1] == 1 and mapping[13] == 12 and mapping[90] == 80  # person, stop sign, toothbrush
    person = class_mapping(torchvision_coco_classes(), ["__background__", "pedestrian"])
    assert person == {1: 1}
    assert class_mapping(["__background__", "a"], ["__background__", "b"]) is None  # same count: ids
    with pytest.raises(ValueError, match="share no name"):
        class_mapping(["__background__", "a", "b"], ["__background__", "c"])


@pytest.mark.slow
def test_torchvision_imagenet_resnet_as_backbone_weights(tmp_path):
    """MODEL.WEIGHTS: torchvision's resnet50 .pth (BatchNorm2d buffers with
    num_batches_tracked, the fc classifier) fills the resnet backbone."""
    from detect.modeling.backbones import resnet

    body = resnet(levels=(2, 3, 4, 5)).body
    rng = np.random.default_rng(4)
    mapping = zoo.torchvision_resnet_mapping(prefix="")
    ours = {v.path: rng.normal(size=v.shape).astype(np.float32) for v in body.weights}
    state = {mapping[p][0]: to_source(p, value) for p, value in ours.items()}
    state.update({"fc.weight": np.zeros((1000, 2048), np.float32), "fc.bias": np.zeros(1000, np.float32),
                  "bn1.num_batches_tracked": np.array(0, np.int64)})
    path = str(tmp_path / "resnet50-0676ba61.pth")
    save_state_dict(path, state)
    loaded = resnet(weights=path, levels=(2, 3, 4, 5)).body
    for v in loaded.weights:
        np.testing.assert_array_equal(v.numpy(), ours[v.path], err_msg=v.path)
    with pytest.raises(WeightsFileError, match="lacks 1 tensors.*layer4.2.conv3.weight"):
        del state["layer4.2.conv3.weight"]
        save_state_dict(path, state)
        resnet(weights=path, levels=(2, 3, 4, 5))


def test_detectron2_msra_r50_pkl_as_backbone_weights(tmp_path):
    """detectron2's ImageNetPretrained/MSRA/R-50.pkl: Caffe2 blob names,
    BatchNorm as scale (_bn_s) and shift (_bn_b) only (mean 0, variance 1
    on load), fc1000 and *_momentum blobs beside them."""
    import pickle

    from detect.modeling.backbones import resnet

    body = resnet(levels=(2, 3, 4), stride_in_1x1=True).body  # no res5: its blobs are left out
    rng = np.random.default_rng(6)
    blobs = {"fc1000_w": np.zeros((1000, 2048), np.float32), "fc1000_b": np.zeros(1000, np.float32),
             "res5_0_branch2a_w": np.zeros((512, 1024, 1, 1), np.float32)}
    expected = {}
    for v in body.weights:
        value = rng.normal(size=v.shape).astype(np.float32)
        name = v.path.split("/")[0]
        stem = name == "stem_conv" or name == "stem_bn"
        if name.endswith(("_conv1", "_conv2", "_conv3", "_shortcut")) or name == "stem_conv":
            branch = {"conv1": "branch2a", "conv2": "branch2b", "conv3": "branch2c",
                      "shortcut": "branch1"}
            blob = "conv1" if stem else name.rsplit("_", 1)[0] + "_" + branch[name.rsplit("_", 1)[1]]
            blobs[f"{blob}_w"] = to_source(v.path, value)
            blobs[f"{blob}_w_momentum"] = np.zeros_like(blobs[f"{blob}_w"])
        else:  # a BatchNorm: gamma / beta from the blobs, mean 0, variance 1
            bn = {"bn1": "branch2a_bn", "bn2": "branch2b_bn", "bn3": "branch2c_bn",
                  "shortcut_bn": "branch1_bn"}
            prefix, key = (("res_conv1_bn", None) if stem else
                           (None, next(k for k in bn if name.endswith("_" + k))))
            blob = prefix or name[: -len(key) - 1] + "_" + bn[key]
            attr = v.path.split("/")[1]
            if attr in ("gamma", "beta"):
                blobs[f"{blob}_{'s' if attr == 'gamma' else 'b'}"] = value
            else:
                value = np.zeros_like(value) if attr == "moving_mean" else np.ones_like(value)
        expected[v.path] = value
    path = str(tmp_path / "R-50.pkl")
    with open(path, "wb") as f:
        pickle.dump(blobs, f)
    loaded = resnet(weights=path, levels=(2, 3, 4), stride_in_1x1=True).body
    for v in loaded.weights:
        np.testing.assert_array_equal(v.numpy(), expected[v.path], err_msg=v.path)


@pytest.mark.slow
def test_a_zoo_file_is_found_as_a_pretrained_detector(tmp_path):
    """train_net --weights FILE: the file is read once, recognized by its
    tensor names, and mapped to our variable paths."""
    from detect.engine.finetune import find_pretrained

    key = ("torchvision", "fasterrcnn_resnet50_fpn")
    state, ours = source_state(key, np.random.default_rng(7))
    path = str(tmp_path / "fasterrcnn.pth")
    save_state_dict(path, state)
    found = find_pretrained(path)
    assert found.class_names[1] == "person" and len(found.class_names) == 91
    assert sorted(found.values) == sorted(ours)
    for p, value in ours.items():
        np.testing.assert_array_equal(found.values[p], value, err_msg=p)
