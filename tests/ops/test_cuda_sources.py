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

import sys

import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc"
                                if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed on this machine")
OPS = ("roi_pool", "ps_roi_pool", "roi_align")
sys.path.insert(0, os.path.join(ROOT, "tools", "cuda_check"))
import kernel_checks  # noqa: E402


@needs_nvcc
@pytest.mark.slow
def test_cuda_launchers_compile_and_export(tmp_path):
    lib = kernel_checks.build(str(tmp_path / "harness.so"), cuda_arch="90", nvcc=NVCC)
    handle = ctypes.CDLL(lib)
    for op in OPS:
        for direction in ("forward", "backward"):
            for suffix in ("f32", "f64"):
                assert hasattr(handle, f"{op}_{direction}_{suffix}")


@needs_nvcc
def test_common_cuda_sources_compile(tmp_path):
    cmd = [NVCC, "-std=c++17", "-c", "-Xcompiler", "-fPIC", "-I", "csrc",
           "-gencode=arch=compute_90,code=sm_90", "csrc/common/cuda_copy.cu",
           "-o", str(tmp_path / "cuda_copy.o")]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_nvcc
@pytest.mark.slow
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
