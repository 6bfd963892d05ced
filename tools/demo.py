#!/usr/bin/env python
"""Runs a trained detector on images and draws what it finds.

    python tools/demo.py --output output/faster_rcnn_tiny_toy_train [images, folders or globs]
        [--thresh 0.5] [--classes person] [--out-dir demo_out]

Writes <name>_det.jpg (boxes, class names and scores, drawn with OpenCV) and
detections.json (per image: boxes [x1, y1, x2, y2], scores, classes) to
--out-dir. With no image given it runs on data/demo/toy_sample.jpg, which
ships with the project.
"""
import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from detect.datasets.pipeline import normalize, target_size  # noqa: E402
from test_net import load_model  # noqa: E402

SAMPLE = os.path.join(ROOT, "data", "demo", "toy_sample.jpg")
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


def prepare(rgb, cfg):
    h, w = rgb.shape[:2]
    new_h, new_w, _ = target_size(h, w, float(cfg.TEST.SCALES[0]), float(cfg.TEST.MAX_SIZE))
    image = tf.image.resize(tf.constant(rgb, tf.float32), [new_h, new_w])
    image = normalize(image, cfg.MODEL.PIXEL_NORMALIZATION)
    return image[None], tf.constant([[int(new_h), int(new_w)]]), (int(new_h) / h, int(new_w) / w)


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
    p.add_argument("--output", required=True, help="train_net.py output folder")
    p.add_argument("--thresh", type=float, default=0.5, help="minimum score to draw")
    p.add_argument("--classes", nargs="+", help="only these class names (e.g. person)")
    p.add_argument("--out-dir", default="demo_out")
    a = p.parse_args(argv)
    try:
        cfg, model, _ = load_model(a.output)
        with open(os.path.join(a.output, "classes.json")) as f:
            class_names = json.load(f)
    except (KeyError, ValueError, FileNotFoundError, AssertionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = set(a.classes or []) - set(class_names)
    if unknown:
        print(f"error: --classes {sorted(unknown)} not among {class_names[1:]}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    report, failures = {}, 0
    for path in expand(a.images):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"skipped {path}: not a readable image")
            failures += 1
            continue
        image, size, (sy, sx) = prepare(bgr[..., ::-1].copy(), cfg)
        boxes, scores, classes, valid = model.detect(image, size)
        n = int(valid[0])
        b = boxes[0, :n].numpy() / np.array([sx, sy, sx, sy])
        s, c = scores[0, :n].numpy(), classes[0, :n].numpy()
        names = [class_names[i] for i in c]
        keep = (s >= a.thresh) & np.array([not a.classes or nm in a.classes for nm in names], bool)
        b, s, names = b[keep], s[keep], [nm for nm, k in zip(names, keep) if k]
        out = os.path.join(a.out_dir, os.path.splitext(os.path.basename(path))[0] + "_det.jpg")
        cv2.imwrite(out, draw(bgr, b, s, names))
        report[path] = {"boxes": b.round(1).tolist(), "scores": s.round(4).tolist(), "classes": names}
        print(f"{path}: {len(s)} detections -> {out}")
    with open(os.path.join(a.out_dir, "detections.json"), "w") as f:
        json.dump(report, f, indent=2)
    return 1 if failures and not report else 0


if __name__ == "__main__":
    sys.exit(main())
