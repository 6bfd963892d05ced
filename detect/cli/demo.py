"""Runs a trained detector on images and draws what it finds.

    python tools/demo.py --output output/faster_rcnn_tiny_toy_train [images, folders or globs]
        [--thresh 0.5] [--classes person] [--out-dir demo_out]
    python tools/demo.py --saved-model exports/toy [images ...]     # from an export instead

Writes <name>_det.jpg (boxes, class names and scores, drawn with OpenCV;
inputs with the same base name get <name>_2_det.jpg, ...) and detections.json
(per image: boxes [x1, y1, x2, y2], scores, classes, picture) to --out-dir.
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
from detect.datasets.pipeline import normalize, target_size
from detect.engine.checkpoint import load_model
from detect.export.loading import load_exported

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


def picture_name(path, used):
    """<stem>_det.jpg for an input, unique among ``used`` (a set, updated):
    a second x.jpg (another folder, or x.png) gets x_2_det.jpg, then x_3 ..."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name, k = f"{stem}_det.jpg", 2
    while name in used:
        name, k = f"{stem}_{k}_det.jpg", k + 1
    used.add(name)
    return name


def skip_reason(e):
    """Why an image was skipped, for the message."""
    if isinstance(e, BadImageError):
        return str(e)
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return f"out of memory ({type(e).__name__}); try a smaller --max-pixels"


def prepare(rgb, cfg):
    h, w = rgb.shape[:2]
    new_h, new_w, _ = target_size(h, w, float(cfg.TEST.SCALES[0]), float(cfg.TEST.MAX_SIZE))
    image = tf.image.resize(tf.constant(rgb, tf.float32), [new_h, new_w])
    image = normalize(image, cfg.MODEL.PIXEL_NORMALIZATION)
    return image[None], tf.constant([[int(new_h), int(new_w)]])


def checkpoint_detector(output):
    """(rgb uint8 [H, W, 3] -> model.detect's dict for it, class names)
    from a train_net.py output folder."""
    cfg, model, _ = load_model(output)
    with open(os.path.join(output, "classes.json")) as f:
        class_names = json.load(f)

    def run(rgb):
        image, size = prepare(rgb, cfg)
        # boxes in the input picture's pixels (postprocess.py rescales them)
        return model.detect(image, size, tf.constant([rgb.shape[:2]]))
    return run, class_names


def exported_detector(path):
    """The same from an export of tools/export_model.py: its serving_default
    (preprocessing inside), outputs in model.detect's layout."""
    loaded = load_exported(path)
    serve = loaded.signatures["serving_default"]

    def run(rgb):
        out = serve(images=tf.constant(rgb[None]))
        return {"boxes": out["detection_boxes"][None], "scores": out["detection_scores"][None],
                "classes": out["detection_classes"][None], "num_detections": out["num_detections"][None]}
    return run, loaded.class_names


def draw(bgr, boxes, scores, names):
    for (x1, y1, x2, y2), s, name in zip(boxes, scores, names):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(bgr, p1, p2, (0, 0, 255), 2)
        label = f"{name} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        cv2.rectangle(bgr, (p1[0], max(p1[1] - th - 4, 0)), (p1[0] + tw + 2, max(p1[1], th + 4)),
                      (0, 0, 255), -1)
        cv2.putText(bgr, label, (p1[0] + 1, max(p1[1] - 3, th + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="*", help="image files, folders or globs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--output", help="train_net.py output folder")
    source.add_argument("--saved-model", help="an export of tools/export_model.py, instead of --output")
    p.add_argument("--thresh", type=unit_interval, default=0.5, help="minimum score to draw, in [0, 1]")
    p.add_argument("--classes", nargs="+", help="only these class names (e.g. person)")
    p.add_argument("--out-dir", default="demo_out")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="skip larger images (height x width, from the header)")
    a = p.parse_args(argv)
    try:
        run, class_names = (exported_detector(a.saved_model) if a.saved_model
                            else checkpoint_detector(a.output))
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = set(a.classes or []) - set(class_names)
    if unknown:
        print(f"error: --classes {sorted(unknown)} not among {class_names[1:]}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    report, failures, used = {}, 0, set()
    for path in expand(a.images):
        try:
            with open(path, "rb") as f:
                rgb = decode_image(f.read(), a.max_pixels)
            out = run(rgb)  # boxes in the input picture's pixels
        except (OSError, BadImageError, MemoryError, tf.errors.ResourceExhaustedError) as e:
            print(f"skipped {path}: {skip_reason(e)}")
            failures += 1
            continue
        n = int(out["num_detections"][0])
        b = out["boxes"][0, :n].numpy()
        s, c = out["scores"][0, :n].numpy(), out["classes"][0, :n].numpy()
        names = [class_names[i] for i in c]
        keep = (s >= a.thresh) & np.array([not a.classes or nm in a.classes for nm in names], bool)
        b, s, names = b[keep], s[keep], [nm for nm, k in zip(names, keep) if k]
        picture = os.path.join(a.out_dir, picture_name(path, used))
        cv2.imwrite(picture, draw(np.ascontiguousarray(rgb[..., ::-1]), b, s, names))
        report[path] = {"boxes": b.round(1).tolist(), "scores": s.round(4).tolist(), "classes": names,
                        "picture": os.path.basename(picture)}
        print(f"{path}: {len(s)} detections -> {picture}")
    with open(os.path.join(a.out_dir, "detections.json"), "w") as f:
        json.dump(report, f, indent=2)
    return 1 if failures and not report else 0
