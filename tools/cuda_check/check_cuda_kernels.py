#!/usr/bin/env python
"""Checks the CUDA kernels against the NumPy references, without TensorFlow.

For a GPU machine that has nvcc and PyTorch but no TensorFlow: builds
csrc/*/*_cuda.cu with harness.cu into a plain shared library, calls the
launchers through ctypes on PyTorch CUDA tensors, and compares forward
outputs, argmax and backward gradients with tests/ops/reference.py on random
cases (RoIs inside, across and outside the map, tiny and huge, half-cell
coordinates, several images), for float32 and float64. It also checks that
each backward gives the same bits twice, then times the standard cases of
BASELINES.md. Every result is one JSON line.

    python tools/cuda_check/check_cuda_kernels.py --arch 90 [--out results.jsonl]
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import cases as bench_cases  # noqa: E402
from tests.ops import cases, reference  # noqa: E402

SOURCES = ["tools/cuda_check/harness.cu", "csrc/roi_pool/roi_pool_cuda.cu",
           "csrc/ps_roi_pool/ps_roi_pool_cuda.cu", "csrc/roi_align/roi_align_cuda.cu"]


def build(arch, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    lib = os.path.join(out_dir, "detect_cuda_harness.so")
    cmd = (["nvcc", "-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", "-I", "csrc",
            f"-gencode=arch=compute_{arch},code=sm_{arch}", "-o", lib]
           + SOURCES)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return lib, time.time() - t0


class Kernels:
    """ctypes view of harness.cu; every call checks the returned error."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        P, I, F, B = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_bool
        sig = {
            "roi_pool_forward": [P, P, P, I, I, I, I, I, I, F, P, P],
            "roi_pool_backward": [P, P, P, P, I, I, I, I, I, I, I, F, P],
            "ps_roi_pool_forward": [P, P, P, I, I, I, I, I, F, P],
            "ps_roi_pool_backward": [P, P, P, I, I, I, I, I, I, F, P],
            "roi_align_forward": [P, P, P, I, I, I, I, I, I, F, I, B, P],
            "roi_align_backward": [P, P, P, I, I, I, I, I, I, I, F, I, B, P],
        }
        for name, args in sig.items():
            for suffix in ("f32", "f64"):
                fn = getattr(self.lib, f"{name}_{suffix}")
                fn.argtypes, fn.restype = args, ctypes.c_char_p

    def __call__(self, name, dtype, *args):
        import torch

        suffix = "f32" if dtype == np.float32 else "f64"
        stream = torch.cuda.current_stream().cuda_stream
        conv = [a.data_ptr() if hasattr(a, "data_ptr") else a for a in args]
        err = getattr(self.lib, f"{name}_{suffix}")(stream, *conv)
        if err:
            raise RuntimeError(f"{name}: {err.decode()}")


