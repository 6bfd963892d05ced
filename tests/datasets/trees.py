"""Tiny generated VOC and COCO directories for the data tests."""
import json
import os

import numpy as np
from PIL import Image


def toy_root(tmp_path_factory, num_train, num_test, seed, workers=1):
    """A fresh data folder holding the toy dataset in toy/ (for --data-dir)."""
    from detect.datasets.toy import write_toy_dataset

    root = tmp_path_factory.mktemp("data")
    write_toy_dataset(str(root / "toy"), num_train=num_train, num_test=num_test, seed=seed, workers=workers)
    return str(root)


def write_jpeg(path, height, width, value=128, mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.full((height, width, 3), value, np.uint8)
    arr[: height // 2, : width // 2] = 255 - value
    img = Image.fromarray(arr)
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path, format="JPEG", quality=95)


def voc_xml(width, height, objects):
    """objects: (name, xmin, ymin, xmax, ymax, difficult) 1-based inclusive."""
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin>"
        f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for n, x1, y1, x2, y2, d in objects)
    return (f"<annotation><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{objs}</annotation>")


def make_voc(root, year="2007", images=None, splits=None):
    """images: {id: (height, width, objects or raw XML string)}."""
    base = os.path.join(root, "VOCdevkit", f"VOC{year}")
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    for image_id, (h, w, objects) in images.items():
        write_jpeg(os.path.join(base, "JPEGImages", f"{image_id}.jpg"), h, w)
        with open(os.path.join(base, "Annotations", f"{image_id}.xml"), "w") as f:
            f.write(objects if isinstance(objects, str) else voc_xml(w, h, objects))
    for split, ids in (splits or {"trainval": list(images)}).items():
        with open(os.path.join(base, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.writelines(i + "\n" for i in ids)
    return base


def make_coco(root, images, annotations, categories, name="instances.json"):
    """images: [(id, file_name, height, width)]; writes JPEGs under root/images."""
    img_dir = os.path.join(root, "images")
    for image_id, file_name, h, w in images:
        write_jpeg(os.path.join(img_dir, file_name), h, w)
    path = os.path.join(root, name)
    with open(path, "w") as f:
        json.dump({"images": [{"id": i, "file_name": fn, "height": h, "width": w}
                              for i, fn, h, w in images],
                   "annotations": annotations, "categories": categories}, f)
    return path, img_dir


OFFICIAL_CITYPERSONS_CATEGORIES = [
    {"id": 0, "name": "ignore region"}, {"id": 1, "name": "pedestrian"}, {"id": 2, "name": "rider"},
    {"id": 3, "name": "sitting person"}, {"id": 4, "name": "person (other)"},
    {"id": 5, "name": "person group"}]


def write_official_citypersons(path, annotations=None):
    """CityPersons' own val_gt.json layout: im_name without the city folder,
    six categories, every box a pedestrian (id 1) box with an ``ignore`` flag.

    Image 1 (lindau, 64x128): a pedestrian [10, 4, 20, 55] and a rider
    flagged ignore [40, 4, 20, 55]. Image 2 (munster): a box filed under
    "rider" (id 2) [80, 0, 30, 60] and one of an unlisted category 9.
    """
    def ann(i, image, cat, bbox, ignore):
        return {"id": i, "image_id": image, "category_id": cat, "iscrowd": 0, "ignore": ignore,
                "bbox": bbox, "vis_bbox": bbox, "height": bbox[3], "vis_ratio": 1.0}

    if annotations is None:
        annotations = [ann(1, 1, 1, [10, 4, 20, 55], 0), ann(2, 1, 1, [40, 4, 20, 55], 1),
                       ann(3, 2, 2, [80, 0, 30, 60], 0), ann(4, 2, 9, [0, 0, 8, 8], 0)]
    data = {"images": [{"id": 1, "im_name": "lindau_000000_000019_leftImg8bit.png",
                        "height": 64, "width": 128},
                       {"id": 2, "im_name": "munster_000001_000019_leftImg8bit.png",
                        "height": 64, "width": 128}],
            "annotations": annotations, "categories": OFFICIAL_CITYPERSONS_CATEGORIES}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path
