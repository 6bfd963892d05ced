"""COCO reader: category mapping, crowds, masks, pedestrian fields, bad input."""
import json
import re

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from detect.datasets import BadInputError, filter_classes
from detect.datasets.coco import load_coco, segmentation_to_mask
from tests.datasets.trees import make_coco

CATS = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 7, "name": "dog"}]


def _rle(mask, compressed=True):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    if compressed:
        rle["counts"] = rle["counts"].decode()
        return rle
    # uncompressed: run lengths, column-major
    flat = mask.T.flatten()
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


@pytest.fixture
def coco(tmp_path):
    from tests.datasets.trees import make_coco

    m = np.zeros((20, 30), np.uint8)
    m[2:6, 3:9] = 1
    anns = [
        {"id": 1, "image_id": 10, "category_id": 7, "bbox": [3, 2, 6, 4], "iscrowd": 0,
         "segmentation": [[3, 2, 9, 2, 9, 6, 3, 6]]},
        {"id": 2, "image_id": 10, "category_id": 1, "bbox": [10, 5, 5, 10], "iscrowd": 1,
         "segmentation": _rle(m, compressed=False)},
        {"id": 3, "image_id": 11, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 0,
         "segmentation": _rle(m)},
        {"id": 4, "image_id": 11, "category_id": 1, "bbox": [1, 1, 5, 50], "iscrowd": 0,
         "height": 50, "vis_ratio": 0.4, "ignore": 0},
        {"id": 5, "image_id": 11, "category_id": 1, "bbox": [1, 1, 0, 5], "iscrowd": 0},
    ]
    return make_coco(str(tmp_path), [(10, "a.jpg", 20, 30), (11, "b.jpg", 20, 30)], anns, CATS)


def test_reads_categories_crowds_and_fields(coco):
    path, img_dir = coco
    ds = load_coco(path, img_dir, "tiny")
    assert ds.class_names == ("__background__", "person", "car", "dog")
    assert ds.category_ids == {1: 1, 2: 3, 3: 7}
    a, b = ds.records
    np.testing.assert_array_equal(a["boxes"], [[3, 2, 9, 6], [10, 5, 15, 15]])
    assert a["classes"].tolist() == [3, 1] and a["crowd"].tolist() == [False, True]
    # zero-width box skipped; the tall box kept as annotated, across the 20-pixel image
    assert b["classes"].tolist() == [2, 1] and ds.skips.skipped["zero-area box"] == 1
    np.testing.assert_array_equal(b["boxes"][1], [1, 1, 6, 51])
    assert not ds.skips.fixed
    assert b["heights"][1] == 50 and b["vis_ratios"][1] == pytest.approx(0.4)
    # a join keeps the shared category ids (results name categories by them)
    assert (ds + ds).category_ids == {1: 1, 2: 3, 3: 7}


def test_masks_from_polygons_and_rles(coco):
    path, img_dir = coco
    ds = load_coco(path, img_dir, "tiny")
    seg_poly, seg_rle_uncompressed = ds.records[0]["segmentations"]
    poly = segmentation_to_mask(seg_poly, 20, 30)
    assert poly.shape == (20, 30) and poly[3:5, 4:8].all() and poly.sum() >= 24
    expected = np.zeros((20, 30), np.uint8)
    expected[2:6, 3:9] = 1
    np.testing.assert_array_equal(segmentation_to_mask(seg_rle_uncompressed, 20, 30), expected)
    np.testing.assert_array_equal(segmentation_to_mask(ds.records[1]["segmentations"][0], 20, 30),
                                  expected)


def test_person_filter_remaps(coco):
    path, img_dir = coco
    person = filter_classes(load_coco(path, img_dir, "tiny"), ["person"])
    assert person.class_names == ("__background__", "person")
    assert person.category_ids == {1: 1}
    assert [r["classes"].tolist() for r in person.records] == [[1], [1]]
    assert load_coco(path, img_dir, "p", class_filter=["person"]).class_names[1:] == ("person",)


