"""Datasets by path (coco:<json>:<dir>, voc:<root>[:<split>]) and a YAML
file of named datasets: the same records as the named sets, class names
from the files, category ids kept, + and _person, and a message naming the
file for every wrong path or file."""
import json
import os

import numpy as np
import yaml
import pytest

from detect.datasets import BadInputError, dataset_label, get_dataset
from detect.evaluation import default_metrics
from detect.datasets.by_path import absolute_spec, read_datasets_file
from detect.datasets.toy import VOC_DIR
from tests.datasets.trees import make_coco, toy_root, voc_xml, write_jpeg


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return toy_root(tmp_path_factory, 4, 2, 9)


def coco_spec(data_dir, split):
    toy = os.path.join(data_dir, "toy")
    return (f"coco:{toy}/annotations/instances_toy_{split}.json:"
            f"{os.path.join(toy, VOC_DIR, 'JPEGImages')}")


def same_records(a, b):
    assert len(a) == len(b) and a.class_names == b.class_names
    for r, s in zip(a.records, b.records):
        assert r["file_name"] == s["file_name"] and r["image_id"] == s["image_id"]
        np.testing.assert_array_equal(r["boxes"], s["boxes"])
        np.testing.assert_array_equal(r["classes"], s["classes"])


def test_paths_read_what_the_names_read(data_dir):
    voc = os.path.join(data_dir, "toy", VOC_DIR)
    same_records(get_dataset(f"voc:{voc}:train"), get_dataset("toy_train", data_dir))
    coco = get_dataset(coco_spec(data_dir, "test"))
    named = get_dataset("toy_coco_test", data_dir)
    same_records(coco, named)
    assert coco.category_ids == named.category_ids and coco.coco_json == named.coco_json
    # no split: every annotation file of the folder, train and test
    assert len(get_dataset(f"voc:{voc}")) == 6
    # joined, and the person filter of a set without persons is refused by name
    assert len(get_dataset(f"voc:{voc}:train+voc:{voc}:test")) == 6
    with pytest.raises(ValueError, match="has no class \\['person'\\]"):
        get_dataset(f"voc:{voc}:train_person")


def test_relative_paths_resolve_against_the_working_directory(data_dir, monkeypatch):
    monkeypatch.chdir(os.path.join(data_dir, "toy"))
    spec = f"voc:{VOC_DIR}:test"
    assert len(get_dataset(spec)) == 2
    assert absolute_spec(spec) == f"voc:{os.path.join(data_dir, 'toy', VOC_DIR)}:test"
    assert absolute_spec("toy_train+" + spec + "_person").startswith(f"toy_train+voc:{data_dir}")
    assert dataset_label(spec) == "voc_VOCtoy_test"
    assert dataset_label(coco_spec(data_dir, "train") + "+toy_test") == "coco_instances_toy_train+toy_test"


@pytest.fixture
def own_coco(tmp_path):
    """A COCO file as an annotation tool writes it: category ids 7 and 3
    (not 1..K), a person, a crowd region and a polygon."""
    images = [(11, "a.jpg", 60, 80), (12, "sub/b.jpg", 60, 80)]
    anns = [{"id": 1, "image_id": 11, "category_id": 7, "bbox": [10, 10, 30, 20], "iscrowd": 0,
             "area": 500.0, "segmentation": [[10, 10, 40, 10, 40, 30, 10, 30]]},
            {"id": 2, "image_id": 12, "category_id": 3, "bbox": [5, 5, 20, 40], "iscrowd": 0,
             "area": 800.0},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [40, 5, 30, 30], "iscrowd": 1,
             "area": 900.0}]
    cats = [{"id": 7, "name": "widget"}, {"id": 3, "name": "person"}]
    return make_coco(str(tmp_path), images, anns, cats)


def test_own_coco_file_keeps_category_ids_and_person(own_coco):
    ann, images = own_coco
    ds = get_dataset(f"coco:{ann}:{images}")
    assert ds.class_names == ("__background__", "person", "widget")  # sorted by category id
    assert ds.category_ids == {1: 3, 2: 7}  # results JSON gets 3 and 7 back
    assert [r["file_name"] for r in ds.records] == [os.path.join(images, "a.jpg"),
                                                    os.path.join(images, "sub/b.jpg")]
    assert ds.records[1]["crowd"].tolist() == [False, True]
    person = get_dataset(f"coco:{ann}:{images}_person")
    assert person.class_names == ("__background__", "person") and person.category_ids == {1: 3}
    assert default_metrics(f"coco:{ann}:{images}") == ["coco"]
    assert default_metrics(f"coco:{ann}:{images}_person") == ["mr", "coco"]


