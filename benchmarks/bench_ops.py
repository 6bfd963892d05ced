#!/usr/bin/env python
"""Times detect's RoI ops against torchvision's on the BASELINES.md cases.

Forward, and forward + backward (gradient of the output with respect to the
features for an upstream gradient of ones), on the CPU with the same number
of threads for both libraries, medians of --repeats runs after warm-up, in
one process so the two are measured under the same machine load. Also
times greedy NMS (Cython) against torchvision.ops.nms on RPN-like boxes.
Prints one JSON line per op and case, with ratios ours / torchvision.

    python benchmarks/bench_ops.py [--threads 2] [--repeats 5] [--cases vgg16_r128,...]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import numpy as np  # noqa: E402

from benchmarks.cases import CASES, SCALE, make_inputs  # noqa: E402
from benchmarks.timing import timed  # noqa: E402


def _median_ms(fn, repeats):
    return timed(fn, repeats)[0] * 1e3


def ours(case, features, rois):
    """(forward fn, forward+backward fn) of detect's op, as tf.functions."""
    import tensorflow as tf

    from detect.ops import ps_roi_pool, roi_align, roi_pool

    _, op, _, _, args = case
    if op == "roi_pool":
        call = lambda f: roi_pool(f, rois, args["pooled"], SCALE)
    elif op == "roi_align":
        call = lambda f: roi_align(f, rois, args["pooled"], SCALE, args["ratio"], args["aligned"])
    else:
        call = lambda f: ps_roi_pool(f, rois, args["output_dim"], args["group_size"], SCALE)
    f = tf.constant(features)
    rois = tf.constant(rois)
    fwd = tf.function(lambda: call(f))

    @tf.function
    def fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(f)
            out = call(f)
        # Returning the output too keeps the forward in the graph: roi_align's
        # and ps_roi_pool's gradients do not read it, and TF would prune it.
        return tape.gradient(out, f), out  # upstream gradient of ones

    return lambda: fwd().numpy(), lambda: [t.numpy() for t in fwd_bwd()]


def torchvision_fns(case, features, rois):
    import torch
    import torchvision.ops as tvo

    _, op, _, _, args = case
    x = torch.from_numpy(np.ascontiguousarray(features.transpose(0, 3, 1, 2)))
    boxes = torch.from_numpy(rois)
    if op == "roi_pool":
        call = lambda t: tvo.roi_pool(t, boxes, args["pooled"], SCALE)
    elif op == "roi_align":
        call = lambda t: tvo.roi_align(t, boxes, args["pooled"], SCALE, args["ratio"], args["aligned"])
    else:
        call = lambda t: tvo.ps_roi_pool(t, boxes, args["group_size"], SCALE)

    def fwd():
        with torch.no_grad():
            return call(x)

    def fwd_bwd():
        t = x.detach().requires_grad_(True)
        call(t).sum().backward()  # d sum / d out = ones
        return t.grad

    return fwd, fwd_bwd


def rpn_like_boxes(rng, n, height=600, width=1000):
    """Overlapping proposals: jittered copies of a few hundred objects."""
    objects = rng.uniform([0, 0, 30, 30], [width, height, 300, 300], (max(n // 20, 1), 4))
    idx = rng.integers(0, len(objects), n)
    cx, cy, w, h = objects[idx].T
    jitter = rng.normal(0, 0.15, (n, 4))
    cx, cy = cx + jitter[:, 0] * w, cy + jitter[:, 1] * h
    w, h = w * np.exp(jitter[:, 2]), h * np.exp(jitter[:, 3])
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return boxes.astype(np.float32), rng.random(n).astype(np.float32)


def bench_nms(n, repeats, have_torch):
    from detect.utils.cython_nms import nms

    boxes, scores = rpn_like_boxes(np.random.default_rng(0), n)
    line = {"bench": "ops", "op": "nms", "case": f"n{n}", "iou": 0.7,
            "kept": int(len(nms(boxes, scores, 0.7)))}
    line["fwd_ms"] = round(_median_ms(lambda: nms(boxes, scores, 0.7), repeats), 2)
    if have_torch:
        import torch
        import torchvision.ops as tvo

        b, s = torch.from_numpy(boxes), torch.from_numpy(scores)
        line["torchvision_kept"] = int(len(tvo.nms(b, s, 0.7)))
        line["torchvision_fwd_ms"] = round(_median_ms(lambda: tvo.nms(b, s, 0.7), repeats), 2)
        line["fwd_ratio"] = round(line["fwd_ms"] / line["torchvision_fwd_ms"], 3)
    return line


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    p.add_argument("--no-torchvision", action="store_true", help="time detect's ops only")
    a = p.parse_args()

    # torch first: importing it after TensorFlow crashes in triton's loader.
    have_torch = False
    if not a.no_torchvision:
        try:
            import torch
            import torchvision  # noqa: F401

            torch.set_num_threads(a.threads)
            have_torch = True
        except ImportError as e:
            print(json.dumps({"note": f"torchvision not importable ({e}); timing detect only"}))
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    wanted = {c for c in a.cases.split(",") if c}
    for case in CASES:
        name, op, shape, k, args = case
        if wanted and name not in wanted:
            continue
        features, rois = make_inputs(case)
        line = {"bench": "ops", "op": op, "case": name, "features_nhwc": list(shape), "rois": k,
                "threads": a.threads, "repeats": a.repeats}
        fwd, fwd_bwd = ours(case, features, rois)
        line["fwd_ms"] = round(_median_ms(fwd, a.repeats), 2)
        line["fwd_bwd_ms"] = round(_median_ms(fwd_bwd, a.repeats), 2)
        if have_torch:
            tfwd, tfwd_bwd = torchvision_fns(case, features, rois)
            line["torchvision_fwd_ms"] = round(_median_ms(tfwd, a.repeats), 2)
            line["torchvision_fwd_bwd_ms"] = round(_median_ms(tfwd_bwd, a.repeats), 2)
            line["fwd_ratio"] = round(line["fwd_ms"] / line["torchvision_fwd_ms"], 3)
            line["fwd_bwd_ratio"] = round(line["fwd_bwd_ms"] / line["torchvision_fwd_bwd_ms"], 3)
        print(json.dumps(line), flush=True)
    if not wanted or wanted & {"n6000", "n12000"}:
        for n in (6000, 12000):
            print(json.dumps(bench_nms(n, a.repeats, have_torch)), flush=True)


if __name__ == "__main__":
    main()
