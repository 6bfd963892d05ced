"""VOC reader: coordinates, flags, names, joins, and every bad-file case."""
import os

import numpy as np
import pytest

from detect.datasets import BadInputError, get_dataset
from detect.datasets.pascal_voc import load_voc
from tests.datasets.trees import make_voc


@pytest.fixture
def voc(tmp_path):
    make_voc(str(tmp_path), "2007", {
        "000001": (30, 40, [("dog", 1, 2, 10, 20, 0), ("person", 5, 5, 40, 30, 1)]),
        "000002": (30, 40, [("cat", 11, 1, 20, 5, 0)]),
    }, splits={"trainval": ["000001"], "test": ["000002"]})
    make_voc(str(tmp_path), "2012", {"2012_000001": (20, 20, [("person", 1, 1, 20, 20, 0)])})
    return str(tmp_path)


def test_reads_boxes_as_continuous_pixels(voc):
    ds = get_dataset("voc_2007_trainval", voc)
    assert ds.name == "voc_2007_trainval" and len(ds) == 1 and ds.num_classes == 21
    r = ds.records[0]
    # 1-based inclusive [1, 10] -> continuous [0, 10]: width 10 as in the devkit
    np.testing.assert_array_equal(r["boxes"], [[0, 1, 10, 20], [4, 4, 40, 30]])
    assert [ds.class_names[c] for c in r["classes"]] == ["dog", "person"]
    assert r["difficult"].tolist() == [False, True] and (r["height"], r["width"]) == (30, 40)
    assert r["file_name"].endswith(os.path.join("JPEGImages", "000001.jpg"))


def test_joined_names_and_person_filter(voc):
    ds = get_dataset("voc_2007_trainval+voc_2007_test+voc_2012_trainval", voc)
    assert len(ds) == 3 and ds.name.count("+") == 2
    person = get_dataset("voc_2007_trainval_person", voc)
    assert person.class_names == ("__background__", "person")
    assert person.records[0]["classes"].tolist() == [1]
    np.testing.assert_array_equal(person.records[0]["boxes"], [[4, 4, 40, 30]])


def test_unknown_split_and_name_errors(voc):
    with pytest.raises(FileNotFoundError, match=r"val\.txt does not exist.*Splits found: \['trainval'\]"):
        load_voc(voc, "2012", "val")
    with pytest.raises(ValueError, match="unknown dataset 'pascal'"):
        get_dataset("pascal", voc)


def test_bad_files_are_skipped_logged_and_counted(tmp_path):
    root = str(tmp_path)
    base = make_voc(root, "2007", {
        "good": (30, 40, [("dog", 1, 1, 10, 10, 0)]),
        "malformed": (30, 40, "<annotation><size><width>40"),
        "nosize": (30, 40, "<annotation><object><name>dog</name></object></annotation>"),
        "objects": (30, 40, [("unicorn", 1, 1, 5, 5, 0), ("dog", 30, 20, 60, 50, 0),
                             ("cat", 6, 5, 5, 9, 0), ("cat", 50, 50, 60, 60, 0)]),
        "noimage": (30, 40, [("dog", 1, 1, 10, 10, 0)]),
    })
    os.remove(os.path.join(base, "JPEGImages", "noimage.jpg"))
    ds = load_voc(root, "2007", "trainval")
    assert sorted(r["image_id"] for r in ds.records) == ["good", "objects"]
    objects = next(r for r in ds.records if r["image_id"] == "objects")
    # kept as annotated (not clipped to 40x30): evaluation uses it so (records.py)
    np.testing.assert_array_equal(objects["boxes"], [[29, 19, 60, 50]])
    s = ds.skips
    assert s.skipped["unreadable annotation"] == 1
    assert s.skipped["malformed annotation"] == 1
    assert s.skipped["unknown class"] == 1
    assert s.skipped["zero-area box"] == 1
    assert s.skipped["outside the image box"] == 1
    assert s.skipped["missing image file"] == 1
    assert not s.fixed
    assert "1 skipped (missing image file)" in s.summary()
    with pytest.raises(BadInputError, match="malformed"):
        load_voc(root, "2007", "trainval", strict=True)
    # evaluation needs no image files: check_images=False keeps "noimage"
    kept = load_voc(root, "2007", "trainval", check_images=False)
    assert sorted(r["image_id"] for r in kept.records) == ["good", "noimage", "objects"]
    assert kept.skips.skipped["missing image file"] == 0


# An annotation as the VOC2007 devkit writes it (000005.xml's layout: source,
# owner, segmented, pose, truncated; a float coordinate as some exporters
# write), typed out rather than made by the tests' voc_xml helper.
DEVKIT_XML = """<annotation>
	<folder>VOC2007</folder>
	<filename>000005.jpg</filename>
	<source><database>The VOC2007 Database</database><annotation>PASCAL VOC2007</annotation></source>
	<size><width>500</width><height>375</height><depth>3</depth></size>
	<segmented>0</segmented>
	<object>
		<name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
		<bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
	</object>
	<object>
		<name>chair</name><pose>Unspecified</pose><truncated>1</truncated><difficult>1</difficult>
		<bndbox><xmin>5</xmin><ymin>244</ymin><xmax>67</xmax><ymax>374</ymax></bndbox>
	</object>
	<object>
		<name>pottedplant</name><pose>Unspecified</pose><truncated>0</truncated>
		<bndbox><xmin>241.0</xmin><ymin>194</ymin><xmax>295</xmax><ymax>299</ymax></bndbox>
	</object>
</annotation>
"""


def test_a_devkit_annotation_file(tmp_path):
    make_voc(str(tmp_path), "2007", {"000005": (375, 500, DEVKIT_XML)})
    r = load_voc(str(tmp_path), "2007", "trainval").records[0]
    # 1-based inclusive pixels -> continuous: xmin - 1, xmax unchanged
    np.testing.assert_array_equal(r["boxes"], [[262, 210, 324, 339], [4, 243, 67, 374],
                                               [240, 193, 295, 299]])
    names = load_voc(str(tmp_path), "2007", "trainval").class_names
    assert [names[c] for c in r["classes"]] == ["chair", "chair", "pottedplant"]
    assert r["difficult"].tolist() == [False, True, False]  # no <difficult>: not difficult
    assert (r["height"], r["width"]) == (375, 500)
