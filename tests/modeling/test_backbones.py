"""Backbone strides and TFFRCNN's VGG_imagenet.npy weights."""
import numpy as np
import pytest
import tensorflow as tf

from detect.modeling.backbones import BACKBONES
from detect.modeling.box_heads import BOX_HEADS
from detect.modeling.caffe_weights import VGG16_CONVS


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
