"""SavedModel export of every architecture the registry builds, loaded in a
fresh process with detect.load_exported and compared with in-process
``model.detect`` (boxes within 1e-3 px, the same classes, scores within
1e-5); the bytes signature against the tensor one; tools/demo.py from an
export against demo.py from the checkpoint; bad exports and paths."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from detect.cli import demo, export_model, serve
from detect.engine.checkpoint import load_model
from detect.export.loading import ExportLoadError, load_exported
from detect.export.saved_model import export_saved_model
from detect.predictor import prepare
from detect.modeling.postprocess import paste_masks
from tests.export.exports import (ARCHS, CLASS_NAMES, ROOT, arch_cfg, assert_same_detections,
                                  first_n, from_outputs, random_model)


def detect_in_process(cfg, model, rgb):
    """The checkpoint path's detections (demo.py: prepare, then model.detect)."""
    image, size = prepare(rgb, cfg)
    out = model.detect(image, size, tf.constant([rgb.shape[:2]]))
    dets = first_n(out)
    if "masks" in out:  # Mask R-CNN: pasted as demo.py and test_net.py do
        n = len(dets["scores"])
        dets["masks"] = paste_masks(out["masks"][0, :n], dets["boxes"], rgb.shape[0], rgb.shape[1],
                                    cfg.TEST.MASK_THRESH).numpy()
    return dets


@pytest.fixture(scope="module")
def exported(tiny_export, picture_files, tmp_path_factory):
    """({arch: in-process detections}, the fresh process's results by arch)."""
    rgb, paths = picture_files
    root = tmp_path_factory.mktemp("exports")
    run, tiny_dir = tiny_export
    cfg, model, _ = load_model(run)  # the tiny one went through a checkpoint and the CLI
    expected, dirs = {"tiny": detect_in_process(cfg, model, rgb)}, {"tiny": tiny_dir}
    for name in ARCHS:
        if name != "tiny":
            cfg = arch_cfg(name)
            model = random_model(cfg)
            dirs[name] = export_saved_model(cfg, model, CLASS_NAMES, str(root / name))
            expected[name] = detect_in_process(cfg, model, rgb)
            del model
    spec, results = root / "spec.json", root / "results.json"
    spec.write_text(json.dumps(dict(paths, exports=dirs)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "tests.export.fresh_load", str(spec), str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return expected, json.loads(results.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHS))
def test_export_loaded_elsewhere_equals_in_process_detect(exported, arch):
    expected, results = exported
    assert_same_detections(from_outputs(results[arch]["tensor"]), expected[arch], arch)
    out = results[arch]["tensor"]
    assert out["num_detections"] == len(out["detection_scores"])
    assert out["detection_class_names"] == [CLASS_NAMES[c] for c in out["detection_classes"]]


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(ARCHS))
def test_bytes_signature_equals_tensor_signature(exported, arch):
    _, results = exported
    r = results[arch]
    # PNG is lossless: the same pixels as the array
    assert_same_detections(from_outputs(r["png"]), from_outputs(r["tensor"]), f"{arch} png")
    # JPEG: the graph decodes with the accurate IDCT, so equal to PIL's pixels (what a user has)
    assert_same_detections(from_outputs(r["jpeg"]), from_outputs(r["jpeg_tensor"]), f"{arch} jpeg")


@pytest.mark.slow
def test_bare_tensorflow_load_fails_and_the_export_carries_its_metadata(exported):
    _, results = exported
    assert results["detect_imported_before_bare_load"] is False
    # the error docs/deployment.md documents, with the one-line fix (import detect.ops)
    assert results["bare_load_error"].startswith("RuntimeError: Op type not registered 'DetectRoi")
    assert results["tiny"]["class_names"] == CLASS_NAMES
    assert results["tiny"]["test_scales"] == [64]


