"""load_model: every form of --checkpoint, and a clear error for every bad one."""
import os

import pytest

from detect.engine.checkpoint import CheckpointError, load_model, resolve_checkpoint
from tests.engine.runs import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    return out, make_run(out)


def test_latest_and_every_form_of_a_checkpoint(run):
    out, ckpt = run
    cfg, model, path = load_model(out)
    assert path == ckpt and ckpt.endswith(os.path.join("checkpoints", "ckpt-1"))
    assert cfg.TEST.SCALES == [64] and model.variables
    for given in (ckpt, ckpt + ".index", ckpt + ".data-00000-of-00001", os.path.dirname(ckpt)):
        assert resolve_checkpoint(out, given) == ckpt, given
    # overrides apply after config.yml
    assert load_model(out, ckpt + ".index", ["TEST.SCALES", "[80]"])[0].TEST.SCALES == [80]


def test_bad_checkpoints_are_clear_errors(run, tmp_path):
    out, _ = run
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    os.makedirs(tmp_path / "damaged")
    (tmp_path / "damaged" / "ckpt-5.index").write_text("a damaged index")
    cases = [
        (str(tmp_path / "damaged" / "ckpt-5"), r"cannot read checkpoint .*ckpt-5"),
        (str(tmp_path / "nowhere" / "ckpt-3"), r"ckpt-3 does not exist: a checkpoint is a prefix"),
        (str(text), r"notes.txt is not a checkpoint: .* holds none$"),
        (str(tmp_path / "damaged" / "ckpt-4"), r"ckpt-4 does not exist: .* holds ckpt-5$"),
        (str(tmp_path), r"is a folder without a checkpoint"),
    ]
    for given, message in cases:
        with pytest.raises(CheckpointError, match=message):
            load_model(out, given)
    # a checkpoint of another model: other anchors, so other RPN head shapes
    other = make_run(str(tmp_path / "other"), ["ANCHOR.SCALES", "[1, 2]"])
    with pytest.raises(CheckpointError, match=r"ckpt-1 does not fit the model built from this config: .*"
                                              r"another run"):
        load_model(out, other)
    # one with NaN weights
    nan = make_run(str(tmp_path / "nan"), poison=True)
    with pytest.raises(CheckpointError, match=r"holds NaN or inf in 1 variables"):
        load_model(out, nan)
    # a run folder without checkpoints, and a folder that is not a run
    os.makedirs(tmp_path / "empty_run" / "checkpoints")
    (tmp_path / "empty_run" / "config.yml").write_text(open(os.path.join(out, "config.yml")).read())
    with pytest.raises(CheckpointError, match=r"no checkpoint in .*train first"):
        load_model(str(tmp_path / "empty_run"))
    with pytest.raises(FileNotFoundError, match=r"config.yml does not exist"):
        load_model(str(tmp_path / "nowhere"))


def test_one_lister_for_every_tool(tmp_path):
    """list_checkpoints: the index's checkpoints whose files exist, and any
    other ckpt-N.index copied in, in numeric order (ckpt-10 after ckpt-9)."""
    import tensorflow as tf

    from detect.engine.checkpoint import list_checkpoints

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for n in (2, 9, 10):
        (folder / f"ckpt-{n}.index").write_bytes(b"")
    # the index also names ckpt-1, whose files a user deleted
    tf.compat.v1.train.update_checkpoint_state(str(folder), str(folder / "ckpt-9"),
                                               [str(folder / f"ckpt-{n}") for n in (1, 2, 9)])
    assert [os.path.basename(p) for p in list_checkpoints(str(folder))] == ["ckpt-2", "ckpt-9", "ckpt-10"]
    assert list_checkpoints(str(folder))[0] == os.path.join(str(folder), "ckpt-2")  # as the folder was named
    assert list_checkpoints(str(tmp_path / "missing")) == []
    assert resolve_checkpoint(str(tmp_path)) == os.path.join(str(folder), "ckpt-10")
