"""The built-in toy dataset: coloured shapes on textured backgrounds.

Deterministic for a seed (each image has its own generator, so images can
be made in parallel and in any order). Three classes at varied sizes,
aspect ratios and overlaps; later shapes occlude earlier ones, and each
object's mask and box are its visible part. Written both in VOC layout and
as COCO JSON with RLE instance masks, sharing the JPEG files:

    <out>/VOCdevkit/VOCtoy/{Annotations,JPEGImages,ImageSets/Main}
    <out>/annotations/instances_toy_{train,test}.json
"""
import json
import os

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from detect.datasets.worker_pool import worker_pool

TOY_CLASSES = ("circle", "rectangle", "triangle")
# Default split sizes. 1500 training images (6-9 s to write on 2 cores) rather
# than 600 lift the quick start's test mAP (see docs/getting_started.md).
NUM_TRAIN, NUM_TEST = 1500, 100
VOC_DIR = os.path.join("VOCdevkit", "VOCtoy")


def _background(rng, height, width):
    """Smooth colour noise plus stripes of random period and angle."""
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    img = base * 0.7 + 40 * stripes[..., None] + rng.normal(0, 6, (height, width, 3))
    return np.clip(img, 0, 255)


def _shape_mask(kind, box, height, width):
    x1, y1, x2, y2 = box
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    if kind == "circle":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=1)
    elif kind == "rectangle":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=1)
    else:
        draw.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=1)
    return np.asarray(canvas, bool)


def make_image(seed, index, min_size=128, max_size=192):
    """One image and its objects.

    Returns:
      (uint8 [H, W, 3] RGB image, list of (class name, visible bool mask)).
    """
    rng = np.random.default_rng([seed, index])
    height, width = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
    img = _background(rng, height, width)
    masks, kinds = [], []
    for _ in range(int(rng.integers(1, 5)) * 4):  # placement attempts
        if len(masks) == 4:
            break
        kind = TOY_CLASSES[int(rng.integers(len(TOY_CLASSES)))]
        side = rng.uniform(16, 0.6 * min(height, width))
        aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        w, h = max(int(side * np.sqrt(aspect)), 12), max(int(side / np.sqrt(aspect)), 12)
        w, h = min(w, width - 2), min(h, height - 2)
        x1, y1 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        full = _shape_mask(kind, (x1, y1, x1 + w, y1 + h), height, width)
        # Keep earlier objects at least half visible.
        if any((m & ~full).sum() < 0.5 * m.sum() for m in masks):
            continue
        masks = [m & ~full for m in masks] + [full]
        kinds.append(kind)
        colour = rng.uniform(0, 255, 3)
        shade = 1 + 0.15 * rng.normal(0, 1, (height, width, 1))
        img = np.where(full[..., None], np.clip(colour * shade, 0, 255), img)
    objects = [(k, m) for k, m in zip(kinds, masks) if m.sum() >= 16]
    return img.astype(np.uint8), objects


def _box_of(mask):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _voc_xml(image_name, height, width, objects):
    parts = [f"<annotation><folder>VOCtoy</folder><filename>{image_name}.jpg</filename>",
             f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"]
    for kind, mask in objects:
        x1, y1, x2, y2 = _box_of(mask)
        parts.append(f"<object><name>{kind}</name><truncated>0</truncated><difficult>0</difficult>"
                     f"<bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin>"
                     f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    return "".join(parts) + "</annotation>\n"


def _write_image_args(args):
    return write_image(*args)


def write_image(out, seed, split, index):
    """Writes one image's JPEG and VOC XML; returns its COCO entries."""
    img, objects = make_image(seed, index + (0 if split == "train" else 1_000_000))
    name = f"{split}_{index:06d}"
    voc = os.path.join(out, VOC_DIR)
    Image.fromarray(img).save(os.path.join(voc, "JPEGImages", f"{name}.jpg"), quality=92)
    height, width = img.shape[:2]
    with open(os.path.join(voc, "Annotations", f"{name}.xml"), "w") as f:
        f.write(_voc_xml(name, height, width, objects))
    anns = []
    for kind, mask in objects:
        x1, y1, x2, y2 = _box_of(mask)
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        anns.append({"category_id": TOY_CLASSES.index(kind) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": int(mask.sum()), "iscrowd": 0, "segmentation": rle})
    return name, height, width, anns


def write_toy_dataset(out, num_train=NUM_TRAIN, num_test=NUM_TEST, seed=0, workers=None, progress=None):
    """Writes the toy dataset under ``out``; returns {split: image count}.

    progress: optional callable(n) called as images are written.
    """
    voc = os.path.join(out, VOC_DIR)
    for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(voc, sub), exist_ok=True)
    os.makedirs(os.path.join(out, "annotations"), exist_ok=True)
    counts = {}
    # workers that die with this process (Ctrl-C, kill): worker_pool.py
    with worker_pool(workers or os.cpu_count()) as pool:
        for split, n in (("train", num_train), ("test", num_test)):
            coco = {"images": [], "annotations": [],
                    "categories": [{"id": i + 1, "name": c, "supercategory": "shape"}
                                   for i, c in enumerate(TOY_CLASSES)]}
            names = []
            jobs = pool.imap(_write_image_args, [(out, seed, split, i) for i in range(n)], chunksize=8)
            for image_id, (name, height, width, anns) in enumerate(jobs, start=1):
                names.append(name)
                coco["images"].append({"id": image_id, "file_name": f"{name}.jpg",
                                       "height": height, "width": width})
                for a in anns:
                    coco["annotations"].append(dict(a, id=len(coco["annotations"]) + 1,
                                                    image_id=image_id))
                if progress:
                    progress(1)
            with open(os.path.join(voc, "ImageSets", "Main", f"{split}.txt"), "w") as f:
                f.writelines(n + "\n" for n in names)
            tmp = os.path.join(out, "annotations", f"instances_toy_{split}.json.tmp")
            with open(tmp, "w") as f:
                json.dump(coco, f)
            os.replace(tmp, tmp[:-4])  # never a half-written JSON
            counts[split] = n
    return counts
