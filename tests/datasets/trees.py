"""Tiny generated VOC and COCO directories for the data tests."""
import json
import os

import numpy as np
from PIL import Image


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
