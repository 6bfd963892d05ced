"""The toy dataset is deterministic and its two layouts agree."""
import hashlib
import os

import numpy as np
import pytest

from detect.datasets import get_dataset
from detect.datasets.coco import segmentation_to_mask
from detect.datasets.toy import TOY_CLASSES, write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=12, num_test=4, seed=3, workers=2)
    return str(root)


def _digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_same_seed_same_bytes(toy, tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=12, num_test=4, seed=3, workers=1)
    assert _digest(str(tmp_path / "toy")) == _digest(os.path.join(toy, "toy"))
    write_toy_dataset(str(tmp_path / "other"), num_train=12, num_test=4, seed=4, workers=1)
    assert _digest(str(tmp_path / "other")) != _digest(os.path.join(toy, "toy"))


def test_voc_and_coco_layouts_agree(toy):
    voc, coco = get_dataset("toy_train", toy), get_dataset("toy_coco_train", toy)
    assert len(voc) == len(coco) == 12 and voc.class_names == coco.class_names
    assert voc.class_names[1:] == TOY_CLASSES
    sizes, classes = [], set()
    for rv, rc in zip(voc.records, coco.records):
        np.testing.assert_array_equal(rv["boxes"], rc["boxes"])
        np.testing.assert_array_equal(rv["classes"], rc["classes"])
        for box, seg in zip(rc["boxes"], rc["segmentations"]):
            mask = segmentation_to_mask(seg, rc["height"], rc["width"])
            ys, xs = np.nonzero(mask)
            assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == box.tolist()
        sizes += list(rc["boxes"][:, 2] - rc["boxes"][:, 0])
        classes |= set(rc["classes"].tolist())
        assert 1 <= len(rc["boxes"]) <= 4
    assert classes == {1, 2, 3} and min(sizes) < 40 < max(sizes)
    assert len(get_dataset("toy_test", toy)) == 4


def test_make_toy_dataset_tool(tmp_path, capsys):
    import runpy
    import sys

    argv = sys.argv
    try:
        for _ in range(2):
            sys.argv = ["make_toy_dataset.py", "--out", str(tmp_path / "toy"), "--train", "3",
                        "--test", "2"]
            with pytest.raises(SystemExit) as e:
                runpy.run_path("tools/make_toy_dataset.py", run_name="__main__")
            assert e.value.code == 0
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "wrote 3 train and 2 test images" in out and "already in" in out
