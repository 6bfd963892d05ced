#!/usr/bin/env python
"""Checks the CUDA kernels against the NumPy references, without TensorFlow.

For a GPU machine that has nvcc and PyTorch but no TensorFlow: builds
csrc/*/*_cuda.cu with harness.cu into a plain shared library, calls the
launchers through ctypes on PyTorch CUDA tensors, and compares forward
outputs, argmax and backward gradients with detect.ops_reference on random
cases (RoIs inside, across and outside the map, tiny and huge, half-cell
coordinates, several images), for float32 and float64, and checks that each
backward gives the same bits twice. Then it times the standard cases of
BASELINES.md. Every result is one JSON line; the last line counts passes.
From the repository root, which must be on the import path for ``detect``
(NumPy only: detect.ops_reference, not detect.ops) and ``benchmarks``:

    PYTHONPATH=. python tools/cuda_check/check_cuda_kernels.py --arch 90 [--out results.jsonl]

``--host`` runs the same checks on the kernels' per-element bodies compiled
for the CPU (what tests/ops/test_cuda_elements.py does), with no GPU.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

RUN = "PYTHONPATH=. python tools/cuda_check/check_cuda_kernels.py --arch 90"
try:
    import kernel_checks as kc  # beside this script
    from benchmarks import cases as bench_cases
except ModuleNotFoundError as e:
    if (e.name or "").split(".")[0] not in ("detect", "benchmarks"):
        raise
    sys.exit(f"check_cuda_kernels.py: cannot import {e.name}: run it from the repository root "
             f"with the root on the import path:\n    {RUN}")


def time_case(k, case, repeats):
    """Median CUDA-event times of forward and forward + backward, in ms."""
    import torch

    name, op, shape, K, args = case
    b = k.backend
    f, rois = bench_cases.make_inputs(case)
    N, H, W, C = shape
    ft, rt = b.put(f), b.put(rois)
    out_shape = bench_cases.output_shape(case)
    out, arg = b.empty(out_shape, np.float32), b.empty(out_shape, np.int32)
    up, gf = b.put(np.ones(out_shape, np.float32)), b.empty(shape, np.float32)
    f32 = np.float32
    if op == "roi_pool":
        PH, PW = args["pooled"]
        fwd = lambda: k("roi_pool_forward", f32, ft, rt, K, H, W, C, PH, PW, 1 / 16, out, arg)
        bwd = lambda: k("roi_pool_backward", f32, up, rt, arg, N, K, H, W, C, PH, PW, 1 / 16, gf)
    elif op == "ps_roi_pool":
        D, G = args["output_dim"], args["group_size"]
        fwd = lambda: k("ps_roi_pool_forward", f32, ft, rt, K, H, W, D, G, 1 / 16, out)
        bwd = lambda: k("ps_roi_pool_backward", f32, up, rt, N, K, H, W, D, G, 1 / 16, gf)
    else:
        PH, PW = args["pooled"]
        r, al = args["ratio"], args["aligned"]
        fwd = lambda: k("roi_align_forward", f32, ft, rt, K, H, W, C, PH, PW, 1 / 16, r, al, out)
        bwd = lambda: k("roi_align_backward", f32, up, rt, N, K, H, W, C, PH, PW, 1 / 16, r, al, gf)

    def median_ms(fn):
        times = []
        for i in range(repeats + 3):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            if i >= 3:
                times.append(start.elapsed_time(end))
        return float(np.median(times))

    fwd_ms, bwd_ms = median_ms(fwd), median_ms(bwd)
    return {"bench": "cuda_ops", "op": op, "case": name, "fwd_ms": round(fwd_ms, 4),
            "fwd_bwd_ms": round(fwd_ms + bwd_ms, 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="90", help="SM version to build for, e.g. 90 for H100")
    p.add_argument("--host", action="store_true", help="check the element bodies on the CPU")
    p.add_argument("--build-dir", default=os.path.join(kc.ROOT, "build", "cuda_check"))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", help="also append the JSON lines to this file")
    a = p.parse_args()
    t0 = time.time()
    if a.host:
        lib = kc.build(os.path.join(a.build_dir, "host_elements.so"))
        backend, device = kc.HostBackend(), "host"
    else:
        import torch

        lib = kc.build(os.path.join(a.build_dir, "cuda_harness.so"), cuda_arch=a.arch)
        backend, device = kc.TorchCudaBackend(), torch.cuda.get_device_name()
    k = kc.Kernels(lib, backend)
    lines = [{"build": lib, "seconds": round(time.time() - t0, 1), "device": device}]
    checks = kc.run_checks(k)
    lines += checks
    if not a.host:
        lines += [time_case(k, case, a.repeats) for case in bench_cases.CASES]
    for line in lines:
        print(json.dumps(line), flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
    failed = sum(not c["pass"] for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