def test_a_folder_named_with_person_stays_a_folder(tmp_path):
    images = [(1, "a.jpg", 40, 40)]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "iscrowd": 0}]
    ann, img_dir = make_coco(str(tmp_path), images, anns, [{"id": 1, "name": "car"}])
    os.rename(img_dir, img_dir + "_person")
    ds = get_dataset(f"coco:{ann}:{img_dir}_person")
    assert ds.class_names == ("__background__", "car") and len(ds) == 1


def test_voc_folder_classes_from_classes_txt_or_the_annotations(tmp_path):
    root = tmp_path / "labelimg"
    for sub in ("Annotations", "JPEGImages"):
        (root / sub).mkdir(parents=True)
    for i, objs in enumerate([[("zebra", 2, 2, 20, 20, 0)], [("ant", 3, 3, 9, 9, 1)]]):
        write_jpeg(str(root / "JPEGImages" / f"im{i}.png"), 30, 30)  # not .jpg: found anyway
        (root / "Annotations" / f"im{i}.xml").write_text(voc_xml(30, 30, objs))
    ds = get_dataset(f"voc:{root}")
    assert ds.class_names == ("__background__", "ant", "zebra") and len(ds) == 2
    assert [r["difficult"].tolist() for r in ds.records] == [[False], [True]]
    (root / "classes.txt").write_text("zebra\nant\nowl\n")
    assert get_dataset(f"voc:{root}").class_names == ("__background__", "zebra", "ant", "owl")


def test_datasets_file_names_paths_relative_to_itself(tmp_path, own_coco, data_dir):
    ann, images = own_coco
    (tmp_path / "sets.yml").write_text(
        "mine_train: coco:instances.json:images\n"
        "mine_val:\n  format: coco\n  annotations: instances.json\n  images: images\n"
        "  metrics: [voc07, coco]\n"
        f"toy_voc:\n  format: voc\n  root: {os.path.join(data_dir, 'toy', VOC_DIR)}\n  split: test\n")
    f = str(tmp_path / "sets.yml")
    assert len(get_dataset("mine_train", datasets_file=f)) == 2
    assert get_dataset("mine_val_person", datasets_file=f).class_names == ("__background__", "person")
    assert default_metrics("mine_val", f) == ["voc07", "coco"]
    assert default_metrics("toy_voc", f) == ["voc07"]
    joined = get_dataset("mine_train+mine_val", datasets_file=f)
    assert len(joined) == 4 and joined.category_ids == {1: 3, 2: 7}
    assert len(get_dataset("toy_voc", datasets_file=f)) == 2
    assert dataset_label("mine_train", f) == "mine_train"


@pytest.mark.parametrize("text, message", [
    ("a: coco:x.json\n", "is not one of coco:<annotations.json>:<image dir>"),
    ("a:\n  format: yolo\n", "'format' must be one of \\['coco', 'voc'\\]"),
    ("a:\n  format: coco\n  annotations: x.json\n  imgs: y\n",
     "unknown keys \\['imgs'\\]; missing keys \\['images'\\]"),
    ("a_person: voc:x\n", "not ending in _person"),
    ("[1, 2]\n", "must map dataset names to specs"),
    ("a: [\n", "is not valid YAML"),
])
def test_bad_datasets_file_names_the_file_and_entry(tmp_path, text, message):
    (tmp_path / "sets.yml").write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        read_datasets_file(str(tmp_path / "sets.yml"))
    assert "sets.yml" in str(e.value)


