"""tf.data pipeline: shapes, resizing, flips, padding, determinism, sources."""
import numpy as np
import pytest

from detect.datasets import get_dataset
from detect.datasets.convert import convert
from detect.datasets.pipeline import PIXEL_NORMALIZATION, build_pipeline
from detect.datasets.toy import write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=10, num_test=3, seed=5, workers=2)
    ds = get_dataset("toy_coco_train", str(root))
    paths, _, _ = convert(ds, str(root / "tfr" / "train"), num_shards=2, workers=2, with_masks=True)
    return ds, paths


def _batches(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def test_batch_shapes_padding_and_resize(toy):
    ds, _ = toy
    batches = _batches(build_pipeline(ds, training=False, batch_size=4, scales=(96,), max_size=120,
                                      with_masks=True, size_divisibility=16))
    assert [len(b["source_id"]) for b in batches] == [4, 4, 2]
    by_id = {str(r["image_id"]): r for r in ds.records}
    for b in batches:
        assert b["image"].shape[1] % 16 == 0 and b["image"].shape[2] % 16 == 0
        for i, sid in enumerate(b["source_id"]):
            r = by_id[sid.decode()]
            h, w = b["image_size"][i]
            # shorter side 96 unless the longer side would pass 120
            factor = min(96 / min(r["height"], r["width"]), 120 / max(r["height"], r["width"]))
            assert (h, w) == (round(r["height"] * factor), round(r["width"] * factor))
            assert np.all(b["image"][i, h:] == 0) and np.all(b["image"][i, :, w:] == 0)
            n = b["num_objects"][i]
            assert n == len(r["boxes"]) and np.all(b["classes"][i, n:] == -1)
            sx, sy = w / r["width"], h / r["height"]
            np.testing.assert_allclose(b["boxes"][i, :n], r["boxes"] * np.array([sx, sy, sx, sy]),
                                       rtol=1e-5)
            # masks cropped to their boxes: every object's crop holds mask
            assert b["masks"].shape[1:] == (b["boxes"].shape[1], 112, 112)
            assert (b["masks"][i, :n].max(axis=(1, 2)) > 0.5).all()
            assert np.all(b["masks"][i, n:] == 0)


def test_flips_move_boxes_and_masks_together(toy):
    ds, paths = toy
    for source in (ds, paths):
        plain = {b["source_id"][0]: b for b in _batches(
            build_pipeline(source, training=False, scales=(64,), with_masks=True))}
        kinds = set()
        for b in _batches(build_pipeline(source, training=True, scales=(64,), max_size=200,
                                         seed=11, with_masks=True, epochs=2)):
            n, w = b["num_objects"][0], b["image_size"][0][1]
            ref = plain[b["source_id"][0]]["boxes"][0, :n]
            mirrored = np.stack([w - ref[:, 2], ref[:, 1], w - ref[:, 0], ref[:, 3]], axis=1)
            if np.allclose(b["boxes"][0, :n], ref):
                kinds.add("plain")
            else:
                np.testing.assert_allclose(b["boxes"][0, :n], mirrored, rtol=1e-5)
                kinds.add("flipped")
            # the crop of a flipped box is the mirrored crop
            ref_masks = plain[b["source_id"][0]]["masks"][0, :n]
            expected = ref_masks if np.allclose(b["boxes"][0, :n], ref) else ref_masks[:, :, ::-1]
            np.testing.assert_allclose(b["masks"][0, :n], expected, atol=1e-6)
        assert kinds == {"plain", "flipped"}


def test_deterministic_under_a_seed(toy):
    ds, paths = toy
    for source in (ds, paths):
        make = lambda seed: _batches(build_pipeline(source, training=True, batch_size=2,
                                                    scales=(64, 96), seed=seed, epochs=2))
        a, b, c = make(3), make(3), make(4)
        assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))
        assert any(not np.array_equal(x["image"], y["image"]) or x["image"].shape != y["image"].shape
                   for x, y in zip(a, c))


def test_training_picks_one_scale_per_batch(toy):
    """The images of a batch share a scale (no padding between sizes); the
    batches take every scale."""
    ds, _ = toy
    batches = _batches(build_pipeline(ds, training=True, batch_size=3, scales=(40, 64, 96), max_size=1000,
                                      seed=2, epochs=6, flip=False))
    picked = []
    for b in batches:
        shorts = b["image_size"].min(axis=1)  # the shorter side is the scale (max_size is far)
        assert set(shorts) <= {40, 64, 96}
        assert len(set(shorts)) == 1, f"a batch mixes scales {shorts}"
        picked.append(int(shorts[0]))
    assert set(picked) == {40, 64, 96}


def test_tfrecords_and_reader_give_the_same_test_batches(toy):
    ds, paths = toy
    a = {x["source_id"][0]: x for x in _batches(build_pipeline(ds, training=False, scales=(80,)))}
    b = {x["source_id"][0]: x for x in _batches(build_pipeline(paths, training=False, scales=(80,)))}
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k]["image"], b[k]["image"])
        np.testing.assert_allclose(a[k]["boxes"], b[k]["boxes"])


