"""The CUDA kernels (or their bodies run on the host) against the NumPy
references of detect.ops_reference, through the extern "C" entry points of
harness.cu / host_elements.cc. NumPy only, plus PyTorch for the GPU backend:
``detect`` must be importable (the repository root on PYTHONPATH, or the
package installed); detect.ops_reference loads no TensorFlow.
"""
import ctypes
import os
import subprocess

import numpy as np

from detect import ops_reference
from detect.ops_reference import cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CUDA_SOURCES = ["tools/cuda_check/harness.cu", "csrc/roi_pool/roi_pool_cuda.cu",
                "csrc/ps_roi_pool/ps_roi_pool_cuda.cu", "csrc/roi_align/roi_align_cuda.cu"]
HOST_SOURCES = ["tools/cuda_check/host_elements.cc"]


def build(out_path, cuda_arch=None, nvcc="nvcc"):
    """Builds the GPU harness (cuda_arch given, nvcc) or the host one (g++)."""
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    if cuda_arch:
        cmd = ([nvcc, "-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", "-I", "csrc",
                f"-gencode=arch=compute_{cuda_arch},code=sm_{cuda_arch}", "-o", out_path]
               + CUDA_SOURCES)
    else:
        cmd = ["g++", "-std=c++17", "-O2", "-shared", "-fPIC", "-Icsrc", "-o", out_path] + HOST_SOURCES
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"build failed: {' '.join(cmd)}\n{result.stderr}")
    return out_path


class HostBackend:
    """NumPy arrays in host memory (for host_elements.cc)."""

    stream = 0

    def put(self, a):
        return np.ascontiguousarray(a)

    def empty(self, shape, dtype):
        return np.full(shape, -7, dtype)  # garbage: every element must be written

    def get(self, x):
        return x

    @staticmethod
    def ptr(x):
        return x.ctypes.data


class TorchCudaBackend:
    """PyTorch CUDA tensors on the current stream (for harness.cu)."""

    def __init__(self):
        import torch

        self.torch = torch
        self.stream = torch.cuda.current_stream().cuda_stream

    def put(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a)).cuda()

    def empty(self, shape, dtype):
        t = {np.float32: self.torch.float32, np.float64: self.torch.float64,
             np.int32: self.torch.int32}[dtype]
        return self.torch.full(shape, -7, dtype=t, device="cuda")

    def get(self, x):
        return x.cpu().numpy()

    @staticmethod
    def ptr(x):
        return x.data_ptr()


class Kernels:
    """ctypes view of the harness; every call checks the returned error."""

    SIGNATURES = {
        "roi_pool_forward": "PPPIIIIIIFPP",
        "roi_pool_backward": "PPPPIIIIIIIFP",
        "ps_roi_pool_forward": "PPPIIIIIFP",
        "ps_roi_pool_backward": "PPPIIIIIIFP",
        "roi_align_forward": "PPPIIIIIIFIBP",
        "roi_align_backward": "PPPIIIIIIIFIBP",
    }
    CTYPES = {"P": ctypes.c_void_p, "I": ctypes.c_int64, "F": ctypes.c_float, "B": ctypes.c_bool}

    def __init__(self, path, backend):
        self.lib, self.backend = ctypes.CDLL(path), backend
        for name, sig in self.SIGNATURES.items():
            for suffix in ("f32", "f64"):
                fn = getattr(self.lib, f"{name}_{suffix}")
                fn.argtypes = [self.CTYPES[c] for c in sig]
                fn.restype = ctypes.c_char_p

    def __call__(self, name, dtype, *args):
        suffix = "f32" if dtype == np.float32 else "f64"
        conv = [a if isinstance(a, (int, float, bool)) else self.backend.ptr(a) for a in args]
        err = getattr(self.lib, f"{name}_{suffix}")(self.backend.stream, *conv)
        if err:
            raise RuntimeError(f"{name}: {err.decode()}")


def _errors(out, ref, grads, ref_grad):
    return {"forward_max_abs_err": float(np.abs(out - ref).max(initial=0)),
            "backward_max_abs_err": float(np.abs(grads[0] - ref_grad).max(initial=0)),
            "deterministic": bool(np.array_equal(grads[0], grads[1]))}


