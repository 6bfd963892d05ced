#!/usr/bin/env python
"""Peak memory and time of one 3x3 conv's training step (forward, d input,
d kernel): TensorFlow's Conv2D gradient against BoundedConv2D's
(detect/modeling/conv.py), on FPN's P2 of a 600 x 1000 image by default.

    python benchmarks/bench_conv.py [--size 150,250] [--batch 1] [--channels 256] [--threads 2] [--repeats 5]

Memory is what TensorFlow's BFC allocator reports (the script turns it on
for the CPU): the step's peak above what was allocated before it (the input
and the upstream gradient). Prints one JSON line per variant, then their
ratios; the gradients of both are compared too (max abs difference).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # memory stats for the CPU
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from detect.tf_env import onednn_enabled, set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import timed  # noqa: E402
from detect.modeling.conv import bounded_conv2d  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="150,250", help="height,width of the feature map")
    p.add_argument("--batch", type=int, default=1, help="images (e.g. 128 with --size 14,14: a mask head)")
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    h, w = (int(v) for v in a.size.split(","))
    c = a.channels
    x = tf.random.stateless_normal([a.batch, h, w, c], [0, 1])
    upstream = tf.random.stateless_normal([a.batch, h, w, c], [0, 2])
    kernel = tf.Variable(tf.random.stateless_normal([3, 3, c, c], [0, 3]) * 0.01)
    variants = {"tensorflow": lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), "bounded": bounded_conv2d}
    rows, grads = {}, {}
    for name, conv in variants.items():
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(conv(x, kernel) * upstream)
            return tape.gradient(loss, [x, kernel])

        grads[name] = [g.numpy() for g in step()]  # traced, warmed up
        median, times = timed(lambda: [g.numpy() for g in step()], a.repeats, 1)
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        step()
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
        rows[name] = {"variant": name, "batch": a.batch, "size": [h, w], "channels": c, "threads": a.threads,
                      "peak_above_inputs_mb": round((peak - before) / 2 ** 20, 1),
                      "activation_mb": round(a.batch * h * w * c * 4 / 2 ** 20, 1), "median_s": median,
                      "times_s": times}
        print(json.dumps(rows[name]), flush=True)
    t, s = rows["tensorflow"], rows["bounded"]
    diff = [float(np.abs(a - b).max()) for a, b in zip(grads["tensorflow"], grads["bounded"])]
    print(json.dumps({"ratio": "bounded / tensorflow", "onednn": onednn_enabled(), "peak_above_inputs": round(
        s["peak_above_inputs_mb"] / t["peak_above_inputs_mb"], 3),
        "time": round(s["median_s"] / t["median_s"], 3),
        "max_abs_diff_dx_dkernel": diff}), flush=True)


if __name__ == "__main__":
    main()
