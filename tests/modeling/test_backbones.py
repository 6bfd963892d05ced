"""Backbone strides, TFFRCNN's VGG_imagenet.npy weights, and what one
build shares (build_once.py)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from detect.modeling.backbones import BACKBONES
from detect.modeling.box_heads import BOX_HEADS
from detect.modeling.caffe_weights import VGG16_CONVS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("levels", [[3], [4], [2, 3, 4]])
def test_tiny_levels_and_strides(levels):
    backbone = BACKBONES.get("tiny")(levels=levels)
    out = backbone(tf.zeros([1, 96, 128, 3]))
    assert sorted(out) == sorted(backbone.strides) == [f"c{k}" for k in levels]
    for name, stride in backbone.strides.items():
        assert stride == 2 ** int(name[1:])
        assert out[name].shape == (1, 96 // stride, 128 // stride, backbone.channels[name])


def test_resnet50_levels_c2_to_c5():
    backbone = BACKBONES.get("resnet50")(levels=[2, 3, 4, 5])
    backbone.freeze(2)
    out = backbone(tf.zeros([1, 64, 96, 3]))
    assert {k: v.shape for k, v in out.items()} == {
        "c2": (1, 16, 24, 256), "c3": (1, 8, 12, 512), "c4": (1, 4, 6, 1024), "c5": (1, 2, 3, 2048)}
    frozen = [v.path for v in backbone.non_trainable_variables]
    assert any("conv2_block1_1_conv/kernel" in p for p in frozen)  # res2 frozen (FREEZE_AT 2)
    assert not any("conv3_block1_1_conv/kernel" in v.path for v in backbone.non_trainable_variables)
    assert all("_bn" not in v.path for v in backbone.trainable_variables)  # frozen BatchNorm


def test_backbones_reject_other_levels():
    with pytest.raises(ValueError, match=r"vgg16 backbone has strides 16 \(level 4\)"):
        BACKBONES.get("vgg16")(levels=[3])
    with pytest.raises(ValueError, match="the tiny backbone has strides"):
        BACKBONES.get("tiny")(levels=[5])


def _tffrcnn_file(path, fc_dim, rng):
    """A VGG_imagenet.npy in TFFRCNN's layout with random values."""
    data, cin = {}, 3
    for b, i in VGG16_CONVS:
        cout = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[b]
        data[f"conv{b}_{i}"] = {"weights": rng.normal(0, 0.05, (3, 3, cin, cout)).astype(np.float32),
                                "biases": rng.normal(0, 0.1, cout).astype(np.float32)}
        cin = cout
    data["fc6"] = {"weights": rng.normal(0, 0.01, (512 * 49, fc_dim)).astype(np.float32),
                   "biases": rng.normal(0, 0.1, fc_dim).astype(np.float32)}
    data["fc7"] = {"weights": rng.normal(0, 0.1, (fc_dim, fc_dim)).astype(np.float32),
                   "biases": rng.normal(0, 0.1, fc_dim).astype(np.float32)}
    data["fc8"] = {"weights": np.zeros((fc_dim, 1000), np.float32), "biases": np.zeros(1000, np.float32)}
    np.save(path, data, allow_pickle=True)
    return data


def test_vgg16_npy_matches_tffrcnn_layers(tmp_path):
    path = str(tmp_path / "VGG_imagenet.npy")
    data = _tffrcnn_file(path, 32, np.random.default_rng(0))
    backbone = BACKBONES.get("vgg16")(weights=path)
    head = BOX_HEADS.get("vgg16_fc")(weights=path, dim=32)
    conv = backbone.body.get_layer("block3_conv2")
    np.testing.assert_array_equal(conv.kernel.numpy(), data["conv3_2"]["weights"])
    np.testing.assert_array_equal(conv.bias.numpy(), data["conv3_2"]["biases"])
    # fc6 as TFFRCNN computes it: pooled features flattened channel-first
    pooled = tf.random.stateless_normal([3, 7, 7, 512], [1, 2])
    flat = tf.reshape(tf.transpose(pooled, [0, 3, 1, 2]), [3, -1])
    want = tf.nn.relu(flat @ data["fc6"]["weights"] + data["fc6"]["biases"])
    want = tf.nn.relu(want @ data["fc7"]["weights"] + data["fc7"]["biases"])
    got = head(pooled, training=False)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def test_vgg16_npy_errors_name_file_and_layer(tmp_path):
    rng = np.random.default_rng(1)
    path = str(tmp_path / "partial.npy")
    data = _tffrcnn_file(path, 16, rng)
    del data["conv4_2"]
    np.save(path, data, allow_pickle=True)
    with pytest.raises(ValueError, match="partial.npy has no weights/biases for layer conv4_2"):
        BACKBONES.get("vgg16")(weights=path)
    wrong = str(tmp_path / "wrong.npy")
    _tffrcnn_file(wrong, 16, rng)
    with pytest.raises(ValueError, match="layer fc6 has shapes"):
        BOX_HEADS.get("vgg16_fc")(weights=wrong, dim=8)
    junk = str(tmp_path / "junk.npy")
    np.save(junk, np.zeros(3))
    with pytest.raises(ValueError, match="must hold a dict of layers"):
        BACKBONES.get("vgg16")(weights=junk)
    with pytest.raises(ValueError, match="vgg16 only"):
        BACKBONES.get("resnet50")(weights=junk)
    with pytest.raises(FileNotFoundError, match="missing.npy does not exist"):
        BACKBONES.get("vgg16")(weights=str(tmp_path / "missing.npy"))


