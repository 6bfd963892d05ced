"""Cityscapes gtFine polygons -> pedestrian COCO JSON with masks, on a generated
miniature gtFine tree (2 cities, 32x48 images) and gtBboxCityPersons tree."""
import json
import os

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from detect.cli.convert_cityscapes import main
from detect.datasets import BadInputError, get_dataset
from detect.datasets.cityscapes import convert_cityscapes
from tests.datasets.trees import write_jpeg

H, W = 32, 48
LINDAU, MUNSTER = "lindau_000000_000019", "munster_000001_000019"


def _square(x1, y1, x2, y2):
    """Polygon whose PIL fill covers pixel columns x1..x2 and rows y1..y2."""
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def _write(root, split, city, stem, suffix, data):
    folder = os.path.join(root, split, city)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{stem}{suffix}")
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))


def _gtfine(root):
    """lindau: a person cut by a car after it, a rider, a person group, a deleted
    person, a small person under a license plate (not painted), a person with no
    polygon, a person hidden by a truck after it, an unknown label. munster: one
    person, and a file that is not JSON."""
    objects = [
        {"label": "road", "polygon": _square(0, 0, 47, 31)},
        {"label": "person", "polygon": _square(4, 4, 11, 19)},          # 24000
        {"label": "car", "polygon": _square(8, 12, 20, 25)},
        {"label": "rider", "polygon": _square(24, 4, 29, 15)},          # 25000
        {"label": "persongroup", "polygon": _square(32, 2, 45, 20)},
        {"label": "person", "polygon": _square(0, 0, 47, 31), "deleted": 1},
        {"label": "person", "polygon": _square(14, 26, 17, 29)},        # 24001
        {"label": "person"},                                            # 24002, no polygon
        {"label": "license plate", "polygon": _square(14, 26, 17, 27)},
        {"label": "person", "polygon": _square(40, 24, 42, 26)},        # 24003, hidden
        {"label": "truck", "polygon": _square(38, 22, 46, 30)},
        {"label": "Person", "polygon": _square(0, 28, 2, 30)},
    ]
    _write(root, "val", "lindau", LINDAU, "_gtFine_polygons.json",
           {"imgHeight": H, "imgWidth": W, "objects": objects})
    _write(root, "val", "munster", MUNSTER, "_gtFine_polygons.json",
           {"imgHeight": H, "imgWidth": W,
            "objects": [{"label": "person", "polygon": _square(2, 2, 5, 9)}]})
    _write(root, "val", "munster", "munster_000002_000019", "_gtFine_polygons.json", "{")


def _expected_person_mask():
    mask = np.zeros((H, W), np.uint8)
    mask[4:20, 4:12] = 1   # the person's square, columns 4..11, rows 4..19
    mask[12:20, 8:12] = 0  # minus the car drawn after it (from column 8, row 12)
    return mask


def _images(data_dir):
    img_root = os.path.join(data_dir, "citypersons", "images", "val")
    for city, stem in (("lindau", LINDAU), ("munster", MUNSTER)):
        write_jpeg(os.path.join(img_root, city, f"{stem}_leftImg8bit.png"), H, W)


def test_polygons_to_masks_and_ignore_regions(tmp_path):
    gt, data = str(tmp_path / "gtFine"), str(tmp_path / "data")
    _gtfine(gt)
    out = os.path.join(data, "citypersons", "annotations", "citypersons_val.json")
    n_images, n_anns, skips, counts = convert_cityscapes(gt, "val", out)
    assert (n_images, n_anns) == (2, 5)
    assert skips.skipped == {"malformed polygon": 1, "unknown label": 1,
                             "malformed annotation": 1}
    assert counts["hidden"] == 1
    with open(out) as f:
        anns = json.load(f)["annotations"]
    person, rider, group, small, munster = anns
    assert isinstance(person["segmentation"]["counts"], str)
    np.testing.assert_array_equal(mask_utils.decode(person["segmentation"]),
                                  _expected_person_mask())
    assert person["bbox"] == [4, 4, 8, 16] and person["area"] == 96
    assert (person["ignore"], person["iscrowd"], person["instance_id"]) == (0, 0, 24000)
    assert (person["height"], person["vis_ratio"]) == (16, 1.0)
    assert rider["bbox"] == [24, 4, 6, 12] and rider["instance_id"] == 25000
    assert (rider["ignore"], rider["iscrowd"], rider["label"]) == (1, 1, "rider")
    assert group["bbox"] == [32, 2, 14, 19] and (group["ignore"], group["iscrowd"]) == (1, 1)
    assert "instance_id" not in group and group["label"] == "persongroup"
    # The deleted person takes no id; the license plate on top of it is not painted.
    assert small["instance_id"] == 24001 and small["bbox"] == [14, 26, 4, 4]
    assert small["area"] == 16
    assert munster["bbox"] == [2, 2, 4, 8] and munster["image_id"] == 2

    _images(data)
    ds = get_dataset("citypersons_val", data)
    assert ds.class_names == ("__background__", "person") and len(ds) == 2
    r = ds.records[0]
    assert r["crowd"].tolist() == [False, True, True, False]
    np.testing.assert_array_equal(r["boxes"][0], [4, 4, 12, 20])
    from detect.datasets.coco import segmentation_to_mask
    np.testing.assert_array_equal(segmentation_to_mask(r["segmentations"][0], H, W),
                                  _expected_person_mask())
    for rec in ds.records:  # every mask decodes to the image size
        for seg in rec["segmentations"]:
            assert segmentation_to_mask(seg, H, W).shape == (H, W)


