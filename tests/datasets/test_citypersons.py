"""CityPersons converter and the pedestrian fields it produces."""
import json
import os

import numpy as np
import pytest

from detect.datasets import get_dataset
from detect.datasets.citypersons import convert_citypersons
from tests.datasets.trees import write_jpeg


def _write(gt_root, city, stem, objects, height=64, width=128):
    folder = os.path.join(gt_root, "val", city)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{stem}_gtBboxCityPersons.json"), "w") as f:
        json.dump({"imgHeight": height, "imgWidth": width, "objects": objects}, f)


def test_convert_and_read(tmp_path):
    gt = str(tmp_path / "gtBboxCityPersons")
    _write(gt, "lindau", "lindau_000000_000019", [
        {"label": "pedestrian", "bbox": [10, 4, 20, 50], "bboxVis": [10, 4, 20, 25]},
        {"label": "rider", "bbox": [40, 4, 20, 40], "bboxVis": [40, 4, 20, 40]},
        {"label": "ignore", "bbox": [80, 0, 40, 30], "bboxVis": [80, 0, 40, 30]},
        {"label": "car", "bbox": [0, 0, 5, 5], "bboxVis": [0, 0, 5, 5]},
    ])
    _write(gt, "munster", "munster_000001_000019", [])
    with open(os.path.join(gt, "val", "munster", "broken_gtBboxCityPersons.json"), "w") as f:
        f.write("{")
    out = str(tmp_path / "data" / "citypersons" / "annotations" / "citypersons_val.json")
    n_images, n_anns, skips = convert_citypersons(gt, "val", out)
    assert (n_images, n_anns) == (2, 3)
    assert skips.skipped["unknown class"] == 1 and skips.skipped["malformed annotation"] == 1
    img_root = tmp_path / "data" / "citypersons" / "images" / "val"
    write_jpeg(str(img_root / "lindau" / "lindau_000000_000019_leftImg8bit.png"), 64, 128)
    write_jpeg(str(img_root / "munster" / "munster_000001_000019_leftImg8bit.png"), 64, 128)
    ds = get_dataset("citypersons_val", str(tmp_path / "data"))
    assert ds.class_names == ("__background__", "person") and len(ds) == 2
    r = ds.records[0]
    assert r["crowd"].tolist() == [False, True, True]
    np.testing.assert_allclose(r["vis_ratios"], [0.5, 1.0, 1.0])
    np.testing.assert_allclose(r["heights"], [50, 40, 30])
    with pytest.raises(FileNotFoundError, match="no \\*_gtBboxCityPersons.json"):
        convert_citypersons(gt, "train", out)


def test_official_annotation_file_reads_as_one_pedestrian_class(tmp_path):
    from tests.datasets.trees import write_official_citypersons

    data = tmp_path / "data"
    write_official_citypersons(str(data / "citypersons" / "annotations" / "citypersons_val.json"))
    # No images at all (the file ships without them): evaluation still has both.
    ds = get_dataset("citypersons_val", str(data), check_images=False)
    assert ds.class_names == ("__background__", "person") and ds.category_ids == {1: 1}
    assert [r["image_id"] for r in ds.records] == [1, 2]
    a, b = ds.records
    assert a["classes"].tolist() == [1, 1] and a["crowd"].tolist() == [False, True]
    assert b["crowd"].tolist() == [True]  # the "rider" category: an ignore region
    np.testing.assert_array_equal(b["boxes"], [[80, 0, 110, 60]])
    assert ds.skips.skipped["unknown category"] == 1  # id 9
    assert ds.coco_json is None  # COCO AP runs on these records, ignore flags as crowds
    assert a["file_name"].endswith(os.path.join("images", "val", "lindau",
                                                "lindau_000000_000019_leftImg8bit.png"))
    # With images in the Cityscapes layout (<city>/<im_name>) nothing is skipped.
    img_root = data / "citypersons" / "images" / "val"
    write_jpeg(str(img_root / "lindau" / "lindau_000000_000019_leftImg8bit.png"), 64, 128)
    with_images = get_dataset("citypersons_val", str(data))
    assert [r["image_id"] for r in with_images.records] == [1]
    assert with_images.skips.skipped["missing image file"] == 1
