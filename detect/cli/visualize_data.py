"""Draws a dataset: its annotations, or exactly what training feeds the model.

    python tools/visualize_data.py --dataset coco:annotations/train.json:images --num 20
    python tools/visualize_data.py --dataset voc:my_voc:trainval --source pipeline \
        --cfg experiments/cfgs/finetune_mask_rcnn_r50_fpn.yml --output viz

--source annotations (the default) draws each image's ground truth as the
reader holds it: boxes with class names, instance masks (translucent, one
colour per class), crowd and ignore regions (dashed grey, "crowd"), VOC
"difficult" objects (labelled so). --source pipeline draws the training
pipeline's batches (detect/datasets/pipeline.py, with the config's
TRAIN.SCALES, TRAIN.MAX_SIZE, TRAIN.FLIP, MODEL.MASK_GT_SIZE ...): the
resized, possibly flipped image, its boxes, and each mask crop pasted back
into its box, so what you see is what the model trains on; images the
training drops (no object other than crowd regions) do not appear. Writes
<output>/<image file stem>.jpg (default output: viz_<dataset>; a second
image of the same name gets <stem>_2.jpg) and prints where. Unreadable
images are skipped with the reason, as training skips them.
"""
import argparse
import os
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import cv2
import numpy as np
from tqdm import tqdm

from detect.config import get_cfg, merge_from_file, merge_from_list, validate_cfg
from detect.datasets import BadInputError, dataset_label, get_dataset
from detect.datasets.coco import segmentation_to_mask
from detect.datasets.image_check import BadImageError, decode_image
from detect.visualization import draw, draw_regions, paste_crops, picture_name

SOURCES = ("annotations", "pipeline")


def annotated(record, class_names):
    """The BGR picture of one record with its ground truth drawn."""
    with open(record["file_name"], "rb") as f:  # the pipeline's checks and decoder
        bgr = np.ascontiguousarray(decode_image(f.read())[..., ::-1])
    crowd = record["crowd"]
    keep = ~crowd
    segs = record.get("segmentations")
    masks = None
    if segs is not None and any(s is not None for s, k in zip(segs, keep) if k):
        h, w = record["height"], record["width"]
        if bgr.shape[:2] != (h, w):  # the file's size, not the annotation's: no mask drawn
            masks = None
        else:
            masks = np.stack([segmentation_to_mask(s, h, w) if s is not None else np.zeros((h, w), np.uint8)
                              for s, k in zip(segs, keep) if k])
    classes = record["classes"][keep]
    names = [class_names[int(c)] + (" difficult" if d else "")
             for c, d in zip(classes, record["difficult"][keep])]
    draw(bgr, record["boxes"][keep], [None] * len(names), names, classes, masks)
    return draw_regions(bgr, record["boxes"][crowd], "crowd")


def pipeline_pictures(dataset, cfg, num):
    """(image file, BGR picture) of the training pipeline's first ``num``
    images, drawn as the model receives them."""
    from detect.datasets.pipeline import build_pipeline, denormalize, input_options

    ds = build_pipeline(dataset, training=True, batch_size=1, scales=tuple(cfg.TRAIN.SCALES),
                        max_size=cfg.TRAIN.MAX_SIZE, flip=cfg.TRAIN.FLIP, seed=cfg.TRAIN.SEED,
                        drop_empty=True, epochs=1, with_masks=bool(cfg.MODEL.MASK_HEAD),
                        mask_size=cfg.MODEL.MASK_GT_SIZE, **input_options(cfg))
    files = {str(r["image_id"]): r["file_name"] for r in dataset.records}
    for batch in ds.take(num):
        h, w = (int(v) for v in batch["image_size"][0])
        rgb = denormalize(batch["image"], cfg.MODEL.PIXEL_NORMALIZATION)[0, :h, :w].numpy()
        bgr = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)[..., ::-1])
        n = int(batch["num_objects"][0])
        boxes, classes = batch["boxes"][0, :n].numpy(), batch["classes"][0, :n].numpy()
        crowd = batch["crowd"][0, :n].numpy()
        masks = None
        if "masks" in batch:
            masks = paste_crops(batch["masks"][0, :n].numpy()[~crowd], boxes[~crowd], h, w)
        names = [dataset.class_names[int(c)] for c in classes[~crowd]]
        draw(bgr, boxes[~crowd], [None] * len(names), names, classes[~crowd], masks)
        draw_regions(bgr, boxes[crowd], "crowd")
        yield files[batch["source_id"][0].numpy().decode()], bgr


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="a name, coco:<annotations.json>:<image dir> "
                   "or voc:<VOC root>[:<split>]")
    p.add_argument("--source", choices=SOURCES, default="annotations",
                   help="annotations: the ground truth as read; pipeline: what training feeds the model")
    p.add_argument("--output", help="folder for the pictures (default: viz_<dataset>)")
    p.add_argument("--num", type=int, default=20, help="how many images (default 20)")
    p.add_argument("--cfg", help="the training config (--source pipeline: its input settings)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE", help="config overrides")
    p.add_argument("--data-dir", default="data", help="root of the named datasets")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (detect/datasets/by_path.py)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.num < 1:
        p.error(f"--num {a.num}: give at least 1")
    try:
        cfg = get_cfg()
        if a.cfg:
            merge_from_file(cfg, a.cfg)
        merge_from_list(cfg, a.set)
        validate_cfg(cfg)
        datasets_file = a.datasets_file or cfg.DATASETS.FILE or None
        dataset = get_dataset(a.dataset, a.data_dir, datasets_file=datasets_file)
    except (BadInputError, FileNotFoundError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = a.output or f"viz_{dataset_label(a.dataset, datasets_file)}"
    os.makedirs(out, exist_ok=True)
    if a.source == "annotations":
        def pictures():
            for r in dataset.records[: a.num]:
                try:
                    yield r["file_name"], annotated(r, dataset.class_names)
                except (OSError, BadImageError) as e:
                    print(f"skipped {r['file_name']}: {e.strerror if isinstance(e, OSError) and e.strerror else e}")
    else:
        def pictures():
            yield from pipeline_pictures(dataset, cfg, a.num)
    written = 0
    used = set()
    for path, bgr in tqdm(pictures(), total=min(a.num, len(dataset)), desc="drawing", unit="img",
                          disable=a.no_progress):
        cv2.imwrite(os.path.join(out, picture_name(path, used)), bgr)
        written += 1
    print(f"{dataset.name}: {written} pictures ({a.source}) written to {out}")
    return 0 if written else 1
