"""Loads the compiled op libraries once, with errors that say how to fix them.

``_ops.so`` holds the op definitions and CPU kernels and is always loaded.
``_ops_gpu.so`` holds the CUDA kernels; it is loaded only when TensorFlow is
a CUDA build (it cannot load under tensorflow-cpu) and registers its kernels
onto the ops of the first library.
"""
import json
import os
import warnings

import tensorflow as tf

_HERE = os.path.dirname(os.path.abspath(__file__))
REBUILD = "pip install --no-build-isolation --force-reinstall --no-deps -e ."


class OpsNotBuiltError(ImportError):
    """The compiled ops are missing or do not match the installed TensorFlow."""


def _build_info(directory):
    path = os.path.join(directory, "_build_info.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def load(directory=_HERE):
    """Loads ``_ops.so`` (and ``_ops_gpu.so`` where it can run) from directory.

    Returns:
      (op module, whether GPU kernels loaded, build info dict).

    Raises:
      OpsNotBuiltError: missing, built for another TensorFlow, or unloadable;
        the message names the command that rebuilds it.
    """
    path = os.path.join(directory, "_ops.so")
    if not os.path.exists(path):
        raise OpsNotBuiltError(
            f"detect's compiled ops are not built: {path} is missing. From the "
            f"repository root, build them with: {REBUILD}")
    info = _build_info(directory)
    built_for = info.get("tf_version")
    if built_for and built_for != tf.__version__:
        raise OpsNotBuiltError(
            f"{path} was built for TensorFlow {built_for}, but TensorFlow "
            f"{tf.__version__} is installed; custom ops only load in the "
            f"TensorFlow they were compiled against. Rebuild with: {REBUILD}")
    try:
        lib = tf.load_op_library(path)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
        raise OpsNotBuiltError(
            f"{path} does not load in TensorFlow {tf.__version__} ({e}). An "
            "'undefined symbol' means it was built against another TensorFlow "
            f"or compiler ABI. Rebuild with: {REBUILD}") from e
    gpu = False
    gpu_path = os.path.join(directory, "_ops_gpu.so")
    if os.path.exists(gpu_path) and tf.test.is_built_with_cuda():
        try:
            tf.load_library(gpu_path)
            gpu = True
        except tf.errors.NotFoundError as e:
            warnings.warn(f"detect: CUDA kernels in {gpu_path} did not load ({e}); "
                          f"the ops run on the CPU only. Rebuild with: {REBUILD}")
    return lib, gpu, info


LIB, GPU_KERNELS, BUILD_INFO = load()
