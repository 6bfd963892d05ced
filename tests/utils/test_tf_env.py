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
    (True, "0", "False"),    # the user's setting wins
    (False, "1", "True"),    # not asked for, but set by the user
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


def test_malloc_threshold_is_set_on_glibc_unless_the_user_set_one(monkeypatch):
    import platform
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert tf_env.set_malloc_threshold() == (platform.libc_ver()[0] == "glibc")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not tf_env.set_malloc_threshold()
