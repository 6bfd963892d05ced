"""Builds detect's compiled parts against the installed TensorFlow.

* ``detect/ops/_ops.so``: REGISTER_OPs and CPU kernels of roi_pool,
  ps_roi_pool and roi_align (g++ with TensorFlow's own compile/link flags).
* ``detect/ops/_ops_gpu.so``: their CUDA kernels, built only when nvcc is
  found and TensorFlow is a CUDA build. nvcc compiles the pure-CUDA ``*.cu``
  launchers (no TensorFlow headers); g++ compiles the GPU OpKernels against
  TensorFlow's bundled CUDA headers. Nothing links ``-lcudart``: the symbols
  resolve to TensorFlow's own CUDA runtime.
* ``detect/utils/cython_bbox`` and ``cython_nms``: host-side box utilities.

TensorFlow must be installed first, and the build must see it:
``pip install --no-build-isolation -e .`` (see README.md).

Environment:
  DETECT_CUDA        auto (default) | 0 (never build CUDA) | 1 (fail without)
  DETECT_CUDA_ARCHS  e.g. "75;80;86;89;90": SASS for each, PTX for the last
  NVCC, CUDA_HOME    where to find nvcc
  CXX                the C++ compiler (default g++)
  DETECT_BUILD_JOBS  parallel compile jobs (default: number of CPUs)
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = "csrc"
OPS = ["roi_pool", "ps_roi_pool", "roi_align"]
REBUILD = ("pip install --no-build-isolation --force-reinstall --no-deps -e . "
           "(or: python setup.py build_ext --inplace)")
CXX_WARN = ["-Wno-deprecated-declarations", "-Wno-interference-size"]


class TfOpLibrary(Extension):
    """A shared library loaded with tf.load_op_library, never imported."""

    def __init__(self, name, cc, cu=(), gpu=False):
        super().__init__(name, sources=list(cc) + list(cu))
        self.cc, self.cu, self.gpu = list(cc), list(cu), gpu


def _sources(pattern):
    return sorted(os.path.join(CSRC, op, pattern.format(op=op)) for op in OPS)


def _log(msg):
    print(f"detect: {msg}", flush=True)


def _find_nvcc():
    candidates = [os.environ.get("NVCC")]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            candidates.append(os.path.join(os.environ[var], "bin", "nvcc"))
    candidates += [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def _nvcc_version(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _gencode(archs):
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    return flags + [f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}"]


class BuildExt(build_ext):
    def run(self):
        try:
            import tensorflow as tf
        except ImportError as e:
            sys.exit("detect: TensorFlow must be importable to build the ops "
                     f"({e}). Install it first (pip install tensorflow-cpu==2.21.* "
                     "or tensorflow[and-cuda]==2.21.*), then run "
                     "`pip install --no-build-isolation -e .`.")
        self.tf = tf
        self.tf_cflags = tf.sysconfig.get_compile_flags()
        self.tf_lflags = tf.sysconfig.get_link_flags()
        build = tf.sysconfig.get_build_info()
        self.with_cuda, self.nvcc, why = self._cuda_choice(build)
        self.cuda_skipped = why or None
        if not self.with_cuda:
            _log(f"CUDA kernels skipped: {why}")
            self.extensions = [e for e in self.extensions
                               if not (isinstance(e, TfOpLibrary) and e.gpu)]
            self._remove_stale_gpu_library()
        super().run()
        self._write_build_info(build)

    def _cuda_choice(self, build):
        mode = os.environ.get("DETECT_CUDA", "auto").strip().lower()
        if mode in ("0", "off", "false", "no"):
            return False, None, "DETECT_CUDA=0"
        nvcc = _find_nvcc()
        if not build.get("is_cuda_build", False):
            why = (f"TensorFlow {self.tf.__version__} is not a CUDA build "
                   "(tensorflow-cpu); install tensorflow[and-cuda] for GPU kernels")
        elif nvcc is None:
            why = "nvcc not found (set NVCC or CUDA_HOME, or put nvcc on PATH)"
        else:
            return True, nvcc, ""
        if mode in ("1", "on", "true", "yes"):
            sys.exit(f"detect: DETECT_CUDA=1 but {why}")
        return False, None, why

    def _remove_stale_gpu_library(self):
        stale = os.path.join(ROOT, "detect", "ops", "_ops_gpu.so")
        if os.path.exists(stale):
            os.remove(stale)
            _log(f"removed stale {os.path.relpath(stale, ROOT)}")

    def get_ext_filename(self, ext_name):
        # distutils asks with the full dotted name or only its last part.
        for e in self.extensions:
            if isinstance(e, TfOpLibrary) and ext_name in (e.name, e.name.split(".")[-1]):
                return os.path.join(*ext_name.split(".")) + ".so"
        return super().get_ext_filename(ext_name)

    def build_extension(self, ext):
        if not isinstance(ext, TfOpLibrary):
            return super().build_extension(ext)
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = os.path.join(self.build_temp, ext.name)
        os.makedirs(tmp, exist_ok=True)
        cxx = os.environ.get("CXX", "g++")
        inc = ["-I" + os.path.join(ROOT, CSRC)]
        cflags = ["-std=c++17", "-O3", "-fPIC", "-DNDEBUG"] + CXX_WARN + inc + self.tf_cflags
        if ext.gpu:
            cflags += ["-DDETECT_WITH_CUDA=1", "-I" + os.path.join(
                self.tf.sysconfig.get_include(), "third_party", "gpus", "cuda", "include")]
        jobs = [(src, os.path.join(tmp, os.path.basename(src) + ".o"))
                for src in ext.cc + ext.cu]
        cmds = []
        for src, obj in jobs:
            if src.endswith(".cu"):
                cmds.append(self._nvcc_cmd(src, obj, inc))
            else:
                cmds.append([cxx] + cflags + ["-c", src, "-o", obj])
        n = int(os.environ.get("DETECT_BUILD_JOBS", os.cpu_count() or 1))
        _log(f"compiling {len(cmds)} files for {ext.name} ({n} jobs)")
        with ThreadPoolExecutor(max_workers=max(n, 1)) as pool:
            for cmd, result in zip(cmds, pool.map(self._spawn, cmds)):
                if result.returncode != 0:
                    sys.stderr.write(result.stdout + result.stderr)
                    sys.exit(f"detect: compile failed: {' '.join(cmd)}")
        link = ([cxx, "-shared", "-fPIC"] + [o for _, o in jobs] + ["-o", out]
                + self.tf_lflags + ["-Wl,--no-undefined"])
        result = self._spawn(link)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            sys.exit(f"detect: link failed: {' '.join(link)}")
        _log(f"built {os.path.relpath(out, ROOT) if out.startswith(ROOT) else out}")

    def _nvcc_cmd(self, src, obj, inc):
        major, _ = _nvcc_version(self.nvcc)
        default = "75;80;86;89;90" if major >= 13 else "60;70;75;80;86;89;90"
        archs = [a.strip() for a in re.split(r"[;, ]+", os.environ.get(
            "DETECT_CUDA_ARCHS", default)) if a.strip()]
        abi = [f for f in self.tf_cflags if f.startswith("-D_GLIBCXX_USE_CXX11_ABI")]
        return ([self.nvcc, "-std=c++17", "-O3", "-c", src, "-o", obj,
                 "-Xcompiler", "-fPIC"] + inc + abi + _gencode(archs))

    @staticmethod
    def _spawn(cmd):
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)

    def _write_build_info(self, build):
        info = {
            "tf_version": self.tf.__version__,
            "tf_cuda_version": build.get("cuda_version"),
            "with_cuda": bool(self.with_cuda),
            "cuda_skipped": self.cuda_skipped,
            "nvcc": self.nvcc,
            "nvcc_version": ".".join(map(str, _nvcc_version(self.nvcc))) if self.nvcc else None,
            "rebuild": REBUILD,
        }
        targets = {os.path.dirname(self.get_ext_fullpath("detect.ops._ops"))}
        if self.inplace or self.editable_mode:
            targets.add(os.path.join(ROOT, "detect", "ops"))
        for d in targets:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "_build_info.json"), "w") as f:
                json.dump(info, f, indent=2)


def _cython_extensions():
    import numpy as np
    from Cython.Build import cythonize

    exts = [Extension(f"detect.utils.{name}", [f"detect/utils/{name}.pyx"],
                      include_dirs=[np.get_include()],
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                      extra_compile_args=["-O3"])
            for name in ("cython_bbox", "cython_nms")]
    return cythonize(exts, language_level=3, quiet=True)


setup(
    packages=find_packages(include=["detect", "detect.*"]),
    package_data={"detect.ops": ["_ops.so", "_ops_gpu.so", "_build_info.json"]},
    ext_modules=[
        TfOpLibrary("detect.ops._ops", _sources("{op}_ops.cc") + _sources("{op}_kernels.cc")),
        TfOpLibrary("detect.ops._ops_gpu", _sources("{op}_gpu.cc"),
                    cu=_sources("{op}_cuda.cu") + [os.path.join(CSRC, "common", "cuda_copy.cu")],
                    gpu=True),
    ] + _cython_extensions(),
    cmdclass={"build_ext": BuildExt},
)