def check_roi_pool(k, dtype, seed):
    b, rng = k.backend, np.random.default_rng(seed)
    N, H, W, C, PH, PW, K = 2, 9, 11, 5, 3, 4, 14
    f = cases.features(rng, (N, H, W, C), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16).astype(dtype)
    out, arg = b.empty((K, PH, PW, C), dtype), b.empty((K, PH, PW, C), np.int32)
    k("roi_pool_forward", dtype, b.put(f), b.put(rois), K, H, W, C, PH, PW, 1 / 16, out, arg)
    ref, ref_arg = ops_reference.roi_pool(f, rois, (PH, PW), 1 / 16)
    up = rng.normal(size=(K, PH, PW, C)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = b.empty((N, H, W, C), dtype)
        k("roi_pool_backward", dtype, b.put(up), b.put(rois), arg, N, K, H, W, C, PH, PW, 1 / 16, gf)
        grads.append(b.get(gf))
    ref_grad = ops_reference.roi_pool_grad((N, H, W, C), rois, ref_arg, up.astype(np.float64))
    result = _errors(b.get(out), ref, grads, ref_grad)
    result["argmax_equal"] = bool(np.array_equal(b.get(arg), ref_arg))
    return result


def check_ps_roi_pool(k, dtype, seed):
    b, rng = k.backend, np.random.default_rng(seed)
    N, H, W, D, G, K = 2, 9, 11, 3, 3, 14
    f = cases.features(rng, (N, H, W, D * G * G), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16).astype(dtype)
    out = b.empty((K, G, G, D), dtype)
    k("ps_roi_pool_forward", dtype, b.put(f), b.put(rois), K, H, W, D, G, 1 / 16, out)
    ref = ops_reference.ps_roi_pool(f, rois, D, G, 1 / 16, geom=dtype)
    up = rng.normal(size=(K, G, G, D)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = b.empty((N, H, W, D * G * G), dtype)
        k("ps_roi_pool_backward", dtype, b.put(up), b.put(rois), N, K, H, W, D, G, 1 / 16, gf)
        grads.append(b.get(gf))
    ref_grad = ops_reference.ps_roi_pool_grad((N, H, W, D * G * G), rois, up.astype(np.float64),
                                              D, G, 1 / 16, geom=dtype)
    return _errors(b.get(out), ref, grads, ref_grad)


def check_roi_align(k, dtype, seed, ratio, aligned, huge=False):
    b, rng = k.backend, np.random.default_rng(seed)
    N, H, W, C, PH, PW, K = 2, 8, 10, 4, 3, 4, 12
    f = cases.features(rng, (N, H, W, C), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16)
    if huge:  # RoIs many times the map: exercises the skipped-sample ranges
        rois[:3, 1:] = [[-700, -300, 900, 500], [-50, 20, 40, 1800], [-2000, -2000, 3000, 100]]
    rois = rois.astype(dtype)
    out = b.empty((K, PH, PW, C), dtype)
    k("roi_align_forward", dtype, b.put(f), b.put(rois), K, H, W, C, PH, PW, 1 / 16, ratio, aligned, out)
    ref = ops_reference.roi_align(f, rois, (PH, PW), 1 / 16, ratio, aligned, geom=dtype)
    up = rng.normal(size=(K, PH, PW, C)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = b.empty((N, H, W, C), dtype)
        k("roi_align_backward", dtype, b.put(up), b.put(rois), N, K, H, W, C, PH, PW, 1 / 16, ratio,
          aligned, gf)
        grads.append(b.get(gf))
    ref_grad = ops_reference.roi_align_grad((N, H, W, C), rois, up.astype(np.float64), 1 / 16,
                                            ratio, aligned, geom=dtype)
    return _errors(b.get(out), ref, grads, ref_grad)


def passes(result, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    return bool(result.get("argmax_equal", True) and result["deterministic"]
                and result["forward_max_abs_err"] <= tol and result["backward_max_abs_err"] <= tol)


def run_checks(k, seeds=range(3)):
    """Every check on float32 and float64: a list of JSON-able result dicts."""
    lines = []
    for dtype in (np.float32, np.float64):
        for seed in seeds:
            checks = [("roi_pool", {}, check_roi_pool(k, dtype, seed)),
                      ("ps_roi_pool", {}, check_ps_roi_pool(k, dtype, seed))]
            for ratio in (2, 0):
                for aligned in (True, False):
                    for huge in (False, True):
                        checks.append(("roi_align", {"ratio": ratio, "aligned": aligned, "huge": huge},
                                       check_roi_align(k, dtype, seed, ratio, aligned, huge)))
            for op, extra, result in checks:
                lines.append({"check": op, "dtype": np.dtype(dtype).name, "seed": seed, **extra,
                              **result, "pass": passes(result, dtype)})
    return lines
