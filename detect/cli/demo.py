"""Runs a trained detector on images and draws what it finds.

    python tools/demo.py --output output/faster_rcnn_tiny_toy_train [images, folders or globs]
        [--thresh 0.5] [--classes person] [--out-dir demo_out]
    python tools/demo.py --saved-model exports/toy [images ...]     # from an export instead

Writes <name>_det.jpg (boxes, class names and scores, and for Mask R-CNN
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
from detect.datasets.pipeline import input_options, model_input
from detect.engine.checkpoint import load_model
from detect.engine.inference import encode_masks
from detect.export.loading import load_exported
from detect.modeling.postprocess import paste_masks

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
    return model_input(rgb, float(cfg.TEST.SCALES[0]), float(cfg.TEST.MAX_SIZE), **input_options(cfg))


def checkpoint_detector(output):
    """(rgb uint8 [H, W, 3] -> detections, class names) from a train_net.py
    output folder. Detections: a dict of numpy arrays, boxes [N, 4] in the
    picture's pixels, scores [N], classes [N], and for Mask R-CNN masks
    uint8 [N, H, W] pasted into the picture."""
    cfg, model, _ = load_model(output)
    with open(os.path.join(output, "classes.json")) as f:
        class_names = json.load(f)

    def run(rgb):
        image, size = prepare(rgb, cfg)
        # boxes in the input picture's pixels (postprocess.py rescales them)
        out = model.detect(image, size, tf.constant([rgb.shape[:2]]))
        n = int(out["num_detections"][0])
        dets = {k: out[k][0, :n].numpy() for k in ("boxes", "scores", "classes")}
        if "masks" in out:
            dets["masks"] = paste_masks(out["masks"][0, :n], dets["boxes"], rgb.shape[0], rgb.shape[1],
                                        cfg.TEST.MASK_THRESH, cfg.TEST.MASK_PASTE).numpy()
        return dets
    return run, class_names


def exported_detector(path):
    """The same from an export of tools/export_model.py: its serving_default
    (preprocessing and the mask paste inside)."""
    loaded = load_exported(path)
    serve = loaded.signatures["serving_default"]

    def run(rgb):
        out = serve(images=tf.constant(rgb[None]))
        dets = {"boxes": out["detection_boxes"].numpy(), "scores": out["detection_scores"].numpy(),
                "classes": out["detection_classes"].numpy()}
        if "detection_masks" in out:
            dets["masks"] = out["detection_masks"].numpy()
        return dets
    return run, loaded.class_names


def class_color(class_id):
    """A BGR colour per class id: hues spread by the golden ratio, so
    neighbouring ids differ."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 230]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw(bgr, boxes, scores, names, class_ids=None, masks=None, alpha=0.45):
    """Draws detections on a BGR picture (in place; returned).

    boxes [D, 4] x1 y1 x2 y2 in the picture's pixels; class_ids [D] pick the
    colours (default: one colour); masks: None or uint8 [D, H, W], drawn as
    a translucent fill (alpha) with an outline, under the boxes and labels.
    """
    colors = [class_color(c) for c in (class_ids if class_ids is not None else [1] * len(boxes))]
    if masks is not None:
        for m, color in zip(masks, colors):
            inside = m.astype(bool)
            bgr[inside] = (bgr[inside] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(bgr, contours, -1, color, 1, cv2.LINE_AA)
    for (x1, y1, x2, y2), s, name, color in zip(boxes, scores, names, colors):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(bgr, p1, p2, color, 2)
        label = f"{name} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        cv2.rectangle(bgr, (p1[0], max(p1[1] - th - 4, 0)), (p1[0] + tw + 2, max(p1[1], th + 4)),
                      color, -1)
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
    p.add_argument("--classes", action="extend", type=class_list, metavar="NAME[,NAME]",
                   help="only these classes: comma-separated, or the option repeated (e.g. person)")
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
            out = run(rgb)  # boxes in the input picture's pixels
        except (OSError, BadImageError, MemoryError, tf.errors.ResourceExhaustedError) as e:
            print(f"skipped {path}: {skip_reason(e)}")
            failures += 1
            continue
        b, s, c = out["boxes"], out["scores"], out["classes"]
        names = [class_names[i] for i in c]
        keep = (s >= a.thresh) & np.array([not a.classes or nm in a.classes for nm in names], bool)
        b, s, c, names = b[keep], s[keep], c[keep], [nm for nm, k in zip(names, keep) if k]
        masks = out["masks"][keep] if "masks" in out else None  # Mask R-CNN
        picture = os.path.join(a.out_dir, picture_name(path, used))
        cv2.imwrite(picture, draw(np.ascontiguousarray(rgb[..., ::-1]), b, s, names, c, masks))
        report[path] = {"boxes": b.round(1).tolist(), "scores": s.round(4).tolist(), "classes": names,
                        "picture": os.path.basename(picture)}
        if masks is not None:
            report[path]["masks"] = encode_masks(masks)
        print(f"{path}: {len(s)} detections -> {picture}")
    with open(os.path.join(a.out_dir, "detections.json"), "w") as f:
        json.dump(report, f, indent=2)
    return 1 if failures and not report else 0