def test_absurd_polygons_are_skipped_not_wrapped():
    """PIL's rasterizer wraps coordinates around far beyond the image; such
    polygons (and NaN ones) are counted as malformed, not painted."""
    import collections

    from detect.datasets.cityscapes import person_instances
    from detect.datasets.records import SkipLog

    skips, counts = SkipLog(), collections.Counter()
    objects = [{"label": "person", "polygon": _square(2, 2, 9, 9)},
               {"label": "car", "polygon": _square(0, 0, 1e12, 1e12)},
               {"label": "car", "polygon": [[0, 0], [float("nan"), 0], [5, 5]]},
               {"label": "person", "polygon": _square(-1e30, 0, 4, 4)}]
    instances = person_instances(objects, H, W, "x.json", skips, counts)
    assert skips.skipped == {"malformed polygon": 3}
    assert [(i.cs_id, i.box) for i in instances] == [(24000, [2, 2, 8, 8])]


def _citypersons(root):
    """lindau: the person (full-body box, id), the rider (id), the group (no id:
    matched by bboxVis), an ignore region with no polygon, a pedestrian whose
    id and box match nothing; the small person 24001 has no box. munster: no file."""
    objects = [
        {"label": "pedestrian", "instanceId": 24000, "bbox": [3, 2, 10, 20],
         "bboxVis": [4, 4, 8, 16]},
        {"label": "rider", "instanceId": 25000, "bbox": [23, 2, 8, 16], "bboxVis": [24, 4, 6, 12]},
        {"label": "person group", "instanceId": 0, "bbox": [32, 2, 14, 19],
         "bboxVis": [32, 3, 14, 18]},
        {"label": "ignore", "instanceId": 0, "bbox": [0, 0, 3, 3], "bboxVis": [0, 0, 3, 3]},
        {"label": "pedestrian", "instanceId": 24009, "bbox": [30, 24, 5, 6],
         "bboxVis": [30, 24, 5, 6]},
        {"label": "pedestrian", "instanceId": 24001},  # no bbox
    ]
    _write(root, "val", "lindau", LINDAU, "_gtBboxCityPersons.json",
           {"imgHeight": H, "imgWidth": W, "objects": objects})


def test_merge_with_citypersons_boxes(tmp_path):
    gt, cp = str(tmp_path / "gtFine"), str(tmp_path / "gtBboxCityPersons")
    data = str(tmp_path / "data")
    _gtfine(gt)
    _citypersons(cp)
    out = os.path.join(data, "citypersons", "annotations", "citypersons_val.json")
    n_images, n_anns, skips, counts = convert_cityscapes(gt, "val", out, citypersons_root=cp)
    assert (n_images, n_anns) == (2, 7)
    assert counts["matched by id"] == 2 and counts["matched by IoU"] == 1
    assert counts["CityPersons-only ignore regions"] == 1 and counts["id match, other box"] == 0
    assert skips.skipped["unmatched CityPersons object"] == 1
    assert skips.skipped["malformed annotation"] == 2  # munster's "{" and the box-less object
    assert skips.fixed == {"no CityPersons box": 1, "no CityPersons file": 1}
    with open(out) as f:
        anns = json.load(f)["annotations"]
    by_label = {}
    for a in anns:
        by_label.setdefault(a["label"], []).append(a)
    ped = by_label["pedestrian"][0]
    assert ped["bbox"] == [3, 2, 10, 20] and ped["height"] == 20 and ped["ignore"] == 0
    assert ped["vis_ratio"] == pytest.approx(128 / 200)
    np.testing.assert_array_equal(mask_utils.decode(ped["segmentation"]), _expected_person_mask())
    assert by_label["rider"][0]["bbox"] == [23, 2, 8, 16] and by_label["rider"][0]["ignore"] == 1
    grp = by_label["person group"][0]
    assert grp["iscrowd"] == 1 and mask_utils.decode(grp["segmentation"])[2:21, 32:46].all()
    ign = by_label["ignore"][0]
    assert ign["ignore"] == 1 and mask_utils.decode(ign["segmentation"]).sum() == 9
    # The unmatched pedestrian stays as an ignore region (its box as mask).
    lost = [a for a in by_label["pedestrian"] if a["bbox"] == [30, 24, 5, 6]][0]
    assert lost["ignore"] == 1 and lost["area"] == 30
    # The person CityPersons has no box for keeps its mask box.
    assert by_label["person"][0]["instance_id"] == 24001
    _images(data)
    ds = get_dataset("citypersons_val", data)
    assert ds.records[0]["crowd"].tolist() == [False, True, True, True, True, False]
    np.testing.assert_allclose(ds.records[0]["heights"][:2], [20, 16])
    with pytest.raises(BadInputError, match="no CityPersons box|unmatched|malformed"):
        convert_cityscapes(gt, "val", out + "2", citypersons_root=cp, strict=True)


def test_command_line(tmp_path, capsys):
    gt = str(tmp_path / "gtFine")
    _gtfine(gt)
    out = str(tmp_path / "out.json")
    assert main(["--gtfine-root", gt, "--split", "val", "--out", out, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "2 images, 5 annotations with masks" in printed and "1 hidden" in printed
    assert "1 skipped (malformed polygon)" in printed
    assert main(["--gtfine-root", gt, "--split", "val", "--out", out + "2", "--strict",
                 "--no-progress"]) == 2
    assert "malformed" in capsys.readouterr().err and not os.path.exists(out + "2")
    assert main(["--gtfine-root", gt, "--split", "train", "--out", out, "--no-progress"]) == 2
    assert "no *_gtFine_polygons.json files" in capsys.readouterr().err
    assert main(["--gtfine-root", gt, "--split", "val", "--out", out, "--no-progress",
                 "--citypersons-root", str(tmp_path / "nowhere")]) == 2
    assert "--citypersons-root" in capsys.readouterr().err
