"""The tiny export shared by tests/export: a training folder with a random
toy model's checkpoint, exported with tools/export_model.py's main."""
import os

import numpy as np
import pytest

from detect.cli import export_model
from tests.export.exports import arch_cfg, picture, random_model, write_run


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(training folder, export folder) of the "tiny" architecture."""
    root = tmp_path_factory.mktemp("tiny_export")
    cfg = arch_cfg("tiny")
    run, export_dir = str(root / "run"), str(root / "export")
    write_run(run, cfg, random_model(cfg))
    assert export_model.main(["--output", run, "--export-dir", export_dir]) == 0
    return run, export_dir


@pytest.fixture(scope="session")
def picture_files(tmp_path_factory):
    """The test picture: (rgb, {"image": .npy, "png": path, "jpeg": path})."""
    root = tmp_path_factory.mktemp("picture")
    rgb, png, jpeg = picture()
    paths = {"image": str(root / "image.npy"), "png": str(root / "image.png"),
             "jpeg": str(root / "image.jpg")}
    np.save(paths["image"], rgb)
    for key, data in (("png", png), ("jpeg", jpeg)):
        with open(paths[key], "wb") as f:
            f.write(data)
    assert rgb.shape[:2] != (64, 64) and os.path.getsize(paths["png"]) > 0
    return rgb, paths
