#!/usr/bin/env python
"""Throughput of detection on folders of images and on video, on the CPU:
images per second through detect.Predictor and through tools/predict.py's
loop (decoding ahead in threads, RLE, JSON lines), at each --batch-sizes;
frames per second through tools/demo.py's video loop (decode, detect, draw,
encode the annotated video), detecting on every frame and on every 3rd.

    python benchmarks/bench_predict.py --output RUN [--images DIR] [--count 8]
        [--batch-sizes 1,4] [--repeats 3] [--video-frames 24] [--threads 2]

RUN is a run folder (tools/train_net.py or tools/import_weights.py).
--images: a folder of photos (default ../shared/data/coco_mini/train2017,
80 COCO images); the first --count are used. The video is those images
resized to the first one's size, each repeated 3 times (so that
--every 3 skips detections on still frames), --video-frames in all, in
MJPG AVI. The model's own TEST.SCORE_THRESH applies (thresh 0: every
detection is kept, masks encoded). Every pass is preceded by one untimed
pass (tracing); medians of --repeats passes. Prints a JSON line per
measurement, then one per batch size with its speed-up over batch 1.
"""
import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.timing import timed  # noqa: E402
from detect.tf_env import set_defaults  # noqa: E402

set_defaults()


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                flags = open("/proc/cpuinfo").read()
                isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
                return f"{line.split(':', 1)[1].strip()} ({isa})"
    except OSError:
        pass
    return platform.processor() or "unknown"


def passes(fn, repeats):
    """fn() once untimed (tracing), then repeats timed calls: the median seconds."""
    return timed(fn, repeats, warmup=1)[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="a run folder")
    p.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "data", "coco_mini", "train2017"))
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--batch-sizes", default="1,4")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--video-frames", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)

    import cv2
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    from detect.cli import predict
    from detect.cli.video import run_video
    from detect.media.folder import read_image
    from detect.media.jsonl import JsonLines
    from detect.predictor import Predictor
    from detect.utils.stopping import StopRequests  # not entered: never asks to stop

    paths = sorted(glob.glob(os.path.join(a.images, "*.jpg")))[:a.count]
    if not paths:
        sys.exit(f"error: no .jpg in {a.images}")
    predictor = Predictor(a.output)
    rgbs = [read_image(path, 10 ** 8) for path in paths]
    base = {"model": os.path.basename(os.path.normpath(a.output)), "cpu": cpu_name(),
            "threads": a.threads, "images": len(paths)}
    detections = sum(len(o["scores"]) for o in predictor(rgbs))
    base["detections_per_image"] = round(detections / len(paths), 1)
    rates = {}
    tmp = tempfile.mkdtemp()
    for b in [int(x) for x in a.batch_sizes.split(",")]:
        # batches need same-sized inputs: the images resized to the first's size
        same = [cv2.resize(r, (rgbs[0].shape[1], rgbs[0].shape[0])) for r in rgbs]
        for kind, images in (("photos", rgbs), ("same_size", same)):
            seconds = passes(lambda: predictor(images, batch_size=b), a.repeats)
            rates[(kind, b)] = len(images) / seconds
            print(json.dumps({**base, "bench": "predictor", "inputs": kind, "batch_size": b,
                              "images_per_s": round(len(images) / seconds, 3)}), flush=True)
        args = predict.parser().parse_args(["--output", a.output, a.images, "--out-dir", tmp,
                                            "--batch-size", str(b)])
        todo = [{"id": i, "path": path, "file_name": os.path.basename(path)}
                for i, path in enumerate(paths)]

        def tool_pass():
            with JsonLines(os.path.join(tmp, "d.jsonl")) as log:
                bar = types.SimpleNamespace(update=lambda *x: None, write=print)
                predict.run(args, predictor, log, todo, bar, StopRequests())

        seconds = passes(tool_pass, a.repeats)
        print(json.dumps({**base, "bench": "predict.py", "inputs": "photos", "batch_size": b,
                          "images_per_s": round(len(paths) / seconds, 3)}), flush=True)

    video = os.path.join(tmp, "video.avi")
    h, w = rgbs[0].shape[:2]
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    for k in range(a.video_frames):
        writer.write(np.ascontiguousarray(cv2.resize(rgbs[(k // 3) % len(rgbs)], (w, h))[..., ::-1]))
    writer.release()
    for every in (1, 3):
        for b in [int(x) for x in a.batch_sizes.split(",")]:
            args = types.SimpleNamespace(out_dir=tmp, video_ext=".mp4", max_frames=None, every=every,
                                         batch_size=b, thresh=0.0, classes=None)
            seconds = passes(lambda: run_video(predictor, video, args, set(), StopRequests()), a.repeats)
            print(json.dumps({**base, "bench": "demo.py video", "frames": a.video_frames,
                              "size": f"{w}x{h}", "every": every, "batch_size": b,
                              "frames_per_s": round(a.video_frames / seconds, 3)}), flush=True)
    for (kind, b), rate in sorted(rates.items()):
        if b != 1 and (kind, 1) in rates:
            print(json.dumps({**base, "bench": "batching", "inputs": kind, "batch_size": b,
                              "speedup_over_1": round(rate / rates[(kind, 1)], 3)}), flush=True)


if __name__ == "__main__":
    main()
