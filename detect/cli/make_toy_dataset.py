"""Writes the built-in toy dataset (VOC layout + COCO JSON with masks).

    python tools/make_toy_dataset.py [--out data/toy] [--train 1500] [--test 100] [--seed 0]

Deterministic: the same arguments give the same files. Datasets
``toy_train`` / ``toy_test`` (VOC layout) and ``toy_coco_train`` /
``toy_coco_test`` (COCO JSON) read it.
"""
import argparse
import json
import os
import time

from tqdm import tqdm

from detect.datasets.toy import NUM_TEST, NUM_TRAIN, write_toy_dataset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join("data", "toy"), help="the folder to write (default: data/toy)")
    p.add_argument("--train", type=int, default=NUM_TRAIN, help=f"training images (default {NUM_TRAIN})")
    p.add_argument("--test", type=int, default=NUM_TEST, help=f"test images (default {NUM_TEST})")
    p.add_argument("--seed", type=int, default=0, help="the random seed: the same seed, the same files")
    p.add_argument("--force", action="store_true", help="rewrite even if it already exists")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    params = {"train": a.train, "test": a.test, "seed": a.seed, "version": 1}
    stamp = os.path.join(a.out, "toy_dataset.json")
    if not a.force and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                print(f"toy dataset already in {a.out} ({a.train} train, {a.test} test images)")
                return 0
    t0 = time.time()
    with tqdm(total=a.train + a.test, desc="toy dataset", unit="img", disable=a.no_progress) as bar:
        counts = write_toy_dataset(a.out, a.train, a.test, a.seed, progress=bar.update)
    with open(stamp, "w") as f:
        json.dump(params, f)
    print(f"wrote {counts['train']} train and {counts['test']} test images to {a.out} "
          f"in {time.time() - t0:.1f} s")
    return 0
