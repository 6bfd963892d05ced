#!/usr/bin/env python
"""Pixels a training batch pads to, with the scale picked per image (each
image its own size, the batch padded to the largest) against per batch (the
pipeline's way since 2026-12-08: the images share it), over a dataset's
real image sizes.

    python benchmarks/bench_padding.py [--dataset toy_coco_train] [--data-dir data]
        [--scales 128,144,160] [--max-size 240] [--batch 2] [--batches 20000]

Random batches (images and scales drawn with a fixed seed); each image
resized as the pipeline does (shorter side to the scale, longer side at
most --max-size, rounded). Prints one JSON line per way: padded pixels per
batch and the share of them that are image; then their ratio. The convs
of backbone, FPN and RPN cost in proportion to the padded pixels.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def resized(height, width, scale, max_size):
    """(h, w) as pipeline.target_size with rounding="round"."""
    factor = np.minimum(scale / np.minimum(height, width), max_size / np.maximum(height, width))
    return np.round(height * factor), np.round(width * factor)


def padded_pixels(sizes, scales, max_size, batch, batches, per_batch, seed=0):
    """(mean padded pixels per batch, image share of them)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sizes), size=(batches, batch))
    which = rng.integers(0, len(scales), size=(batches, 1 if per_batch else batch))
    s = np.broadcast_to(np.asarray(scales, np.float64)[which], (batches, batch))
    h, w = resized(sizes[picks, 0], sizes[picks, 1], s, max_size)
    padded = batch * h.max(axis=1) * w.max(axis=1)
    return float(padded.mean()), float((h * w).sum() / padded.sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="toy_coco_train")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--scales", default="128,144,160")
    p.add_argument("--max-size", type=float, default=240)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--batches", type=int, default=20000)
    a = p.parse_args()
    from detect.datasets import get_dataset
    records = get_dataset(a.dataset, a.data_dir).records
    sizes = np.array([[r["height"], r["width"]] for r in records], np.float64)
    scales = [float(s) for s in a.scales.split(",")]
    rows = {}
    for way, per_batch in (("per_image", False), ("per_batch", True)):
        pixels, share = padded_pixels(sizes, scales, a.max_size, a.batch, a.batches, per_batch)
        rows[way] = {"way": way, "dataset": a.dataset, "images": len(sizes), "scales": scales,
                     "max_size": a.max_size, "batch": a.batch, "batches": a.batches,
                     "padded_pixels_per_batch": round(pixels), "image_share": round(share, 4)}
        print(json.dumps(rows[way]), flush=True)
    print(json.dumps({"ratio": "per_batch / per_image", "padded_pixels": round(
        rows["per_batch"]["padded_pixels_per_batch"] / rows["per_image"]["padded_pixels_per_batch"], 4)}))


if __name__ == "__main__":
    main()
