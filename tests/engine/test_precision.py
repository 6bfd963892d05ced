"""Mixed precision (TRAIN.PRECISION, detect/precision.py): under each
policy one train step of the toy Mask R-CNN (FPN, RoIAlign, mask head) has
finite losses close to float32's; the model computes in the low precision,
the heads' outputs are float32, the RoI ops run on float32 inputs and the
RoIs never pass through the low precision; inference under the same policy;
mixed_float16 skips a step whose loss-scaled gradients overflow."""
import os

import numpy as np
import pytest
import tensorflow as tf

from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.datasets import get_dataset
from detect.datasets.pipeline import build_pipeline
from detect.datasets.toy import write_toy_dataset
from detect.precision import precision_policy
from detect.engine.trainer import Trainer
from detect.modeling.build import build_model
from detect.ops import roi_align

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
         "MODEL.NUM_CLASSES", "4", "TRAIN.WARMUP_ITERS", "0", "RPN.POST_NMS_TOP_N_TRAIN", "100",
         "TRAIN.ROI_BATCH_SIZE", "32", "TRAIN.SNAPSHOT_ITERS", "100"]
LOW = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}
SEED = tf.constant([3, 0], tf.int32)


def _cfg(precision):
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "toy_mask_rcnn.yml"))
    merge_from_list(cfg, SMALL + ["TRAIN.PRECISION", precision])
    return cfg


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=4, num_test=1, seed=9, workers=1)
    cfg = _cfg("float32")
    data = build_pipeline(get_dataset("toy_coco_train", str(root)), training=True, batch_size=2,
                          scales=(64,), max_size=96, seed=1, drop_empty=True, drop_remainder=True,
                          normalization="torch", with_masks=True, mask_size=cfg.MODEL.MASK_GT_SIZE)
    return next(iter(data))


def _one_step(precision, batch, out, overrides=()):
    cfg = _cfg(precision)
    merge_from_list(cfg, list(overrides))
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    trainer = Trainer(cfg, model, [batch], out)
    trainer.build(batch)
    losses, finite = trainer._train_step_fn()(batch, SEED)
    return {k: float(v) for k, v in losses.items()}, {k: bool(v) for k, v in finite.items()}, trainer


@pytest.fixture(scope="module")
def float32_losses(batch, tmp_path_factory):
    losses, finite, _ = _one_step("float32", batch, str(tmp_path_factory.mktemp("f32")))
    assert all(finite.values())
    return losses


def _ancestors(tensor):
    """Every tensor the given one is computed from, in its graph."""
    seen, stack = {}, [tensor]
    while stack:
        t = stack.pop()
        if t.name not in seen:
            seen[t.name] = t
            stack.extend(t.op.inputs)
    return list(seen.values())


def _roi_op_dtypes(graph):
    """The T attribute of every RoI op node in graph and its functions."""
    gd = graph.as_graph_def()
    nodes = list(gd.node) + [n for f in gd.library.function for n in f.node_def]
    return [tf.dtypes.as_dtype(n.attr["T"].type) for n in nodes
            if n.op in ("DetectRoiAlign", "DetectRoiPool", "DetectPsRoiPool")]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_one_step_under_each_policy(precision, batch, float32_losses, tmp_path):
    losses, finite, trainer = _one_step(precision, batch, str(tmp_path))
    model, low = trainer.model, LOW[precision]
    assert all(finite.values()), finite
    assert sorted(losses) == sorted(float32_losses)
    for k, v in float32_losses.items():
        # the RPN's losses see the same anchors; the heads' see RoIs sampled
        # from proposals whose order low-precision scores may change, so a
        # few RoIs may differ (measured on an AVX-512 EPYC: 0.7% at most);
        # test_same_function_within_the_rounding checks the heads on fixed RoIs
        rel = 0.01 if k.startswith("rpn") else 0.05
        assert losses[k] == pytest.approx(v, rel=rel, abs=1e-3), (k, losses[k], v)
    assert isinstance(trainer.optimizer, tf.keras.optimizers.LossScaleOptimizer) == \
        (precision == "mixed_float16")
    assert all(v.dtype == tf.float32 for v in model.variables)  # variables stay float32

    features = model.features(batch["image"])
    assert {f.dtype for f in features.values()} == {low}  # the model computes in low precision
    logits, deltas, anchors = model.rpn(features)
    assert {t.dtype for t in logits + deltas + anchors} == {tf.float32}
    rois = tf.constant([[0, 10.3, 12.7, 40.1, 50.9], [1, 5.01, 7.99, 33.33, 29.97]])
    cls, box = model.roi_heads(features, rois)
    masks = model.roi_heads.mask_logits(features, rois, tf.constant([1, 2]))
    assert (cls.dtype, box.dtype, masks.dtype) == (tf.float32,) * 3

    # the RoI ops get float32 features, and RoIs that never were low precision
    graph = tf.function(lambda b: model.compute_losses(b, SEED)).get_concrete_function(batch).graph
    assert _roi_op_dtypes(graph) and set(_roi_op_dtypes(graph)) == {tf.float32}
    pooler = model.roi_heads.pooler
    pool = tf.function(lambda f, r: pooler(f, r)).get_concrete_function(
        {k: tf.TensorSpec(v.shape, v.dtype) for k, v in features.items()}, tf.TensorSpec([None, 5]))
    roi_ops = [op for op in pool.graph.get_operations() if op.type == "DetectRoiAlign"]
    assert roi_ops
    for op in roi_ops:
        assert op.inputs[0].dtype == tf.float32
        assert {t.dtype for t in _ancestors(op.inputs[1])} <= {tf.float32, tf.int32, tf.int64, tf.bool}
    # RoIs of < 112 px go to the finest level: the op on float32 features
    expected = roi_align(tf.cast(features["p2"], tf.float32), rois, pooler.output_size, 1 / 4,
                         pooler.sampling_ratio, aligned=True)
    np.testing.assert_array_equal(pooler(features, rois).numpy(), tf.cast(expected, low).numpy())

    # inference under the same policy
    out = model.detect(batch["image"], batch["image_size"])
    for k in ("boxes", "scores", "masks"):
        assert out[k].dtype == tf.float32 and np.isfinite(out[k].numpy()).all(), k


