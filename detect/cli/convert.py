"""The command line of tools/convert_voc.py and tools/convert_coco.py: a
dataset -> sharded TFRecords (convert.py).

``--out`` is a path prefix (``data/tfrecords/voc_2007_trainval`` writes
``data/tfrecords/voc_2007_trainval-00000-of-00008.tfrecord`` ...) or a
directory (``data/tfrecords/``: ends with ``/`` or exists), which gets
``<dir>/<dataset>-00000-of-00008.tfrecord`` .... Bad arguments (``--shards 0``)
are a usage message, bad input an ``error:`` line, both with exit status 2.
Ctrl-C or SIGTERM stops the worker processes, removes the unfinished shards
and exits with 130 or 143 (128 + the signal number).
"""
import argparse
import logging
import os
import sys
import time

from tqdm import tqdm

from detect.cli.arg_types import at_least_one
from detect.datasets import BadInputError, get_dataset
from detect.datasets.convert import convert
from detect.utils.stopping import Stopped, sigterm_raises, stop_signal


def parser(kind, default_masks):
    p = argparse.ArgumentParser(
        description=f"Converts a {kind} dataset to sharded TFRecords of tf.train.Example.")
    p.add_argument("--dataset", required=True, help="e.g. voc_2007_trainval, coco_2017_val, "
                   "toy_train, coco:<annotations.json>:<image dir>, voc:<VOC root>[:<split>]; "
                   "names joined with + are concatenated")
    p.add_argument("--datasets-file", help="a YAML file of named datasets (detect/datasets/by_path.py)")
    p.add_argument("--data-dir", default="data", help="where the datasets are (data/README.md)")
    p.add_argument("--out", required=True,
                   help="output prefix, e.g. data/tfrecords/voc_2007_trainval, or a directory "
                        "(ending in /, or existing): shards named after --dataset go inside it")
    p.add_argument("--shards", type=at_least_one, default=8, help="number of output files")
    p.add_argument("--workers", type=at_least_one, default=None,
                   help="processes (default: CPU count)")
    p.add_argument("--masks", action=argparse.BooleanOptionalAction, default=default_masks,
                   help="store instance masks as PNG")
    p.add_argument("--strict", action="store_true", help="fail on the first bad input")
    return p


def main(kind, default_masks, argv=None):
    """Runs the converter; returns the exit status."""
    a = parser(kind, default_masks).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    t0 = time.time()
    try:
        with sigterm_raises():
            dataset = get_dataset(a.dataset, a.data_dir, strict=a.strict, datasets_file=a.datasets_file)
            with tqdm(total=len(dataset), desc=f"converting {dataset.name}", unit="img") as bar:
                paths, written, skips = convert(dataset, a.out, a.shards, a.workers, a.masks,
                                                a.strict, progress=bar.update)
    except (BadInputError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as e:
        print(f"stopped by {stop_signal(e).name}: workers ended, unfinished shards "
              "removed", file=sys.stderr)
        return 128 + stop_signal(e)
    prefix = paths[0].rsplit("-", 3)[0]
    print(f"{dataset.name}: wrote {written} examples to {len(paths)} shards "
          f"({os.path.dirname(prefix) or '.'}/{os.path.basename(prefix)}-*) in "
          f"{time.time() - t0:.1f} s; {skips.summary()}")
    return 0
