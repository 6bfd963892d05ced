"""The op library loader fails with the command that fixes the problem."""
import json
import re
import shutil

import pytest
import tensorflow as tf

from detect.ops import _loader


def test_missing_library_names_rebuild_command(tmp_path):
    with pytest.raises(_loader.OpsNotBuiltError, match="pip install --no-build-isolation") as e:
        _loader.load(str(tmp_path))
    assert "_ops.so is missing" in str(e.value)


def test_other_tensorflow_version_names_rebuild_command(tmp_path):
    shutil.copy(f"{_loader._HERE}/_ops.so", tmp_path / "_ops.so")
    (tmp_path / "_build_info.json").write_text(json.dumps({"tf_version": "2.20.0"}))
    with pytest.raises(_loader.OpsNotBuiltError, match="built for TensorFlow 2.20.0") as e:
        _loader.load(str(tmp_path))
    assert tf.__version__ in str(e.value) and _loader.REBUILD in str(e.value)


def test_unloadable_library_names_rebuild_command(tmp_path):
    (tmp_path / "_ops.so").write_bytes(b"\x7fELF not really a shared library")
    with pytest.raises(_loader.OpsNotBuiltError, match="does not load") as e:
        _loader.load(str(tmp_path))
    assert _loader.REBUILD in str(e.value)


def test_check_ops_tool_runs(capsys):
    import runpy
    import sys

    argv, sys.argv = sys.argv, ["check_ops.py"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path("tools/check_ops.py", run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert f"TensorFlow {tf.__version__}" in out
    for op in ("roi_pool", "ps_roi_pool", "roi_align"):
        assert f"ok   {op}" in out
    assert re.search(r"DetectRoiAlignGrad\s+CPU", out)
