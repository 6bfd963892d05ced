"""detect.Predictor: a run folder and its export give the same detections
(and the same as model.detect in process), one image or a list; bad paths
and bad images are messages."""
import numpy as np
import pytest

import detect
from detect.engine.checkpoint import CheckpointError
from detect.export.loading import ExportLoadError
from tests.export.exports import CLASS_NAMES, assert_same_detections


@pytest.fixture(scope="module")
def predictors(tiny_export):
    run, export_dir = tiny_export
    # the tiny export's random model: every class scores low; keep them all
    return detect.Predictor(run), detect.Predictor(export_dir)


def test_run_and_export_give_the_same_detections(predictors, picture_files):
    from_run, from_export = predictors
    rgb, _ = picture_files
    assert (from_run.kind, from_export.kind) == ("run", "export")
    assert from_run.class_names == from_export.class_names == CLASS_NAMES
    want = from_run(rgb)
    assert_same_detections(from_export(rgb), want, "export vs run")
    assert want["boxes"].dtype == np.float32 and want["classes"].dtype == np.int32
    assert want["class_names"] == [CLASS_NAMES[c] for c in want["classes"]]
    # boxes in the picture's own pixels, not the resized input's (TEST.SCALES 64)
    assert want["boxes"][:, 2].max() > 64 or want["boxes"][:, 3].max() > 64
    assert np.all(want["boxes"][:, 2] <= rgb.shape[1]) and np.all(want["boxes"][:, 3] <= rgb.shape[0])
    # a list in, a list out, each as alone
    both = from_run([rgb, rgb[:50, :70].copy()])
    assert len(both) == 2
    assert_same_detections(both[0], want, "list vs single")


def test_bad_paths_and_images_are_messages(predictors, tmp_path):
    from_run, _ = predictors
    with pytest.raises(FileNotFoundError, match="nowhere does not exist: pass a run folder"):
        detect.Predictor(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="neither a run folder .* nor an export"):
        detect.Predictor(str(tmp_path))
    with pytest.raises(ExportLoadError, match="has no saved_model.pb"):
        detect.Predictor(str(tmp_path), kind="export")
    with pytest.raises(CheckpointError, match="ckpt-7 does not exist"):
        detect.Predictor(from_run.path, checkpoint=str(tmp_path / "ckpt-7"))
    with pytest.raises(ValueError, match="must be \\[height, width, 3\\]"):
        from_run(np.zeros((20, 20), np.uint8))
    with pytest.raises(ValueError, match="must be uint8"):
        from_run(np.zeros((20, 20, 3), np.float32))