def test_empty_images_and_normalization(tmp_path):
    from tests.datasets.trees import make_voc

    make_voc(str(tmp_path), "2007", {"a": (20, 30, []), "b": (20, 30, [("dog", 1, 1, 5, 5, 0)])})
    ds = get_dataset("voc_2007_trainval", str(tmp_path))
    batches = _batches(build_pipeline(ds, training=False, batch_size=2, scales=(20,), max_size=30,
                                      normalization="torch"))
    assert batches[0]["num_objects"].tolist() == [0, 1]
    assert batches[0]["boxes"].shape == (2, 1, 4)
    # the lower-right quarter of the test image is RGB 128: (128 - mean) / std.
    # At scale 20 the 20 x 30 image is not resized, and a flat 8 x 8 JPEG
    # block decodes to exactly 128 (accurate IDCT): only float32 rounding of
    # the normalization remains (values 0.07-0.43, a few 1e-8)
    norm = PIXEL_NORMALIZATION["torch"]
    expected = (128 - np.array(norm["mean"])) / np.array(norm["std"])
    np.testing.assert_allclose(batches[0]["image"][0, 15, 25], expected, rtol=0, atol=1e-6)
    # and the upper-left quarter, RGB 127, one grey level lower: 1 / std apart
    np.testing.assert_allclose(batches[0]["image"][0, 2, 2], expected - 1 / np.array(norm["std"]),
                               rtol=0, atol=1e-6)
    kept = _batches(build_pipeline(ds, training=True, drop_empty=True, scales=(20,), seed=1))
    assert [b["num_objects"][0] for b in kept] == [1]


def test_missing_tfrecords_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        build_pipeline(str(tmp_path / "nothing-*.tfrecord"), training=True)


def test_unreadable_images_are_skipped_logged_and_counted(tmp_path, caplog):
    from tests.datasets.trees import make_voc

    obj = [("dog", 1, 1, 5, 5, 0)]
    base = make_voc(str(tmp_path), "2007", {k: (20, 30, obj) for k in "abcde"})
    jpegs = tmp_path / "VOCdevkit" / "VOC2007" / "JPEGImages"
    (jpegs / "b.jpg").write_bytes(b"")  # empty
    (jpegs / "c.jpg").write_text("<html>not an image</html>")
    d = (jpegs / "d.jpg").read_bytes()
    (jpegs / "d.jpg").write_bytes(d[:-10])  # truncated in the image data
    ds = get_dataset("voc_2007_trainval", str(tmp_path))
    assert len(ds) == 5 and base
    with caplog.at_level("WARNING", logger="detect.datasets"):
        for training, epochs in ((False, 1), (True, 3)):
            batches = _batches(build_pipeline(ds, training=training, scales=(20,), max_size=30,
                                              epochs=epochs, seed=1))
            assert sorted(b["source_id"][0].decode() for b in batches) == sorted(["a", "e"] * epochs)
    # each bad file logged with its path and reason, and counted once per pipeline
    for name, reason in (("b", "empty file"), ("c", "not an image"), ("d", "truncated image data")):
        assert any(str(jpegs / f"{name}.jpg") in r.message and reason in r.message
                   for r in caplog.records), name
    assert ds.skips.skipped["unreadable image"] == 6
    assert "3 of 5 images skipped as unreadable" in caplog.text


def test_images_over_the_pixel_cap_are_skipped(tmp_path):
    from tests.datasets.trees import make_voc

    make_voc(str(tmp_path), "2007", {"small": (20, 30, []), "big": (40, 60, [])})
    ds = get_dataset("voc_2007_trainval", str(tmp_path))
    batches = _batches(build_pipeline(ds, training=False, scales=(20,), max_pixels=1000))
    assert [b["source_id"][0] for b in batches] == [b"small"]
    assert "too large: 60x40" in ds.skips.examples[-1][1]


def test_training_clips_boxes_that_cross_the_border(tmp_path):
    from detect.datasets.coco import load_coco
    from tests.datasets.trees import make_coco

    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-5, 2, 15, 30], "iscrowd": 0}
    path, img_dir = make_coco(str(tmp_path), [(1, "a.jpg", 20, 30)], [ann],
                              [{"id": 1, "name": "person"}])
    ds = load_coco(path, img_dir, "p")
    np.testing.assert_array_equal(ds.records[0]["boxes"], [[-5, 2, 10, 32]])  # as annotated
    common = dict(scales=(20,), max_size=30, with_masks=True)
    train = _batches(build_pipeline(ds, training=True, flip=False, **common))[0]
    np.testing.assert_allclose(train["boxes"][0, 0], [0, 2, 10, 20])
    # no segmentation: the mask is the box's part inside the image, and it is
    # cropped to the clipped box, so it fills the crop (within half a pixel of
    # the box's edges the bilinear samples fall off towards the outside)
    mask = train["masks"][0, 0]
    assert train["masks"].shape == (1, 1, 112, 112)
    assert mask[12:-12, 12:-12].min() > 0.999 and (mask >= 0.5).mean() > 0.99
    test = _batches(build_pipeline(ds, training=False, **common))[0]
    np.testing.assert_allclose(test["boxes"][0, 0], [-5, 2, 10, 32])


def test_a_small_dataset_is_read_once_and_gives_the_same_batches(toy, monkeypatch):
    """Cached (the toy set fits in cache_bytes), the generator's files are
    read in the first epoch only; the batches equal the uncached ones."""
    import detect.datasets.pipeline as pipeline

    ds, _ = toy
    reads = []
    real = pipeline._read_checked
    monkeypatch.setattr(pipeline, "_read_checked", lambda path, *a: reads.append(path) or real(path, *a))
    run = lambda cache_bytes: _batches(build_pipeline(ds, training=True, batch_size=2, scales=(64,),
                                                      seed=2, epochs=3, with_masks=True,
                                                      cache_bytes=cache_bytes))
    cached = run(pipeline.CACHE_BYTES)
    assert sorted(reads) == sorted(r["file_name"] for r in ds.records)
    reads.clear()
    uncached = run(0)
    assert len(reads) == 3 * len(ds.records)
    assert len(cached) == len(uncached) == 15
    for a, b in zip(cached, uncached):
        assert list(a["source_id"]) == list(b["source_id"])
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["masks"], b["masks"])
    # a dataset over the limit is not cached
    assert pipeline.fits_in_cache(ds, True) and not pipeline.fits_in_cache(ds, True, limit=1000)
