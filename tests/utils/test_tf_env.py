"""detect.tf_env: oneDNN kernels when asked for, unless the user said otherwise."""
import os
import subprocess
import sys
import warnings

import pytest

from detect import tf_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _probe(onednn, env_value):
    """onednn_enabled() in a fresh process after set_defaults(onednn)."""
    code = (f"from detect.tf_env import set_defaults, onednn_enabled; set_defaults(onednn={onednn}); "
            "import tensorflow; print('ONEDNN', onednn_enabled())")
    env = {k: v for k, v in os.environ.items() if k != tf_env.ONEDNN}
    if env_value is not None:
        env[tf_env.ONEDNN] = env_value
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("ONEDNN")][-1]


@pytest.mark.parametrize("onednn, env_value, expected", [
    (True, None, "True"),    # asked for: on
    pytest.param(True, "0", "False", marks=pytest.mark.slow),   # the user's setting wins
    pytest.param(False, "1", "True", marks=pytest.mark.slow),   # not asked for, but set by the user
])
def test_onednn_request_and_user_setting(onednn, env_value, expected):
    assert _probe(onednn, env_value) == f"ONEDNN {expected}"


def test_late_call_warns_only_when_something_was_missing(monkeypatch):
    import tensorflow  # noqa: F401  (imported: too late for new settings)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv(tf_env.ONEDNN, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tf_env.set_defaults(onednn=True)
    monkeypatch.delenv(tf_env.ONEDNN)
    with pytest.warns(UserWarning, match="TF_ENABLE_ONEDNN_OPTS after TensorFlow was imported"):
        assert not tf_env.set_defaults(onednn=True)
    assert os.environ[tf_env.ONEDNN] == "1"


_MALLOC_PROBE = """
import ctypes, sys
from detect import tf_env
if sys.argv[1] == "set":
    print("returned", tf_env.set_malloc_threshold(1 << 20))
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
p = libc.malloc(512 * 1024)
heap = [tuple(int(v, 16) for v in l.split()[0].split("-")) for l in open("/proc/self/maps")
        if l.rstrip().endswith("[heap]")]
print("heap", any(a <= p < b for a, b in heap))
"""


def _malloc_probe(mode):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _MALLOC_PROBE, mode], capture_output=True, text=True,
                         env=env, check=True)
    return out.stdout.split()


def _glibc():
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


@pytest.mark.skipif(not _glibc() or not os.path.exists("/proc/self/maps"),
                    reason="glibc's malloc and /proc/self/maps only")
def test_malloc_threshold_takes_effect_on_glibc():
    # glibc's default threshold (128 KiB) maps a 512 KiB block with mmap;
    # with the threshold at 1 MiB the same block comes from the heap
    assert _malloc_probe("default") == ["heap", "False"]
    assert _malloc_probe("set") == ["returned", "True", "heap", "True"]


def test_malloc_threshold_is_left_to_the_user_who_set_one(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert tf_env.set_malloc_threshold() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    assert tf_env.set_malloc_threshold() is _glibc()  # elsewhere: not set, and says so
