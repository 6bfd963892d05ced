"""COCO AP through pycocotools, for COCO-format and VOC-layout datasets."""
import pytest

from detect.datasets import get_dataset
from detect.datasets.toy import write_toy_dataset
from detect.evaluation import evaluate_coco


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=1, num_test=6, seed=2, workers=2)
    return str(root)


def _results(ds, shift=0.0, masks=False):
    out = []
    for r in ds.records:
        for i, (b, c) in enumerate(zip(r["boxes"], r["classes"])):
            cat = ds.category_ids[int(c)] if ds.category_ids else int(c)
            d = {"image_id": r["image_id"], "category_id": cat, "score": 0.9,
                 "bbox": [float(b[0]) + shift, float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            if masks:
                d["segmentation"] = r["segmentations"][i]
            out.append(d)
    return out


def test_perfect_and_wrong_detections(toy):
    ds = get_dataset("toy_coco_test", toy)
    perfect = evaluate_coco(ds, _results(ds))
    assert perfect["stats"]["AP"] == pytest.approx(1.0)
    assert set(perfect["AP"]) == {"circle", "rectangle", "triangle"}
    assert evaluate_coco(ds, _results(ds, shift=1000.0))["stats"]["AP"] == pytest.approx(0.0)
    assert evaluate_coco(ds, [])["stats"]["AP"] in (0.0, -1.0)
    segm = evaluate_coco(ds, _results(ds, masks=True), "segm")
    assert segm["stats"]["AP"] == pytest.approx(1.0)
    # masks moved right by 3 pixels: mask IoU falls, so does the AP at strict IoUs only
    shifted = evaluate_coco(ds, _shifted_masks(_results(ds, masks=True), ds, 3), "segm")["stats"]
    assert 0.0 < shifted["AP"] < 0.9 and shifted["AP50"] > shifted["AP75"]


def _shifted_masks(results, ds, dx):
    import numpy as np
    from pycocotools import mask as mask_utils

    from detect.datasets.coco import segmentation_to_mask

    sizes = {r["image_id"]: (r["height"], r["width"]) for r in ds.records}
    for d in results:
        m = segmentation_to_mask(d["segmentation"], *sizes[d["image_id"]])
        moved = np.zeros_like(m)
        moved[:, dx:] = m[:, :-dx]
        rle = mask_utils.encode(np.asfortranarray(moved))
        d["segmentation"] = dict(rle, counts=rle["counts"].decode())
    return results


def test_voc_layout_dataset_through_coco(toy):
    ds = get_dataset("toy_test", toy)
    out = evaluate_coco(ds, _results(ds))
    assert out["stats"]["AP"] == pytest.approx(1.0)
    shifted = evaluate_coco(ds, _results(ds, shift=3.0))["stats"]["AP"]
    assert 0.0 < shifted < 1.0
    with pytest.raises(ValueError, match="no instance masks"):
        evaluate_coco(ds, _results(ds), "segm")
