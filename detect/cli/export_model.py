"""Exports a trained detector as a SavedModel that runs without the training code.

    python tools/export_model.py --output output/faster_rcnn_tiny_toy_train --export-dir exports/toy
        [--checkpoint <output>/checkpoints/ckpt-N] [--set TEST.SCALES "[480]"] [--overwrite]

Reads config.yml, classes.json and the latest checkpoint (or --checkpoint)
from --output and writes a SavedModel with the signatures
``serving_default`` (uint8 [1, H, W, 3] RGB) and ``serve_encoded`` (JPEG /
PNG bytes): preprocessing, the model and post-processing in one graph
(detect/export/saved_model.py). Load it with ``detect.load_exported(dir)``,
serve it with tools/serve.py, run the demo on it with tools/demo.py
--saved-model. --set changes test settings (TEST.SCALES, TEST.NMS, ...)
for the export only.
"""
import argparse
import os
import sys
import time

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

from detect.engine.checkpoint import load_model, read_class_names
from detect.export.saved_model import SIGNATURES, ExportError, export_saved_model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="train_net.py output folder")
    p.add_argument("--checkpoint", help="a checkpoint: <output>/checkpoints/ckpt-N, one of its files, "
                   "or a folder (its latest); default: the latest of --output")
    p.add_argument("--export-dir", required=True, help="folder to write the SavedModel to")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export in --export-dir")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE",
                   help="config overrides for the export (e.g. TEST.SCALES [480])")
    a = p.parse_args(argv)
    try:
        class_names = read_class_names(a.output)
        cfg, model, ckpt = load_model(a.output, a.checkpoint, a.set)
        print(f"exporting {ckpt} (shorter side {cfg.TEST.SCALES[0]}, longer at most "
              f"{cfg.TEST.MAX_SIZE}, {len(class_names) - 1} classes) ...", flush=True)
        t0 = time.perf_counter()
        path = export_saved_model(cfg, model, class_names, a.export_dir, a.overwrite)
    except (KeyError, ValueError, FileNotFoundError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    print(f"wrote {path} ({size / 2 ** 20:.1f} MiB) in {time.perf_counter() - t0:.1f} s; "
          f"signatures {', '.join(SIGNATURES)}")
    return 0
