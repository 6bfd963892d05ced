#!/usr/bin/env python
"""Images per second through decode + resize + flip + normalize + batch.

At 600 x 1000 (shorter side 600, longer side capped at 1000), training mode,
batches of 2, from JPEG files (a Dataset read from disk) and from TFRecord
shards of the same images, on the CPU with --threads threads. Generates
--images toy-style images at 480 x 640 first (VOC-like sizes), in a
temporary folder. Prints one JSON line per source.

--quickstart instead times the quick start's input: the toy set with its
instance masks (toy_coco_train, --images of them written to a temporary
folder), 160-pixel images, 56 x 56 mask crops, --epochs passes in one
pipeline as training reads them, with the generator's elements cached in
memory (pipeline.CACHE_BYTES) and not (cache_bytes=0), alternated
--repeats times. It prints images/s and the process's CPU milliseconds per
image, the time the input takes from the training step on a busy CPU.

    python benchmarks/bench_pipeline.py [--images 200] [--threads 2] [--epochs 3]
    python benchmarks/bench_pipeline.py --quickstart [--images 300] [--epochs 4] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import numpy as np  # noqa: E402


def make_images(root, n):
    """n JPEGs at 480 x 640 with a few boxes, as a VOC-layout dataset."""
    from PIL import Image

    from detect.datasets.toy import make_image

    base = os.path.join(root, "VOCdevkit", "VOC2007")
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    ids = []
    for i in range(n):
        img, objects = make_image(0, i, 120, 160)
        img = np.asarray(Image.fromarray(img).resize((640, 480), Image.BILINEAR))
        name = f"{i:06d}"
        Image.fromarray(img).save(os.path.join(base, "JPEGImages", name + ".jpg"), quality=90)
        objs = "".join(f"<object><name>dog</name><difficult>0</difficult><bndbox><xmin>{10 + 20 * k}"
                       f"</xmin><ymin>10</ymin><xmax>{200 + 20 * k}</xmax><ymax>300</ymax></bndbox>"
                       "</object>" for k in range(max(len(objects), 1)))
        with open(os.path.join(base, "Annotations", name + ".xml"), "w") as f:
            f.write(f"<annotation><size><width>640</width><height>480</height></size>{objs}</annotation>")
        ids.append(name)
    with open(os.path.join(base, "ImageSets", "Main", "bench.txt"), "w") as f:
        f.writelines(i + "\n" for i in ids)


def images_per_second(source, epochs, batch_size):
    from detect.datasets.pipeline import build_pipeline

    rates = []
    for epoch in range(epochs + 1):
        ds = build_pipeline(source, training=True, batch_size=batch_size, scales=(600,),
                            max_size=1000, seed=epoch)
        t0, n = time.perf_counter(), 0
        for batch in ds:
            n += int(batch["image"].shape[0])
        if epoch:  # the first pass warms up tf.data and the file cache
            rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), n


def quickstart_input(root, epochs, batch_size, cache_bytes):
    """(images/s, CPU ms per image) of the quick start's training input."""
    from detect.datasets import get_dataset
    from detect.datasets.pipeline import build_pipeline

    ds = build_pipeline(get_dataset("toy_coco_train", root), training=True, batch_size=batch_size,
                        scales=(160,), max_size=240, normalization="torch", with_masks=True,
                        mask_size=56, drop_empty=True, epochs=epochs, cache_bytes=cache_bytes)
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    for batch in ds:
        n += int(batch["image"].shape[0])
    return n / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / n


def main_quickstart(a):
    from detect.datasets.pipeline import CACHE_BYTES
    from detect.datasets.toy import write_toy_dataset

    with tempfile.TemporaryDirectory() as root:
        write_toy_dataset(os.path.join(root, "toy"), num_train=a.images, num_test=1)
        runs = {"cached": [], "uncached": []}
        for _ in range(a.repeats):
            for name, limit in (("uncached", 0), ("cached", CACHE_BYTES)):
                runs[name].append(quickstart_input(root, a.epochs, a.batch_size, limit))
        med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
               for k, v in runs.items()}
        for name, (rate, cpu) in med.items():
            print(json.dumps({"bench": "pipeline_quickstart", "cache": name, "images": a.images,
                              "epochs": a.epochs, "batch_size": a.batch_size, "threads": a.threads,
                              "repeats": a.repeats, "images_per_s": round(rate, 1),
                              "cpu_ms_per_image": round(cpu, 2)}), flush=True)
        print(json.dumps({"bench": "pipeline_quickstart", "cpu_ratio_cached_over_uncached":
                          round(med["cached"][1] / med["uncached"][1], 3)}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--quickstart", action="store_true",
                   help="the quick start's toy input with masks, cached against not")
    p.add_argument("--repeats", type=int, default=3, help="--quickstart: alternations")
    a = p.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    if a.quickstart:
        return main_quickstart(a)
    from detect.datasets import get_dataset
    from detect.datasets.convert import convert

    with tempfile.TemporaryDirectory() as root:
        make_images(root, a.images)
        ds = get_dataset("voc_2007_bench", root)
        shards, _, _ = convert(ds, os.path.join(root, "tfr", "bench"), num_shards=4)
        for name, source in (("jpeg_files", ds), ("tfrecords", shards)):
            rate, n = images_per_second(source, a.epochs, a.batch_size)
            print(json.dumps({"bench": "pipeline", "source": name, "images": n,
                              "input": "640x480 JPEG", "output": "600x800 (600x1000 cap)",
                              "batch_size": a.batch_size, "threads": a.threads,
                              "images_per_s": round(rate, 1)}), flush=True)


if __name__ == "__main__":
    main()
