"""CUDA kernels against the CPU kernels, through TensorFlow, on a GPU.

These run where TensorFlow sees a GPU, and are skipped only where it sees
none (the CUDA sources are still compiled by test_cuda_sources.py). With a
GPU visible, CUDA kernels that are missing or did not load are a failure,
not a skip: a broken CUDA build must not leave the suite green.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

import detect.ops as ops
from detect.ops_reference import cases

HAS_GPU = bool(tf.config.list_physical_devices("GPU"))
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no GPU visible to TensorFlow")
GPU_LIBRARY = os.path.join(os.path.dirname(ops.__file__), "_ops_gpu.so")

OPS = {
    "roi_pool": (lambda f, r: ops.roi_pool(f, r, (3, 4), 1 / 16), 6),
    "ps_roi_pool": (lambda f, r: ops.ps_roi_pool(f, r, 2, 3, 1 / 16), 18),
    "roi_align_adaptive": (lambda f, r: ops.roi_align(f, r, (3, 4), 1 / 16, 0, True), 6),
    "roi_align_v1": (lambda f, r: ops.roi_align(f, r, (5, 5), 1 / 16, 2, False), 6),
}


def test_kernels_registered_for_the_devices_present():
    kernels = ops.registered_kernels()
    assert set(kernels) == set(ops.OP_NAMES)
    for name, devices in kernels.items():
        assert "CPU" in devices, (name, devices)
    if not tf.test.is_built_with_cuda():
        # tensorflow-cpu cannot load _ops_gpu.so: no op may claim a GPU kernel
        assert not ops.GPU_KERNELS
        assert all("GPU" not in d for d in kernels.values()), kernels


@needs_gpu
def test_a_visible_gpu_has_every_cuda_kernel():
    assert os.path.exists(GPU_LIBRARY), (
        f"TensorFlow sees a GPU but {GPU_LIBRARY} was not built (nvcc missing, or a "
        "tensorflow-cpu build); rebuild with a CUDA TensorFlow and nvcc on PATH")
    assert ops.GPU_KERNELS, f"{GPU_LIBRARY} exists but did not load (see the warning at import)"
    missing = [name for name, devices in ops.registered_kernels().items() if "GPU" not in devices]
    assert not missing, f"no GPU kernel registered for {missing}"


def _run(fn, f, rois, upstream, device):
    with tf.device(device):
        x = tf.identity(tf.constant(f))
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x, tf.constant(rois))
        grad = tape.gradient(out, x, output_gradients=tf.constant(upstream))
    return out.numpy(), grad.numpy()


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPS))
def test_gpu_matches_cpu_and_is_deterministic(name, dtype):
    fn, channels = OPS[name]
    rng = np.random.default_rng(0)
    f = cases.features(rng, (3, 9, 11, channels), dtype)
    rois = cases.random_rois(rng, 40, 3, 9 * 16, 11 * 16).astype(dtype)
    out_cpu = fn(f, rois).numpy()
    upstream = rng.normal(size=out_cpu.shape).astype(dtype)
    cpu = _run(fn, f, rois, upstream, "/CPU:0")
    gpu = _run(fn, f, rois, upstream, "/GPU:0")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=tol, atol=tol)
    again = _run(fn, f, rois, upstream, "/GPU:0")
    assert np.array_equal(again[1], gpu[1])


@needs_gpu
def test_gpu_rejects_bad_rois():
    with tf.device("/GPU:0"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="batch index"):
            ops.roi_align(tf.zeros([1, 4, 4, 2]), tf.constant([[3.0, 0, 0, 8, 8]]))
