"""Shared command line of tools/convert_voc.py and tools/convert_coco.py."""
import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm  # noqa: E402

from detect.datasets import BadInputError, get_dataset  # noqa: E402
from detect.datasets.convert import convert  # noqa: E402


def main(kind, default_masks, argv=None):
    p = argparse.ArgumentParser(
        description=f"Converts a {kind} dataset to sharded TFRecords of tf.train.Example.")
    p.add_argument("--dataset", required=True, help="e.g. voc_2007_trainval, coco_2017_val, "
                   "toy_train; names joined with + are concatenated")
    p.add_argument("--data-dir", default="data", help="where the datasets are (data/README.md)")
    p.add_argument("--out", required=True, help="output prefix, e.g. data/tfrecords/voc_2007_trainval")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    p.add_argument("--masks", action=argparse.BooleanOptionalAction, default=default_masks,
                   help="store instance masks as PNG")
    p.add_argument("--strict", action="store_true", help="fail on the first bad input")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    t0 = time.time()
    try:
        dataset = get_dataset(a.dataset, a.data_dir, strict=a.strict)
        with tqdm(total=len(dataset), desc=f"converting {a.dataset}", unit="img") as bar:
            paths, written, skips = convert(dataset, a.out, a.shards, a.workers, a.masks, a.strict,
                                            progress=bar.update)
    except (BadInputError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.dataset}: wrote {written} examples to {len(paths)} shards "
          f"({os.path.dirname(paths[0]) or '.'}/{os.path.basename(a.out)}-*) in "
          f"{time.time() - t0:.1f} s; {skips.summary()}")
    return 0