def test_malformed_json_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(BadInputError, match="bad.json is not valid JSON"):
        load_coco(str(bad), str(tmp_path), "x")
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(BadInputError, match="not a COCO annotation file"):
        load_coco(str(bad), str(tmp_path), "x")
    with pytest.raises(FileNotFoundError, match="missing.json does not exist"):
        load_coco(str(tmp_path / "missing.json"), str(tmp_path), "x")


def test_unknown_categories_and_images_are_counted(tmp_path):
    from tests.datasets.trees import make_coco

    box = [1, 1, 4, 4]
    anns = [
        {"id": 1, "image_id": 10, "category_id": 1, "bbox": box},
        {"id": 2, "image_id": 10, "category_id": 99, "bbox": box},  # not in "categories"
        {"id": 3, "image_id": 10, "category_id": 98, "bbox": box},
        {"id": 4, "image_id": 10, "category_id": 3, "bbox": box},   # car: known
        {"id": 5, "image_id": 77, "category_id": 1, "bbox": box},   # no image 77
    ]
    path, img_dir = make_coco(str(tmp_path), [(10, "a.jpg", 20, 30)], anns, CATS)
    ds = load_coco(path, img_dir, "tiny")
    assert ds.skips.skipped["unknown category"] == 2
    assert ds.skips.skipped["unknown image"] == 1
    assert any("unknown category: id 99 (annotation 2" in reason for _, reason in ds.skips.examples)
    assert ds.records[0]["classes"].tolist() == [1, 2]
    # categories a class filter leaves out are not errors; unknown ones still are
    person = load_coco(path, img_dir, "p", class_filter=["person"])
    assert person.skips.skipped["unknown category"] == 2
    assert person.records[0]["classes"].tolist() == [1]
    with pytest.raises(BadInputError, match="unknown category: id 99"):
        load_coco(path, img_dir, "tiny", strict=True)


def test_annotation_without_ids_names_the_file(tmp_path):
    bad = tmp_path / "noid.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "height": 2, "width": 2}],
                               "annotations": [{"category_id": 1, "bbox": [0, 0, 1, 1]}],
                               "categories": CATS}))
    with pytest.raises(BadInputError, match="noid.json: every image needs an id"):
        load_coco(str(bad), str(tmp_path), "x")


@pytest.mark.parametrize("segmentation, problem", [
    ("x", "neither polygons nor an RLE"),
    ([[10, 10, 50, 50]], "a polygon must list >= 3"),
    ([[10, 10, "a", 5, 20, 20]], "not a finite number"),
    ([], "an empty polygon list"),
    ({"size": [10, 10], "counts": "PP5"}, "an RLE of size \\[10, 10\\] on a 40x60 image"),
    ({"size": [40, 60], "counts": [5, 7]}, "do not add up"),
])
def test_malformed_segmentations_are_counted_and_the_box_kept(tmp_path, segmentation, problem, caplog):
    from detect.datasets.coco import load_coco, segmentation_problem
    from detect.datasets.pipeline import build_pipeline
    from detect.evaluation import evaluate_coco

    good = {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 5, 20, 20], "iscrowd": 0,
            "segmentation": [[30, 5, 50, 5, 50, 25, 30, 25]]}
    bad = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "iscrowd": 0,
           "segmentation": segmentation}
    path, img_dir = make_coco(str(tmp_path), [(1, "a.jpg", 40, 60)], [bad, good],
                              [{"id": 1, "name": "person"}])
    assert re.search(problem, segmentation_problem(segmentation, 40, 60))
    ds = load_coco(path, img_dir, "p")
    assert len(ds.records[0]["boxes"]) == 2 and ds.records[0]["segmentations"][0] is None
    assert "1 fixed (malformed segmentation)" in ds.skips.summary()
    assert "annotation 1 on image 1" in caplog.text
    # training with masks reads it (the box as its mask), evaluation names the file and annotation
    batch = next(iter(build_pipeline(ds, training=True, flip=False, scales=(40,), max_size=60,
                                     with_masks=True, mask_size=8)))
    assert batch["masks"].shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="annotation 1 on image 1: .*--metric coco"):
        evaluate_coco(ds, [dict(image_id=1, category_id=1, bbox=[5, 5, 20, 20], score=0.9,
                                segmentation=good["segmentation"])], "segm")
