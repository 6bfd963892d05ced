"""detect.tf_env: oneDNN kernels on by default, off when the user says so."""
import os
import subprocess
import sys
import warnings

import pytest

from detect import tf_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = ("from detect.tf_env import set_defaults, onednn_enabled; set_defaults(); "
         "import tensorflow; print('ONEDNN', onednn_enabled())")


def _probe(env_value):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                         check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("ONEDNN")][-1]


@pytest.mark.parametrize("env_value, expected", [(None, "True"), ("0", "False")])
def test_onednn_default_and_opt_out(env_value, expected):
    assert _probe(env_value) == f"ONEDNN {expected}"


def test_late_call_warns_only_when_something_was_missing(monkeypatch):
    import tensorflow  # noqa: F401  (imported: too late for new settings)
    for key, value in tf_env.DEFAULTS.items():
        monkeypatch.setenv(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tf_env.set_defaults()
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    with pytest.warns(UserWarning, match="after TensorFlow was imported"):
        assert not tf_env.set_defaults()
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
