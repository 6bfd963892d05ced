#!/usr/bin/env python
"""Time of a 1 x 1 conv's training step (forward, d input, d kernel, d bias)
and of its forward pass: Keras' Conv2D against PointwiseConv2D
(detect/modeling/conv.py), on the quick start's shapes by default.

    python benchmarks/bench_pointwise.py [--threads 2] [--repeats 7] [--calls 50]

The cases (batch, height, width, in channels -> out channels): the RPN's
deltas and logits on P2 of two 160 x 200 images, the mask predictor on 32
RoIs, FPN's laterals on c2 and c3. Prints one JSON line per case with the
median ms of each variant (over --repeats timings of --calls calls each),
their ratio, and the largest difference of each gradient (d input, d
kernel, d bias) relative to its largest value; the forward passes must be
equal to the bit. The two variants run the same forward op, so its ratio
shows the timing noise.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from detect.tf_env import onednn_enabled, set_defaults  # noqa: E402

set_defaults(onednn=True)  # before TensorFlow is imported, as the quick start

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import timed  # noqa: E402
from detect.modeling.conv import PointwiseConv2D  # noqa: E402
from detect.utils.cpu import cpu_name, vector_class  # noqa: E402

CASES = {  # name: (input shape, out channels)
    "rpn_box_p2": ((2, 40, 50, 64), 12),
    "rpn_cls_p2": ((2, 40, 50, 64), 3),
    "mask_predictor": ((32, 28, 28, 64), 4),
    "fpn_lateral_c2": ((2, 40, 50, 64), 64),
    "fpn_lateral_c3": ((2, 20, 25, 128), 64),
}


def _functions(layer, x):
    @tf.function
    def train(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return [y] + tape.gradient(loss, [x] + layer.trainable_variables)

    return train, tf.function(lambda x: layer(x))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--calls", type=int, default=50, help="calls per timing")
    a = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    for name, (shape, out) in CASES.items():
        x = tf.random.stateless_normal(shape, [0, 1])
        keras_conv, ours = keras.layers.Conv2D(out, 1), PointwiseConv2D(out, 1)
        keras_conv.build(shape)
        ours.build(shape)
        ours.set_weights(keras_conv.get_weights())
        row = {"case": name, "input": list(shape), "out_channels": out, "threads": a.threads,
               "cpu": cpu_name(), "vector_unit": vector_class(), "onednn": onednn_enabled()}
        results = {}
        for variant, layer in (("keras", keras_conv), ("pointwise", ours)):
            train, forward = _functions(layer, x)
            results[variant] = [t.numpy() for t in train(x)]
            for what, fn in (("train_step", train), ("forward", forward)):
                median, _ = timed(lambda: [fn(x) for _ in range(a.calls)][-1][0].numpy(), a.repeats, 1)
                row[f"{variant}_{what}_ms"] = round(1000 * median / a.calls, 4)
        for what in ("train_step", "forward"):
            row[f"{what}_ratio"] = round(row[f"pointwise_{what}_ms"] / row[f"keras_{what}_ms"], 3)
        row["forward_equal"] = bool(np.array_equal(results["keras"][0], results["pointwise"][0]))
        row["max_rel_diff_grads"] = [float(np.abs(k - o).max() / max(np.abs(k).max(), 1e-30))
                                     for k, o in zip(results["keras"][1:], results["pointwise"][1:])]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