@pytest.mark.parametrize("shape", [(2, 21, 25, 8), (2, 20, 25, 8), (1, 7, 10, 8)])
def test_dilated_conv_matches_keras_for_any_traced_shape(shape):
    import keras

    from detect.modeling.backbones import DilatedConv2D

    ref = keras.layers.Conv2D(16, 3, padding="same", dilation_rate=2, use_bias=False)
    ours = DilatedConv2D(16, 3, padding="same", dilation_rate=2, use_bias=False)
    x = tf.random.stateless_normal(shape, [3, 4])
    ref(x), ours(x)
    ours.set_weights(ref.get_weights())

    def value_and_grads(layer, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            s = tf.reduce_sum(y * tf.sin(y))
        return [y] + tape.gradient(s, [x] + layer.trainable_variables)

    want = value_and_grads(ref, x)
    # traced with unknown sizes, as the trainer's reduce_retracing step is
    traced = tf.function(lambda x: value_and_grads(ours, x),
                         input_signature=[tf.TensorSpec([None, None, None, 8])])
    for a, b in zip(want, traced(x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_one_build_reads_the_vgg16_npy_once(tmp_path, monkeypatch):
    """The backbone's convolutions and the box head's fc6/fc7 come from one
    read of the file (build_once.py); both are loaded."""
    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.modeling import caffe_weights
    from detect.modeling.build import build_model

    path = str(tmp_path / "VGG_imagenet.npy")
    data = _tffrcnn_file(path, 32, np.random.default_rng(2))
    reads = []
    real = caffe_weights._read_npy  # pylint: disable=protected-access
    monkeypatch.setattr(caffe_weights, "_read_npy", lambda p: reads.append(p) or real(p))
    cfg = merge_from_file(get_cfg(), os.path.join(ROOT, "experiments", "cfgs", "faster_rcnn_vgg16.yml"))
    merge_from_list(cfg, ["MODEL.WEIGHTS", path, "MODEL.BOX_HEAD_DIM", "32"])
    model = build_model(cfg)
    assert reads == [path]
    np.testing.assert_array_equal(model.backbone.body.get_layer("block5_conv3").kernel.numpy(),
                                  data["conv5_3"]["weights"])
    np.testing.assert_array_equal(model.roi_heads.body.get_layer("fc7").kernel.numpy(),
                                  data["fc7"]["weights"])
    build_model(cfg)
    assert len(reads) == 2  # nothing held after a build


def test_r50_c4_builds_one_resnet50(monkeypatch):
    """The res5 box head is the res5 stage of the backbone's ResNet50, not of
    a second one: one keras.applications.ResNet50 per model, and every
    variable belongs to one part."""
    import keras

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.modeling.build import build_model

    made = []
    real = keras.applications.ResNet50
    monkeypatch.setattr(keras.applications, "ResNet50", lambda *a, **k: made.append(1) or real(*a, **k))
    cfg = merge_from_file(get_cfg(), os.path.join(ROOT, "experiments", "cfgs", "faster_rcnn_res50.yml"))
    merge_from_list(cfg, ["MODEL.WEIGHTS", "", "MODEL.NUM_CLASSES", "3"])
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 96, 3]), tf.constant([[64, 96]]))
    assert len(made) == 1
    backbone = {id(v) for v in model.backbone.variables}
    head = {id(v) for v in model.roi_heads.body.variables}
    assert backbone and head and not backbone & head
    assert any("conv5_block3_3_conv" in v.path for v in model.roi_heads.body.variables)
    assert not any("conv5_" in v.path for v in model.backbone.variables)
