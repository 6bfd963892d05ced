"""Environment defaults for TensorFlow; they only take effect when set before
TensorFlow is imported, so tools call ``set_defaults()`` first:

    from detect.tf_env import set_defaults
    set_defaults()
    import tensorflow as tf

TF_CPP_MIN_LOG_LEVEL=2   hides TensorFlow's C++ info and warning lines.
TF_ENABLE_ONEDNN_OPTS=1  uses oneDNN's CPU kernels (convolutions and their
                         gradients, matmuls). TensorFlow turns them on by
                         itself only on CPUs with AVX-512 VNNI or newer; on
                         AVX2 CPUs they train the quick-start model about 1.7x
                         faster (benchmarks/bench_models.py --onednn on,off).
                         Results differ from the Eigen kernels in the last
                         float bits.

A variable that is already set is left as it is, so ``TF_ENABLE_ONEDNN_OPTS=0
python tools/train_net.py ...`` goes back to TensorFlow's Eigen kernels.
"""
import os
import sys
import warnings

DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1"}


def set_defaults():
    """Sets each variable of DEFAULTS that is not set yet.

    Returns False (with a warning) when a variable had to be set but
    TensorFlow was imported already, so that it cannot take effect any more;
    True otherwise.
    """
    late = "tensorflow" in sys.modules
    missing = [key for key in DEFAULTS if key not in os.environ]
    for key in missing:
        os.environ[key] = DEFAULTS[key]
    if late and missing:
        warnings.warn("detect.tf_env.set_defaults() was called after TensorFlow was imported; "
                      "TF_ENABLE_ONEDNN_OPTS takes effect only when set before importing it",
                      stacklevel=2)
    return not (late and missing)


def onednn_enabled():
    """Whether this process's TensorFlow runs oneDNN kernels (None if unknown)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
