#!/usr/bin/env python
"""Gradient accumulation (detect/engine/batching.py): seconds per global
batch and peak memory of a Mask R-CNN R50-FPN training iteration at several
TRAIN.IMS_PER_DEVICE, against the whole batch in one step.

Each TRAIN.IMS_PER_DEVICE runs in its own process, so its peak resident
memory is its own: experiments/cfgs/mask_rcnn_res50_fpn.yml with random
weights (no download), 81 classes, a global batch of --batch synthetic
images of one size (--height x --width, 3 objects each with elliptic
masks; one size, so no split pads differently), TensorFlow limited to
--threads threads, the memory check off. The iteration is train_net.py's
(trainer.py's step: the micro-steps in a tf.while_loop, one update).

    python benchmarks/bench_accumulation.py [--batch 16] [--per-device 1,2,4,16]
                                            [--height 384] [--width 640] [--repeats 2]

Prints one JSON line per TRAIN.IMS_PER_DEVICE (median seconds per
iteration, per image, peak and pre-step resident memory), then one line of
ratios to the largest IMS_PER_DEVICE that ran (the whole batch at once by
default): the accumulation overhead per image. A setting whose process
fails (e.g. killed for memory) is a line with its exit code.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.bench_models import GT_BOXES, _ellipse  # noqa: E402
from benchmarks.timing import timed  # noqa: E402


def worker(a, per_device):
    from detect.tf_env import onednn_enabled, set_defaults
    set_defaults()
    import numpy as np
    import tensorflow as tf

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets.pipeline import crop_masks
    from detect.engine.memory_check import peak_resident_bytes, resident_bytes
    from detect.engine.trainer import Trainer
    from detect.modeling.build import build_model

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "mask_rcnn_res50_fpn.yml"))
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", "81", "MODEL.WEIGHTS", "", "TRAIN.IMS_PER_BATCH",
                          str(a.batch), "TRAIN.IMS_PER_DEVICE", str(per_device),
                          "TRAIN.MEMORY_LIMIT_GB", "-1"])
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    h, w, n, b = a.height, a.width, len(GT_BOXES), a.batch
    scale = np.array([w / 1000, h / 600, w / 1000, h / 600], np.float32)  # bench_models' boxes, scaled
    boxes = np.array(GT_BOXES, np.float32) * scale
    full = np.stack([_ellipse(box, h, w) for box in boxes])
    batch = {"image": tf.random.stateless_normal([b, h, w, 3], [0, 1]) * 50.0,
             "image_size": tf.constant([[h, w]] * b), "boxes": tf.constant([boxes] * b),
             "classes": tf.constant([[15, 7, 12]] * b), "difficult": tf.zeros([b, n], tf.bool),
             "crowd": tf.zeros([b, n], tf.bool), "num_objects": tf.constant([n] * b),
             "masks": tf.tile(crop_masks(full, tf.constant(boxes), cfg.MODEL.MASK_GT_SIZE)[None],
                              [b, 1, 1, 1])}
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, model, [batch], out)
        trainer.build(batch)
        step = trainer._train_step_fn()  # pylint: disable=protected-access
        seed = tf.constant([0, 1], tf.int32)
        before = resident_bytes()
        median, times = timed(lambda: float(step(batch, seed)[0]["total"]), a.repeats, 1)
    return {"ims_per_device": per_device, "accumulation_steps": b // min(per_device, b),
            "median_s": round(median, 3), "s_per_image": round(median / b, 4),
            "times_s": [round(t, 3) for t in times],
            "peak_rss_gb": round(peak_resident_bytes() / 1024 ** 3, 3),
            "rss_before_step_gb": round(before / 1024 ** 3, 3), "onednn": onednn_enabled()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16, help="the global batch (TRAIN.IMS_PER_BATCH)")
    p.add_argument("--per-device", default="1,2,4,16", help="TRAIN.IMS_PER_DEVICE values, comma-separated")
    p.add_argument("--height", type=int, default=384)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="timed iterations after one warm-up")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    common = {"model": "mask_rcnn_res50_fpn", "batch": a.batch, "image": f"{a.height}x{a.width}",
              "threads": a.threads}
    if a.worker is not None:
        print("RESULT " + json.dumps(dict(common, **worker(a, a.worker))), flush=True)
        return 0
    rows = []
    for d in [int(x) for x in a.per_device.split(",")]:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(d), "--batch", str(a.batch),
               "--height", str(a.height), "--width", str(a.width), "--threads", str(a.threads),
               "--repeats", str(a.repeats)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        lines = [l for l in run.stdout.splitlines() if l.startswith("RESULT ")]
        row = json.loads(lines[-1][len("RESULT "):]) if run.returncode == 0 and lines else dict(
            common, ims_per_device=d, exit_code=run.returncode, error=run.stderr.strip()[-300:])
        rows.append(row)
        print(json.dumps(row), flush=True)
    ran = [r for r in rows if "median_s" in r]
    if ran:
        base = max(ran, key=lambda r: r["ims_per_device"])
        print(json.dumps(dict(common, baseline_ims_per_device=base["ims_per_device"], ratios={
            str(r["ims_per_device"]): {"time": round(r["median_s"] / base["median_s"], 3),
                                       "peak_memory": round(r["peak_rss_gb"] / base["peak_rss_gb"], 3)}
            for r in ran})), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
