"""Runs a trained detector on images and draws what it finds.

    python tools/demo.py --output output/faster_rcnn_tiny_toy_train [images, folders or globs]
        [--thresh 0.5] [--classes person] [--out-dir demo_out]
    python tools/demo.py --saved-model exports/toy [images ...]     # from an export instead

The model runs through detect.Predictor (detect/predictor.py), as it runs
from Python. Writes <name>_det.jpg (boxes, class names and scores, and for Mask R-CNN
each mask as a translucent fill with an outline; one colour per class; drawn
with OpenCV; inputs with the same base name get <name>_2_det.jpg, ...) and
detections.json (per image: boxes [x1, y1, x2, y2], scores, classes,
picture, and masks as COCO RLE) to --out-dir. ``--classes person`` with a
Mask R-CNN gives pedestrian segmentation.
With no image given it runs on data/demo/toy_sample.jpg, which ships with
the project. Images are decoded as in test_net.py (detect/datasets/
image_check.py): an empty, truncated or corrupt file, or one over
--max-pixels (read from the header, before decoding), is skipped with a
message and the next image runs.
"""
import argparse
import glob
import json
import os
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import cv2
import numpy as np
import tensorflow as tf

from detect.datasets.image_check import MAX_PIXELS, BadImageError, decode_image
from detect.engine.inference import encode_masks
from detect.predictor import Predictor
from detect.visualization import draw, picture_name

# data/demo/ of the repository (an editable install: pip install -e .)
SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "data", "demo", "toy_sample.jpg")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


def expand(inputs):
    paths = []
    for item in inputs or [SAMPLE]:
        if os.path.isdir(item):
            paths += sorted(p for p in glob.glob(os.path.join(item, "*")) if p.lower().endswith(IMAGE_EXTS))
        elif any(c in item for c in "*?["):
            paths += sorted(glob.glob(item))
        else:
            paths.append(item)
    return paths


def unit_interval(text):
    """argparse type: a number in [0, 1] (NaN is not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also False for NaN
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1] (scores are probabilities)")
    return value


def class_list(text):
    """argparse type: comma-separated class names (one option value, so
    image paths after --classes stay images)."""
    return [name for name in text.split(",") if name]


def skip_reason(e):
    """Why an image was skipped, for the message."""
    if isinstance(e, BadImageError):
        return str(e)
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return f"out of memory ({type(e).__name__}); try a smaller --max-pixels"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="*", help="image files, folders or globs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--output", help="train_net.py output folder")
    source.add_argument("--saved-model", help="an export of tools/export_model.py, instead of --output")
    p.add_argument("--checkpoint", help="with --output: a checkpoint or a folder of them (e.g. "
                   "<output>/best, the best model of --eval-period); default: the latest")
    p.add_argument("--thresh", type=unit_interval, default=0.5, help="minimum score to draw, in [0, 1]")
    p.add_argument("--classes", action="extend", type=class_list, metavar="NAME[,NAME]",
                   help="only these classes: comma-separated, or the option repeated (e.g. person)")
    p.add_argument("--out-dir", default="demo_out")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="skip larger images (height x width, from the header)")
    a = p.parse_args(argv)
    try:
        predictor = (Predictor(a.saved_model, kind="export") if a.saved_model  # detect/predictor.py
                     else Predictor(a.output, checkpoint=a.checkpoint, kind="run"))
        if a.checkpoint and a.saved_model:
            raise ValueError("--checkpoint picks a checkpoint of --output; an export has its own weights")
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    class_names = predictor.class_names
    unknown = set(a.classes or []) - set(class_names)
    if unknown:
        print(f"error: --classes {sorted(unknown)} not among {class_names[1:]}", file=sys.stderr)
        return 2
    paths = expand(a.images)
    if not paths:
        print(f"error: no image matches {a.images}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    report, failures, used = {}, 0, set()
    for path in paths:
        try:
            with open(path, "rb") as f:
                rgb = decode_image(f.read(), a.max_pixels)
            out = predictor(rgb)  # boxes in the input picture's pixels
        except (OSError, BadImageError, MemoryError, tf.errors.ResourceExhaustedError) as e:
            print(f"skipped {path}: {skip_reason(e)}")
            failures += 1
            continue
        b, s, c = out["boxes"], out["scores"], out["classes"]
        names = out["class_names"]
        wanted = np.array([not a.classes or nm in a.classes for nm in names], bool)
        keep = (s >= a.thresh) & wanted
        under = s[wanted]  # the wanted classes' scores, for the message when none is drawn
        b, s, c, names = b[keep], s[keep], c[keep], [nm for nm, k in zip(names, keep) if k]
        masks = out["masks"][keep] if "masks" in out else None  # Mask R-CNN
        picture = os.path.join(a.out_dir, picture_name(path, used, "_det"))
        cv2.imwrite(picture, draw(np.ascontiguousarray(rgb[..., ::-1]), b, s, names, c, masks))
        report[path] = {"boxes": b.round(1).tolist(), "scores": s.round(4).tolist(), "classes": names,
                        "picture": os.path.basename(picture)}
        if masks is not None:
            report[path]["masks"] = encode_masks(masks)
        below = "" if len(s) or not len(under) else (
            f" (the best score, {float(under.max()):.2f}, is under --thresh {a.thresh}; a lower "
            "--thresh draws more)")
        print(f"{path}: {len(s)} detections{below} -> {picture}")
    with open(os.path.join(a.out_dir, "detections.json"), "w") as f:
        json.dump(report, f, indent=2)
    return 1 if failures and not report else 0
