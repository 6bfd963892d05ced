"""The CUDA side compiles wherever nvcc exists, even without a CUDA build of
TensorFlow (CI uses tensorflow-cpu, so setup.py skips _ops_gpu.so there).

* nvcc builds every csrc/*/*_cuda.cu launcher, with the ctypes harness of
  tools/cuda_check, into one shared library that exports every entry point.
* g++ type-checks every *_gpu.cc OpKernel against TensorFlow's headers and
  the CUDA headers beside nvcc (-fsyntax-only instantiates the templates).

Running the kernels needs a GPU: tools/cuda_check/check_cuda_kernels.py.
"""
import ctypes
import os
import shutil
import subprocess

import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc"
                                if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed on this machine")
OPS = ("roi_pool", "ps_roi_pool", "roi_align")


@needs_nvcc
def test_cuda_launchers_compile_and_export(tmp_path):
    lib = tmp_path / "harness.so"
    sources = ["tools/cuda_check/harness.cu"] + [f"csrc/{op}/{op}_cuda.cu" for op in OPS] + [
        "csrc/common/cuda_copy.cu"]
    cmd = [NVCC, "-std=c++17", "-O1", "-shared", "-Xcompiler", "-fPIC", "-I", "csrc",
           "-gencode=arch=compute_90,code=sm_90", "-o", str(lib)] + sources
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    handle = ctypes.CDLL(str(lib))
    for op in OPS:
        for direction in ("forward", "backward"):
            for suffix in ("f32", "f64"):
                assert hasattr(handle, f"{op}_{direction}_{suffix}")


@needs_nvcc
def test_gpu_op_kernels_type_check():
    candidates = [os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(NVCC))), "include"),
                  os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "include"),
                  "/usr/local/cuda/include"]
    cuda_include = next((d for d in candidates if os.path.exists(os.path.join(d, "cuda_runtime.h"))),
                        None)
    assert cuda_include, f"nvcc at {NVCC} has no cuda_runtime.h in {candidates}"
    base = ["g++", "-std=c++17", "-fsyntax-only", "-Wno-deprecated-declarations",
            "-Wno-interference-size", "-Icsrc", "-DDETECT_WITH_CUDA=1"] + \
        tf.sysconfig.get_compile_flags() + [f"-I{cuda_include}"]
    procs = {op: subprocess.Popen(base + [f"csrc/{op}/{op}_gpu.cc"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for op in OPS}
    for op, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{op}_gpu.cc:\n{err}"