def test_every_wrong_path_or_file_is_a_message(tmp_path, own_coco, data_dir):
    ann, images = own_coco
    cases = [
        (f"coco:{tmp_path}/nope.json:{images}", FileNotFoundError, "nope.json does not exist \\(relative"),
        (f"coco:{tmp_path}:{images}", FileNotFoundError, "is a folder; name the .json file"),
        (f"coco:{ann}:{tmp_path}/nowhere", FileNotFoundError, "image folder .*nowhere does not exist"),
        (f"coco:{ann}:{tmp_path}", BadInputError,
         "none of the 2 images .*instances.json lists is under .*'file_name' values are relative to; "
         f"they are under {images}: pass coco:{ann}:{images}"),
        (f"coco:{ann}", ValueError, "is not one of coco:<annotations.json>:<image dir>"),
        (f"voc:{tmp_path}", FileNotFoundError, "Annotations does not exist: a VOC root holds"),
        (f"voc:{os.path.join(data_dir, 'toy', VOC_DIR)}:val", FileNotFoundError,
         "no split 'val' .* Splits found: \\['empty', 'test', 'train'\\]\\. ImageSets/Main/<split>.txt"),
        ("no_such_set", ValueError, "unknown dataset 'no_such_set'.*coco:<annotations.json>"),
        ("", ValueError, "no dataset named"),
    ]
    (tmp_path / "not_coco.json").write_text(json.dumps({"images": []}))
    cases.append((f"coco:{tmp_path}/not_coco.json:{images}", BadInputError,
                  "not_coco.json is not a COCO annotation file: no \\['annotations', 'categories'\\]"))
    (tmp_path / "results.json").write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                                                         "score": 0.5}]))
    cases.append((f"coco:{tmp_path}/results.json:{images}", BadInputError,
                  "results.json is a JSON list \\(a list of detections .*: a results file\\), not a COCO"))
    (tmp_path / "broken.json").write_text("{\"images\": [")
    cases.append((f"coco:{tmp_path}/broken.json:{images}", BadInputError, "broken.json is not valid JSON"))
    empty = os.path.join(data_dir, "toy", VOC_DIR, "ImageSets", "Main", "empty.txt")
    open(empty, "w").close()
    cases.append((f"voc:{os.path.join(data_dir, 'toy', VOC_DIR)}:empty", BadInputError,
                  "empty.txt is empty: list one image id per line"))
    for spec, error, message in cases:
        with pytest.raises(error, match=message):
            get_dataset(spec)
    os.remove(empty)


def test_datasets_file_values_are_checked(tmp_path):
    def read(entry):
        path = tmp_path / "datasets.yml"
        path.write_text(yaml.safe_dump({"mine": entry}))
        return read_datasets_file(str(path))

    with pytest.raises(ValueError, match=r"dataset 'mine': 'annotations' must be a non-empty path"):
        read({"format": "coco", "annotations": None, "images": "imgs"})
    with pytest.raises(ValueError, match=r"'root' must be a non-empty path or name, got 3"):
        read({"format": "voc", "root": 3})
    # a typo in a metric is said when the file is read, not after hours of training
    with pytest.raises(ValueError, match=r"unknown metrics \['mAP'\]; choose from \['voc07'"):
        read({"format": "voc", "root": "VOC", "metrics": ["voc07", "mAP"]})
    assert read({"format": "voc", "root": "VOC", "split": 2007})["mine"]["split"] == "2007"  # 2007.txt


def test_a_box_only_coco_export_has_no_masks(tmp_path):
    from detect.datasets.records import has_masks
    from detect.engine.periodic_eval import eval_metrics

    box = {"image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10], "area": 100, "iscrowd": 0}
    ann, imgs = make_coco(str(tmp_path), [(1, "a.jpg", 32, 32)], [dict(box, id=1, segmentation=[]),
                                                                 dict(box, id=2)],
                          [{"id": 1, "name": "thing"}])
    ds = get_dataset(f"coco:{ann}:{imgs}")
    assert ds.records[0]["segmentations"] == [None, None]  # boxes used as masks, with a warning
    assert not has_masks(ds.records)
    # a mask model evaluated on it gets box AP alone, not a mask AP that cannot be computed
    assert eval_metrics(f"coco:{ann}:{imgs}", True, ds) == ["coco"]
    poly = dict(box, id=3, segmentation=[[2, 2, 12, 2, 12, 12]])
    ann, imgs = make_coco(str(tmp_path / "m"), [(1, "a.jpg", 32, 32)], [poly], [{"id": 1, "name": "thing"}])
    ds = get_dataset(f"coco:{ann}:{imgs}")
    assert has_masks(ds.records) and eval_metrics(f"coco:{ann}:{imgs}", True, ds) == ["coco", "coco_segm"]


def test_joined_sets_with_the_same_image_ids_are_not_evaluated_together(tmp_path):
    from detect.evaluation import evaluate

    box = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10], "area": 100, "iscrowd": 0}
    specs = []
    for part in ("a", "b"):  # two exports that both number their images from 1
        ann, imgs = make_coco(str(tmp_path / part), [(1, f"{part}.jpg", 32, 32)], [box],
                              [{"id": 1, "name": "thing"}])
        specs.append(f"coco:{ann}:{imgs}")
    joined = get_dataset("+".join(specs))
    assert len(joined) == 2  # training on the join is fine
    dets = [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10], "score": 0.9}]
    with pytest.raises(ValueError, match=r"1 image ids occur more than once \(1\).*Evaluate each set on its own"):
        evaluate(joined, dets, ["coco"])
    figures, _ = evaluate(get_dataset(specs[0]), dets, ["coco"])  # each on its own
    assert figures["coco"]["stats"]["AP"] == pytest.approx(1.0)
