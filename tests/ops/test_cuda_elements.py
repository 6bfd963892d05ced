"""The CUDA kernels' per-element bodies (csrc/*/*_elements.h), compiled for
the host by tools/cuda_check/host_elements.cc, against the NumPy references:
forward, argmax, the gather-formulated backward and its determinism, for
float32 and float64. This checks the GPU arithmetic on machines without a
GPU; tools/cuda_check/check_cuda_kernels.py runs the same checks on one.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "cuda_check"))

import kernel_checks as kc  # noqa: E402


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    path = kc.build(str(tmp_path_factory.mktemp("host_elements") / "host_elements.so"))
    return kc.Kernels(path, kc.HostBackend())


def test_cuda_element_bodies_match_references(kernels):
    results = kc.run_checks(kernels, seeds=range(2))
    failed = [r for r in results if not r["pass"]]
    assert not failed, failed
    assert len(results) == 2 * 2 * (2 + 8)


def test_cuda_backward_matches_cpu_kernel_scatter(kernels):
    # The GPU gathers per feature element; the CPU kernel scatters per RoI.
    import numpy as np
    import tensorflow as tf

    from detect.ops import roi_align
    from detect.ops_reference import cases

    rng = np.random.default_rng(3)
    f = cases.features(rng, (2, 8, 10, 4))
    rois = cases.random_rois(rng, 12, 2, 8 * 16, 10 * 16)
    up = rng.normal(size=(12, 3, 4, 4))
    ft = tf.constant(f)
    with tf.GradientTape() as tape:
        tape.watch(ft)
        out = roi_align(ft, rois, (3, 4), 1 / 16, 0, True)
    cpu = tape.gradient(out, ft, output_gradients=tf.constant(up)).numpy()
    gf = np.zeros_like(f)
    kernels("roi_align_backward", np.float64, up, rois, 2, 12, 8, 10, 4, 3, 4, 1 / 16, 0, True, gf)
    np.testing.assert_allclose(gf, cpu, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_bodies_match_cpu_kernel_on_huge_rois(kernels, dtype):
    # Diverged proposals: the GPU bodies share the skipped-sample range with
    # the CPU kernels, and the gather's cell filter must keep every cell that
    # a visited sample reads, so both give the same numbers (and finish).
    import numpy as np
    import tensorflow as tf

    from detect.ops import roi_align

    dt = np.dtype(dtype).type
    rng = np.random.default_rng(4)
    f = rng.normal(size=(1, 16, 16, 2)).astype(dt)
    rois = np.array([[0, -v, -v, v, v] for v in (1e7, 1e12, 3e12, 1e30)]
                    + [[0, -1e12, -1e12, 20.0, 1e12]], dt)
    up = rng.normal(size=(len(rois), 14, 14, 2)).astype(dt)
    ft = tf.constant(f)
    with tf.GradientTape() as tape:
        tape.watch(ft)
        out = roi_align(ft, rois, (14, 14), 1 / 8, 0, True)
    cpu_grad = tape.gradient(out, ft, output_gradients=tf.constant(up)).numpy()
    gpu_out, gpu_grad = np.zeros_like(up), np.zeros_like(f)
    kernels("roi_align_forward", dt, f, rois, len(rois), 16, 16, 2, 14, 14, 1 / 8, 0, True, gpu_out)
    kernels("roi_align_backward", dt, up, rois, 1, len(rois), 16, 16, 2, 14, 14, 1 / 8, 0, True,
            gpu_grad)
    tol = 1e-4 if dt == np.float32 else 1e-10
    for k in range(len(rois)):  # outputs scale as 1 / count: compare each RoI to its own size
        ref = out.numpy()[k]
        if k == 0:  # farther out, float32 rounding (or, at 1e30, 1.6e16-cell steps) may give 0
            assert np.abs(ref).max() > 0
        np.testing.assert_allclose(gpu_out[k], ref, rtol=tol, atol=tol * np.abs(ref).max())
    np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=tol, atol=tol * np.abs(cpu_grad).max())