def _t(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


def _empty(shape, dtype):
    import torch

    return torch.empty(shape, dtype={np.float32: torch.float32, np.float64: torch.float64,
                                     np.int32: torch.int32}[dtype], device="cuda")


def check_roi_pool(k, dtype, seed):
    rng = np.random.default_rng(seed)
    N, H, W, C, PH, PW, K = 2, 9, 11, 5, 3, 4, 14
    f = cases.features(rng, (N, H, W, C), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16).astype(dtype)
    out, arg = _empty((K, PH, PW, C), dtype), _empty((K, PH, PW, C), np.int32)
    k("roi_pool_forward", dtype, _t(f), _t(rois), K, H, W, C, PH, PW, 1 / 16, out, arg)
    ref, ref_arg = reference.roi_pool(f, rois, (PH, PW), 1 / 16)
    up = rng.normal(size=(K, PH, PW, C)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = _empty((N, H, W, C), dtype)
        k("roi_pool_backward", dtype, _t(up), _t(rois), arg, N, K, H, W, C, PH, PW, 1 / 16, gf)
        grads.append(gf.cpu().numpy())
    ref_g = reference.roi_pool_grad((N, H, W, C), rois, ref_arg, up.astype(np.float64))
    return {
        "forward_max_abs_err": float(np.abs(out.cpu().numpy() - ref).max()),
        "argmax_equal": bool(np.array_equal(arg.cpu().numpy(), ref_arg)),
        "backward_max_abs_err": float(np.abs(grads[0] - ref_g).max()),
        "deterministic": bool(np.array_equal(grads[0], grads[1])),
    }


def check_ps_roi_pool(k, dtype, seed):
    rng = np.random.default_rng(seed)
    N, H, W, D, G, K = 2, 9, 11, 3, 3, 14
    f = cases.features(rng, (N, H, W, D * G * G), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16).astype(dtype)
    out = _empty((K, G, G, D), dtype)
    k("ps_roi_pool_forward", dtype, _t(f), _t(rois), K, H, W, D, G, 1 / 16, out)
    ref = reference.ps_roi_pool(f, rois, D, G, 1 / 16, geom=dtype)
    up = rng.normal(size=(K, G, G, D)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = _empty((N, H, W, D * G * G), dtype)
        k("ps_roi_pool_backward", dtype, _t(up), _t(rois), N, K, H, W, D, G, 1 / 16, gf)
        grads.append(gf.cpu().numpy())
    ref_g = reference.ps_roi_pool_grad((N, H, W, D * G * G), rois, up.astype(np.float64), D, G,
                                       1 / 16, geom=dtype)
    return {
        "forward_max_abs_err": float(np.abs(out.cpu().numpy() - ref).max()),
        "backward_max_abs_err": float(np.abs(grads[0] - ref_g).max()),
        "deterministic": bool(np.array_equal(grads[0], grads[1])),
    }


def check_roi_align(k, dtype, seed, ratio, aligned):
    rng = np.random.default_rng(seed)
    N, H, W, C, PH, PW, K = 2, 8, 10, 4, 3, 4, 12
    f = cases.features(rng, (N, H, W, C), dtype)
    rois = cases.random_rois(rng, K, N, H * 16, W * 16).astype(dtype)
    out = _empty((K, PH, PW, C), dtype)
    k("roi_align_forward", dtype, _t(f), _t(rois), K, H, W, C, PH, PW, 1 / 16, ratio, aligned, out)
    ref = reference.roi_align(f, rois, (PH, PW), 1 / 16, ratio, aligned, geom=dtype)
    up = rng.normal(size=(K, PH, PW, C)).astype(dtype)
    grads = []
    for _ in range(2):
        gf = _empty((N, H, W, C), dtype)
        k("roi_align_backward", dtype, _t(up), _t(rois), N, K, H, W, C, PH, PW, 1 / 16, ratio,
          aligned, gf)
        grads.append(gf.cpu().numpy())
    ref_g = reference.roi_align_grad((N, H, W, C), rois, up.astype(np.float64), 1 / 16, ratio,
                                     aligned, geom=dtype)
    return {
        "forward_max_abs_err": float(np.abs(out.cpu().numpy() - ref).max()),
        "backward_max_abs_err": float(np.abs(grads[0] - ref_g).max()),
        "deterministic": bool(np.array_equal(grads[0], grads[1])),
    }


def _passes(result, dtype):
    tol = 1e-4 if dtype == np.float32 else 1e-10
    return (result.get("argmax_equal", True) and result["deterministic"]
            and result["forward_max_abs_err"] <= tol and result["backward_max_abs_err"] <= tol)


def time_case(k, case, repeats):
    import torch

    name, op, shape, K, args = case
    f, rois = bench_cases.make_inputs(case)
    N, H, W, C = shape
    ft, rt = _t(f), _t(rois)
    out_shape = bench_cases.output_shape(case)
    out = _empty(out_shape, np.float32)
    up = torch.ones(out_shape, device="cuda")
    gf = _empty(shape, np.float32)
    arg = _empty(out_shape, np.int32)
    if op == "roi_pool":
        fwd = lambda: k("roi_pool_forward", np.float32, ft, rt, K, H, W, C, *args["pooled"], 1 / 16, out, arg)
        bwd = lambda: k("roi_pool_backward", np.float32, up, rt, arg, N, K, H, W, C, *args["pooled"], 1 / 16, gf)
    elif op == "ps_roi_pool":
        D, G = args["output_dim"], args["group_size"]
        fwd = lambda: k("ps_roi_pool_forward", np.float32, ft, rt, K, H, W, D, G, 1 / 16, out)
        bwd = lambda: k("ps_roi_pool_backward", np.float32, up, rt, N, K, H, W, D, G, 1 / 16, gf)
    else:
        PH, PW = args["pooled"]
        fwd = lambda: k("roi_align_forward", np.float32, ft, rt, K, H, W, C, PH, PW, 1 / 16, args["ratio"], args["aligned"], out)
        bwd = lambda: k("roi_align_backward", np.float32, up, rt, N, K, H, W, C, PH, PW, 1 / 16, args["ratio"], args["aligned"], gf)

    def median_ms(fn):
        times = []
        for i in range(repeats + 3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            if i >= 3:
                times.append(start.elapsed_time(end))
        return float(np.median(times))

    fwd_ms = median_ms(fwd)
    return {"bench": "cuda_ops", "op": op, "case": name, "fwd_ms": round(fwd_ms, 4),
            "fwd_bwd_ms": round(fwd_ms + median_ms(bwd), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="90", help="SM version to build for, e.g. 90 for H100")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build", "cuda_check"))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", help="also append the JSON lines to this file")
    a = p.parse_args()
    import torch

    lib, seconds = build(a.arch, a.build_dir)
    k = Kernels(lib)
    lines = [{"build": lib, "seconds": round(seconds, 1), "device": torch.cuda.get_device_name()}]
    failures = 0
    for dtype in (np.float32, np.float64):
        for seed in range(3):
            checks = [("roi_pool", {}, check_roi_pool(k, dtype, seed)),
                      ("ps_roi_pool", {}, check_ps_roi_pool(k, dtype, seed))]
            for ratio in (2, 0):
                for aligned in (True, False):
                    checks.append(("roi_align", {"ratio": ratio, "aligned": aligned},
                                   check_roi_align(k, dtype, seed, ratio, aligned)))
            for op, extra, result in checks:
                ok = _passes(result, dtype)
                failures += not ok
                lines.append({"check": op, "dtype": np.dtype(dtype).name, "seed": seed, **extra,
                              **result, "pass": ok})
    for case in bench_cases.CASES:
        lines.append(time_case(k, case, a.repeats))
    for line in lines:
        print(json.dumps(line), flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
    print(f"{sum('check' in l for l in lines) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
