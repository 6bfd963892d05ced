"""Checks the compiled RoI ops: versions, registered kernels, and a tiny
forward and backward of each op on every device that has a kernel.

    python tools/check_ops.py

Exits non-zero if the library does not load or any check fails; the
message says how to rebuild.
"""
import argparse

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import numpy as np
import tensorflow as tf


def _cases():
    from detect.ops import ps_roi_pool, roi_align, roi_pool

    return {
        "roi_pool": (lambda f, r: roi_pool(f, r, (2, 2), 1 / 16), 8),
        "ps_roi_pool": (lambda f, r: ps_roi_pool(f, r, output_dim=2, group_size=2), 8),
        "roi_align": (lambda f, r: roi_align(f, r, (2, 2), 1 / 16, 2, True), 8),
    }


def _smoke(fn, channels, device):
    with tf.device(device):
        f = tf.constant(np.linspace(-1, 1, 2 * 6 * 6 * channels).reshape(2, 6, 6, channels),
                        tf.float32)
        rois = tf.constant([[0, 0, 0, 64, 64], [1, 16, 8, 90, 80]], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(f)
            out = fn(f, rois)
        grad = tape.gradient(out, f)
    ok = bool(np.all(np.isfinite(out.numpy())) and np.abs(grad.numpy()).sum() > 0)
    return ok, out.shape, float(tf.reduce_sum(grad))


def main(argv=None):
    # no options: parsed so that --help describes the check instead of running it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    print(f"TensorFlow {tf.__version__} (CUDA build: {tf.test.is_built_with_cuda()})")
    try:
        import detect.ops as ops
    except ImportError as e:
        print(f"FAILED to load detect's ops: {e}")
        return 1
    info = ops.BUILD_INFO
    print(f"built for TensorFlow {info.get('tf_version', '?')}; CUDA kernels built: "
          f"{info.get('with_cuda')}" + (f" (skipped: {info['cuda_skipped']})"
                                        if info.get("cuda_skipped") else ""))
    print(f"GPU kernels loaded: {ops.GPU_KERNELS}; GPUs visible: "
          f"{len(tf.config.list_physical_devices('GPU'))}")
    kernels = ops.registered_kernels()
    width = max(map(len, kernels))
    for name, devices in kernels.items():
        print(f"  {name:<{width}}  {', '.join(devices) or 'NONE'}")
    devices = ["/CPU:0"] + [f"/GPU:{i}" for i, _ in
                            enumerate(tf.config.list_physical_devices("GPU"))]
    failures = 0
    for name, (fn, channels) in _cases().items():
        for device in devices:
            try:
                ok, shape, gsum = _smoke(fn, channels, device)
            except Exception as e:  # report every op, then fail
                ok, shape, gsum = False, None, str(e).splitlines()[0]
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:<12} {device:<7} forward {shape} "
                  f"backward sum {gsum}")
    if failures:
        print(f"{failures} check(s) failed; rebuild with: {ops.BUILD_INFO.get('rebuild', '')}")
    return 1 if failures else 0
