"""Runs a trained detector on images, videos or a camera and draws what it finds.

    python tools/demo.py --output output/faster_rcnn_tiny_toy_train [images, folders or globs]
        [--thresh 0.5] [--classes person] [--out-dir demo_out]
    python tools/demo.py --saved-model exports/toy [images ...]     # from an export instead
    python tools/demo.py --output output/coco_maskrcnn street.mp4 --classes person   # a video
    python tools/demo.py --output output/toy_quickstart --camera 0  # a camera, until Ctrl-C

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
A video file (.mp4 .avi .mov .mkv .webm ..., anything OpenCV's FFmpeg reads)
or --camera N gives <name>_det.mp4 and <name>_det.jsonl, a line per frame
(detect/cli/video.py says what they hold, and what Ctrl-C or a truncated
file leaves). Folders of thousands of images: tools/predict.py.
"""
import argparse
import os
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import cv2
import numpy as np
import tensorflow as tf

from detect.cli.arg_types import at_least_one, class_list, unit_interval
from detect.cli.detections import check_classes, select, skip_reason, to_json
from detect.cli.model_args import add_model_args, load_predictor
from detect.cli.video import run_video
from detect.datasets.image_check import MAX_PIXELS, BadImageError
from detect.media.folder import expand, is_image, read_image
from detect.media.video import is_video
from detect.utils.atomic import write_json_atomic
from detect.utils.stopping import StopRequests, Stopped, stop_signal
from detect.visualization import draw, picture_name

# data/demo/ of the repository (an editable install: pip install -e .)
SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "data", "demo", "toy_sample.jpg")


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="*", help="image files, folders or globs, and video files")
    add_model_args(p)
    p.add_argument("--thresh", type=unit_interval, default=0.5, help="minimum score to draw, in [0, 1]")
    p.add_argument("--classes", action="extend", type=class_list, metavar="NAME[,NAME]",
                   help="only these classes: comma-separated, or the option repeated (e.g. person)")
    p.add_argument("--out-dir", default="demo_out")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="skip larger images (height x width, from the header)")
    p.add_argument("--camera", type=int, metavar="INDEX", help="a camera (0: the first), until Ctrl-C "
                   "or --max-frames")
    p.add_argument("--every", type=at_least_one, default=1, metavar="N",
                   help="videos: detect on every Nth frame (those between are drawn with the last "
                        "detections)")
    p.add_argument("--max-frames", type=at_least_one, metavar="N", help="videos: stop after N frames")
    p.add_argument("--batch-size", type=at_least_one, default=1,
                   help="videos: frames a model call (run folders; an export takes one)")
    p.add_argument("--video-ext", choices=(".mp4", ".avi"), default=".mp4",
                   help="the annotated video's container: .mp4 (mp4v) or .avi (MJPG)")
    return p


def run_image(predictor, path, a, used, report):
    """Draws one image's detections; False when it was skipped."""
    try:
        rgb = read_image(path, a.max_pixels)
        out = predictor(rgb)  # boxes in the input picture's pixels
    except (OSError, BadImageError, MemoryError, tf.errors.ResourceExhaustedError) as e:
        print(f"skipped {path}: {skip_reason(e)}")
        return False
    d = select(out, a.thresh, a.classes)
    picture = os.path.join(a.out_dir, picture_name(path, used, "_det"))
    cv2.imwrite(picture, draw(np.ascontiguousarray(rgb[..., ::-1]), d["boxes"], d["scores"],
                              d["class_names"], d["classes"], d.get("masks")))
    report[path] = to_json(d)
    report[path]["picture"] = os.path.basename(picture)
    below = "" if len(d["scores"]) or d["best_other"] is None else (
        f" (the best score, {d['best_other']:.2f}, is under --thresh {a.thresh}; a lower "
        "--thresh draws more)")
    print(f"{path}: {len(d['scores'])} detections{below} -> {picture}")
    return True


def main(argv=None):
    a = parser().parse_args(argv)
    with StopRequests() as stop:  # Ctrl-C, SIGTERM: stop between images and frames
        try:
            return run_all(a, stop)
        except (Stopped, KeyboardInterrupt) as e:
            print(f"stopped by {stop_signal(e).name}", file=sys.stderr)
            return 128 + stop_signal(e)


def run_all(a, stop):
    try:
        predictor = load_predictor(a)
        problem = check_classes(a.classes, predictor.class_names)
        if problem:
            raise ValueError(problem)
        if os.path.exists(a.out_dir) and not os.path.isdir(a.out_dir):
            raise ValueError(f"--out-dir {a.out_dir} is a file; name a folder (it is made if missing)")
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stop.check()
    inputs = a.images or ([] if a.camera is not None else [SAMPLE])
    found = [p for p, _ in expand(inputs, keep=lambda p: is_image(p) or is_video(p))]
    videos = [p for p in found if is_video(p) and not os.path.isdir(p)]
    paths = [p for p in found if not (is_video(p) and not os.path.isdir(p))]
    if not paths and not videos and a.camera is None:
        print(f"error: no image or video matches {a.images}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    report, failures, used, status = {}, 0, set(), 0
    try:
        for path in paths:
            failures += not run_image(predictor, path, a, used, report)
            stop.check()
    finally:  # also when stopped: the images done are listed
        if paths:
            write_json_atomic(os.path.join(a.out_dir, "detections.json"), report, indent=2)
    for source in videos + ([a.camera] if a.camera is not None else []):
        status = max(status, run_video(predictor, source, a, used, stop))
        if status > 128:  # stopped: Ctrl-C ends the whole command
            return status
    if paths and failures and not report:
        return max(status, 1)
    return status
