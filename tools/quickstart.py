#!/usr/bin/env python
"""The quick start: toy dataset, training, evaluation and demo in one command.

    python tools/quickstart.py [--output output/toy_quickstart] [--fresh] [--train-images 1500]

1. writes the built-in toy dataset to data/toy (1500 training and 100 test
   images, --train-images; skipped when already there);
2. trains Mask R-CNN (tiny backbone with an FPN, experiments/cfgs/
   toy_mask_rcnn.yml) on toy_coco_train (the toy images with their
   instance masks) on the CPU;
3. evaluates it on toy_coco_test: VOC07 11-point box mAP, COCO box AP and
   COCO mask AP;
4. runs the demo on a toy test image (boxes and masks drawn; pictures and
   JSON in <output>/demo).

Before it starts it prints the time to expect on this CPU (the figures
measured on 2 cores, docs/benchmarks.md); at the end the three figures and
the wall time. Interrupted or run again, it continues from the last
checkpoint in --output (--fresh starts over).
"""
import argparse
import glob
import json
import os
import shutil
import sys
import time

T_START = time.time()  # the wall time includes loading TensorFlow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from detect.tf_env import onednn_enabled, set_defaults  # noqa: E402

# Before TensorFlow is imported. oneDNN's kernels train the tiny backbone
# 1.7x faster on AVX2 CPUs (detect/tf_env.py); TF_ENABLE_ONEDNN_OPTS=0 opts out.
set_defaults(onednn=True)

from detect.cli import demo, make_toy_dataset, test_net, train_net  # noqa: E402
from detect.utils.cpu import cpu_name, vector_class  # noqa: E402

# goals on the toy test set: VOC07 box mAP, COCO box AP, COCO mask AP; minutes
TARGETS = {"voc07": 0.90, "coco": 0.72, "coco_segm": 0.70}
MINUTES_TARGET = {"AVX-512": 6.0, "AVX2": 10.0}
# minutes of the whole quick start on 2 cores, oneDNN on (docs/benchmarks.md,
# "The quick start's speed"): measured on an AMD EPYC with AVX-512 (5.7-6.2),
# and on it with oneDNN capped at AVX2 (7.6-8.0); the older 2-core AVX2 EPYC
# of the earlier figures ran 2.3x slower than the cap, about 17 minutes
EXPECTED_MINUTES = {"AVX-512": (6, 6), "AVX2": (8, 17)}
NAMES = {"voc07": "toy VOC07 box mAP", "coco": "toy COCO box AP", "coco_segm": "toy COCO mask AP"}


def metrics(cfg_path, overrides):
    """The figures to report: box and, for a model with masks, mask AP."""
    from detect.config import get_cfg, merge_from_file, merge_from_list
    cfg = get_cfg()
    merge_from_file(cfg, cfg_path)
    merge_from_list(cfg, overrides)
    return ["voc07", "coco"] + (["coco_segm"] if cfg.MODEL.MASK_HEAD else [])


def expectation():
    """The line that says how long to expect on this CPU."""
    kind = vector_class()
    cpus = os.cpu_count() or 1
    if kind not in EXPECTED_MINUTES:
        lo, hi = EXPECTED_MINUTES["AVX2"]
        return (f"{cpu_name()} ({kind} vector unit, {cpus} CPUs): no figure measured on such a CPU; "
                f"with AVX2 {lo} to {hi} minutes on 2 cores, this one slower")
    lo, hi = EXPECTED_MINUTES[kind]
    span = f"about {lo}" if lo == hi else f"{lo} to {hi}"
    note = "" if onednn_enabled() else " (measured with oneDNN's kernels: expect longer with Eigen's)"
    more = "; more cores are faster" if cpus > 2 else ""
    return (f"{cpu_name()}, {kind}: expect {span} minutes on 2 cores (docs/benchmarks.md){more}{note}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", default=os.path.join("output", "toy_quickstart"))
    p.add_argument("--cfg", default=os.path.join(ROOT, "experiments", "cfgs", "toy_mask_rcnn.yml"))
    p.add_argument("--data-dir", default="data", help="the toy dataset goes to <data-dir>/toy")
    p.add_argument("--train-images", type=int, default=make_toy_dataset.NUM_TRAIN,
                   help="toy training images to write (the test set is always the same 100)")
    p.add_argument("--fresh", action="store_true", help="delete --output first and train from scratch")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE", help="config overrides")
    a = p.parse_args(argv)
    t0 = T_START
    progress = [] if not a.no_progress else ["--no-progress"]
    if a.fresh and os.path.isdir(a.output):
        shutil.rmtree(a.output)
    resumed = bool(glob.glob(os.path.join(a.output, "checkpoints", "*.index")))

    steps = [
        ("toy dataset", lambda: make_toy_dataset.main(["--out", os.path.join(a.data_dir, "toy"),
                                                          "--train", str(a.train_images), *progress])),
        ("train", lambda: train_net.main(["--cfg", a.cfg, "--dataset", "toy_coco_train", "--data-dir", a.data_dir,
                                          "--output", a.output, "--resume", *progress,
                                          *(["--set", *a.set] if a.set else [])])),
        ("test", lambda: test_net.main(["--output", a.output, "--dataset", "toy_coco_test", "--data-dir",
                                        a.data_dir, "--metric", *metrics(a.cfg, a.set), *progress])),
        ("demo", lambda: demo.main([os.path.join(a.data_dir, "toy", "VOCdevkit", "VOCtoy", "JPEGImages",
                                                 "test_000000.jpg"),
                                    "--output", a.output, "--out-dir", os.path.join(a.output, "demo")])),
    ]
    print(expectation(), flush=True)
    for name, run in steps:
        print(f"\n== {name} ({time.time() - t0:.0f} s)", flush=True)
        code = run()
        if code:
            print(f"quick start stopped: step '{name}' failed (exit code {code})", file=sys.stderr)
            return code
    minutes = (time.time() - t0) / 60
    with open(os.path.join(a.output, "metrics_toy_coco_test.json")) as f:
        figures = json.load(f)
    print()
    for key in metrics(a.cfg, a.set):
        value = figures[key]["mAP"] if key == "voc07" else figures[key]["stats"]["AP"]
        print(f"{NAMES[key]}: {value:.4f} (target >= {TARGETS[key]:.2f})")
    print(f"{figures['seconds_per_image']:.3f} s per test image")
    kernels = {True: "oneDNN", False: "Eigen (TF_ENABLE_ONEDNN_OPTS=0)"}.get(onednn_enabled(),
                                                                            "unknown")
    kind = vector_class()
    goal = (f"target <= {MINUTES_TARGET[kind]:.0f} min on 2 cores with {kind}"
            if kind in MINUTES_TARGET else "no target for this CPU")
    print(f"wall time: {minutes:.1f} min ({goal}; {cpu_name()}, {os.cpu_count()} CPUs; "
          f"TensorFlow {kernels} CPU kernels)"
          + ("; this run resumed earlier training, so it is not the time of a whole quick start "
             "(--fresh starts over)" if resumed else ""))
    print(f"checkpoints, TensorBoard logs, detections: {a.output}; demo pictures: "
          f"{os.path.join(a.output, 'demo')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
