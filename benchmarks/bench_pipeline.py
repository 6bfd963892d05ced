#!/usr/bin/env python
"""Images per second through decode + resize + flip + normalize + batch.

At 600 x 1000 (shorter side 600, longer side capped at 1000), training mode,
batches of 2, from JPEG files (a Dataset read from disk) and from TFRecord
shards of the same images, on the CPU with --threads threads. Generates
--images toy-style images at 480 x 640 first (VOC-like sizes), in a
temporary folder. Prints one JSON line per source.

    python benchmarks/bench_pipeline.py [--images 200] [--threads 2] [--epochs 3]
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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2)
    a = p.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
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
