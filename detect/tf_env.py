"""Environment settings for TensorFlow. They only take effect when set before
TensorFlow is imported, so tools call ``set_defaults()`` first:

    from detect.tf_env import set_defaults
    set_defaults()               # or set_defaults(onednn=True)
    import tensorflow as tf

TF_CPP_MIN_LOG_LEVEL=2   hides TensorFlow's C++ info and warning lines.
TF_ENABLE_ONEDNN_OPTS=1  (onednn=True) runs convolutions, their gradients and
                         matmuls on oneDNN's CPU kernels. TensorFlow turns
                         them on by itself only on CPUs with AVX-512 VNNI or
                         newer. Whether they help depends on the model
                         (benchmarks/bench_models.py --onednn on,off); on the
                         2-core AVX2 development machine:
                           tiny (quick start)  training 1.7x faster
                           R50-C4              training 1.5x, inference 1.15x faster
                           R-FCN R50           0.9x (slower)
                           VGG16               0.77x (slower), 1.6x the memory
                         so only tools/quickstart.py asks for them. Results
                         differ from the Eigen kernels' in the last float bits.

A variable the user has set is left as it is: ``TF_ENABLE_ONEDNN_OPTS=1
python tools/train_net.py ...`` turns oneDNN on for any tool, and
``TF_ENABLE_ONEDNN_OPTS=0 python tools/quickstart.py`` turns it off.

It also fixes glibc's mmap threshold at 4 MiB (``set_malloc_threshold``):
blocks that large come from mmap and go back to the system when freed. By
default glibc raises the threshold (up to 32 MiB) each time such a block is
freed, after which a training step's activations come from the heap and its
holes stay resident: an R50-FPN training step on a 600 x 1000 image peaks
180-250 MB higher (benchmarks/bench_models.py). ``MALLOC_MMAP_THRESHOLD_``
set by the user is left as it is.
"""
import ctypes
import os
import platform
import sys
import warnings

DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2"}
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
MMAP_THRESHOLD = 4 * 2 ** 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


def set_malloc_threshold(nbytes=MMAP_THRESHOLD):
    """Fixes glibc's mmap threshold at nbytes (mallopt M_MMAP_THRESHOLD),
    unless MALLOC_MMAP_THRESHOLD_ is set. Returns whether it was set (False
    on another C library or platform)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(_M_MMAP_THRESHOLD, int(nbytes)) == 1


def set_defaults(onednn=False):
    """Sets each variable of DEFAULTS (and TF_ENABLE_ONEDNN_OPTS=1 when
    onednn) that is not set yet, and glibc's mmap threshold.

    Returns False (with a warning) when a variable had to be set but
    TensorFlow was imported already, so that it cannot take effect any more;
    True otherwise.
    """
    set_malloc_threshold()
    wanted = dict(DEFAULTS, **({ONEDNN: "1"} if onednn else {}))
    late = "tensorflow" in sys.modules
    missing = [key for key in wanted if key not in os.environ]
    for key in missing:
        os.environ[key] = wanted[key]
    if late and missing:
        warnings.warn(f"detect.tf_env.set_defaults() set {', '.join(missing)} after TensorFlow was "
                      "imported; TensorFlow reads them only when it is imported", stacklevel=2)
    return not (late and missing)


def onednn_enabled():
    """Whether this process's TensorFlow runs oneDNN kernels (None if unknown)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