def test_demo_from_export_equals_demo_from_checkpoint(tiny_export, picture_files, tmp_path):
    run, export_dir = tiny_export
    _, paths = picture_files
    images = [paths["png"], paths["jpeg"]]
    assert demo.main(images + ["--output", run, "--out-dir", str(tmp_path / "ckpt"), "--thresh", "0"]) == 0
    assert demo.main(images + ["--saved-model", export_dir, "--out-dir", str(tmp_path / "export"),
                               "--thresh", "0"]) == 0
    want = json.loads((tmp_path / "ckpt" / "detections.json").read_text())
    got = json.loads((tmp_path / "export" / "detections.json").read_text())
    assert sorted(got) == sorted(want) == sorted(images)
    for path in images:
        assert got[path]["classes"] == want[path]["classes"] and want[path]["classes"]
        # detections.json rounds boxes to 0.1 px and scores to 1e-4
        np.testing.assert_allclose(got[path]["boxes"], want[path]["boxes"], atol=0.1 + 1e-6)
        np.testing.assert_allclose(got[path]["scores"], want[path]["scores"], atol=1e-4 + 1e-9)


def test_export_cli_refuses_bad_input(tiny_export, tmp_path, capsys):
    run, export_dir = tiny_export
    # an existing export is replaced only with --overwrite
    assert export_model.main(["--output", run, "--export-dir", export_dir]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    again = str(tmp_path / "again")
    os.makedirs(again)
    (tmp_path / "again" / "old.txt").write_text("replaced")
    assert export_model.main(["--output", run, "--export-dir", again, "--overwrite",
                              "--set", "TEST.SCALES", "[80]"]) == 0
    assert sorted(os.listdir(again)) == ["assets", "fingerprint.pb", "saved_model.pb", "variables"]
    assert sorted(os.listdir(os.path.join(again, "assets"))) == ["classes.json", "config.yml"]
    assert load_exported(again).config["TEST"]["SCALES"] == [80]
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]  # nothing left half-written
    # classes.json missing, or of another model
    other = tmp_path / "run"
    os.makedirs(other)
    (other / "config.yml").write_text(open(os.path.join(run, "config.yml")).read())
    assert export_model.main(["--output", str(other), "--export-dir", str(tmp_path / "x")]) == 2
    assert "classes.json does not exist" in capsys.readouterr().err
    (other / "classes.json").write_text(json.dumps(["__background__", "person"]))
    os.symlink(os.path.join(run, "checkpoints"), other / "checkpoints")
    assert export_model.main(["--output", str(other), "--export-dir", str(tmp_path / "x")]) == 2
    assert "2 class names for a model of 4 classes" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")


def test_load_exported_names_what_to_pass(tiny_export, tmp_path, capsys):
    _, export_dir = tiny_export
    # the tools say it and exit 2
    assert serve.main(["--saved-model", str(tmp_path / "nowhere")]) == 2
    assert demo.main(["--saved-model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nowhere does not exist: pass the --export-dir" in err and "it is not an export" in err
    with pytest.raises(ExportLoadError, match="does not exist: pass the --export-dir"):
        load_exported(str(tmp_path / "nowhere"))
    (tmp_path / "file.pb").write_bytes(b"x")
    with pytest.raises(ExportLoadError, match="is a file; pass the export's folder"):
        load_exported(str(tmp_path / "file.pb"))
    with pytest.raises(ExportLoadError, match="has no saved_model.pb: it is not an export"):
        load_exported(str(tmp_path))
    # TF Serving's layout: <base>/<version>/saved_model.pb
    os.makedirs(tmp_path / "base")
    os.symlink(export_dir, tmp_path / "base" / "1")
    with pytest.raises(ExportLoadError, match=r"holds versions 1 of a model .* e\.g\. .*base/1$"):
        load_exported(str(tmp_path / "base"))


def test_an_image_without_pixels_is_an_error(tiny_export):
    loaded = load_exported(tiny_export[1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="the image has no pixels"):
        loaded.signatures["serving_default"](images=tf.zeros([1, 0, 5, 3], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serve_encoded"](encoded=tf.constant(b"not an image"))