@pytest.mark.slow
def test_mixed_float16_accumulates_under_the_loss_scale(batch, float32_losses, tmp_path):
    """2 micro-steps of 1 image (batching.py): the loss-scaled gradients are
    summed, then unscaled and checked once; the losses are float32's."""
    losses, finite, trainer = _one_step("mixed_float16", batch, str(tmp_path), ["TRAIN.IMS_PER_DEVICE", "1"])
    assert all(finite.values()), finite
    assert sorted(losses) == sorted(float32_losses)
    for k in ("rpn_cls", "rpn_box"):  # per-image means: the same whatever the split
        assert losses[k] == pytest.approx(float32_losses[k], rel=0.01, abs=1e-3), k
    assert int(trainer.optimizer.iterations.numpy()) == 1  # one update
    assert float(trainer.optimizer.dynamic_scale.numpy()) == 2.0 ** 15  # no overflow


# the relative step of each low precision: 11 and 8 significant bits
STEP = {"mixed_float16": 2.0 ** -11, "mixed_bfloat16": 2.0 ** -8}
FIXED_ROIS = tf.constant([[0, 10.3, 12.7, 40.1, 50.9], [1, 5.01, 7.99, 33.33, 29.97], [0, 30, 5, 90, 60]])


def _outputs(precision, batch):
    """Features, RPN logits and the heads' outputs on FIXED_ROIS of a model
    built with seed 0 under the policy (inference mode: no BatchNorm update)."""
    with precision_policy(precision):
        tf.keras.utils.set_random_seed(0)
        model = build_model(_cfg(precision))
        model.detect(batch["image"], batch["image_size"])
        features = model.features(batch["image"])
        logits, _, _ = model.rpn(features)
        cls, box = model.roi_heads(features, FIXED_ROIS)
        masks = model.roi_heads.mask_logits(features, FIXED_ROIS, tf.constant([1, 2, 3]))
        out = {"p2": features["p2"], "p4": features["p4"],
               "rpn": tf.concat([tf.reshape(t, [-1]) for t in logits], 0),
               "cls": cls, "box": box, "mask": masks}
        return [v.numpy() for v in model.variables], {k: tf.cast(v, tf.float32).numpy() for k, v in out.items()}


@pytest.mark.parametrize("precision", [pytest.param("mixed_float16", marks=pytest.mark.slow), "mixed_bfloat16"])
def test_same_function_within_the_rounding(precision, batch):
    weights, want = _outputs("float32", batch)
    low_weights, got = _outputs(precision, batch)
    for a, b in zip(weights, low_weights):  # the same weights: only the arithmetic differs
        np.testing.assert_array_equal(a, b)
    # Each layer rounds its output to the low precision (a relative step of
    # STEP); through the backbone, FPN and heads these roundings add up to a
    # few steps of the largest entry (measured on an AVX-512 EPYC: 5.3 at
    # most, float16 and bfloat16 alike). 12 steps: about 2x that margin.
    for k in want:
        err = np.abs(got[k] - want[k]).max() / np.abs(want[k]).max()
        assert err <= 12 * STEP[precision], (k, err / STEP[precision])


def test_the_policy_is_put_back_and_a_bad_name_is_an_error():
    before = tf.keras.config.dtype_policy().name
    with precision_policy("mixed_bfloat16"):
        assert tf.keras.config.dtype_policy().name == "mixed_bfloat16"
    assert tf.keras.config.dtype_policy().name == before
    with pytest.raises(ValueError, match="TRAIN.PRECISION must be one of float32, mixed_float16"):
        with precision_policy("float16"):
            pass


@pytest.mark.slow
def test_mixed_float16_skips_an_overflowing_step_and_goes_on(batch, tmp_path):
    cfg = _cfg("mixed_float16")
    tf.keras.utils.set_random_seed(0)
    trainer = Trainer(cfg, build_model(cfg), [batch] * 8, str(tmp_path))
    trainer.build(batch)
    trainer.optimizer.dynamic_scale.assign(2.0 ** 18)  # float16 gradients overflow at first
    before = [v.numpy() for v in trainer.model.trainable_variables]
    losses = trainer.train(6, progress=False)
    assert 1 <= trainer.skipped < 6 and int(trainer.step.numpy()) == 6, trainer.skipped
    assert float(trainer.optimizer.dynamic_scale.numpy()) <= 2.0 ** 17
    assert int(trainer.optimizer.iterations.numpy()) == 6  # a skipped step still counts
    assert np.isfinite(list(losses.values())).all()
    after = [v.numpy() for v in trainer.model.trainable_variables]
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # the other steps applied
    assert trainer.manager.latest_checkpoint.endswith("ckpt-6")
