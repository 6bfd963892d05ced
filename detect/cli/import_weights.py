"""Imports a model zoo's trained detector: a run folder that test_net.py,
demo.py, export_model.py and serve.py take as they take a trained one.

    python tools/import_weights.py --source torchvision --arch maskrcnn_resnet50_fpn \\
        --weights maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth --output output/tv_maskrcnn
    python tools/demo.py --output output/tv_maskrcnn street.jpg --classes person

The weights file is read without PyTorch and without running code from it
(detect/weights/). Every source tensor must find its variable and every
variable its tensor, with the shape the architecture needs; otherwise
nothing is written and the message names the tensors. --weights may also be
the source's published file name (``--list`` shows them): it is taken from
--cache-dir if there, else downloaded from the source's address where the
machine is online and checked against the hash in its name; offline, the
message gives the address to fetch by hand.

The run folder gets config.yml (experiments/cfgs/zoo/<source>_<arch>.yml,
merged), classes.json (the source's output slots), checkpoints/ckpt-1 and
import.json (source, file, SHA-256, tensors used). It is written to a
temporary folder beside --output and renamed into place when complete.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import tensorflow as tf

from detect.config import cfg_to_yaml, get_cfg, merge_from_file, merge_from_list, validate_cfg
from detect.modeling.build import build_model
from detect.modeling.load_weights import load_into
from detect.weights import WeightsFileError, read_state_dict
from detect.weights.zoo import ARCHITECTURES

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "detect", "weights")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(arch, cache_dir, timeout=30):
    """The path of arch's published file: from the cache, or downloaded into
    it (checked against the hash prefix in the file name). Raises
    FileNotFoundError with the address to fetch by hand when offline."""
    path = os.path.join(cache_dir, arch.file_name)
    if os.path.isfile(path):
        return path
    os.makedirs(cache_dir, exist_ok=True)
    part = path + ".part"
    try:
        with urllib.request.urlopen(arch.url, timeout=timeout) as r, open(part, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        if os.path.exists(part):
            os.remove(part)
        raise FileNotFoundError(
            f"{arch.file_name} is not in {cache_dir} and could not be downloaded ({e}). Fetch "
            f"{arch.url} by hand and pass it as --weights (or put it in --cache-dir)") from None
    digest = sha256(part)
    if not digest.startswith(arch.sha256_prefix):
        os.remove(part)
        raise WeightsFileError(f"{arch.url} downloaded with SHA-256 {digest[:16]}..., not the "
                               f"published {arch.sha256_prefix}...: not kept")
    os.replace(part, path)
    return path


def resolve_weights(arg, arch, cache_dir):
    """--weights: a file, or the source's file name / the architecture's name."""
    if os.path.isfile(arg):
        return arg
    if arg in (arch.file_name, arch.name):
        return fetch(arch, cache_dir)
    raise FileNotFoundError(f"--weights {arg} is neither a file nor {arch.source}'s published "
                            f"{arch.file_name} (pass that name to use the cache or download it)")


def zoo_cfg(arch, overrides=()):
    """The config that rebuilds ``arch`` (experiments/cfgs/zoo/), with overrides."""
    cfg = get_cfg()
    merge_from_file(cfg, arch.config_path)
    merge_from_list(cfg, list(overrides))
    validate_cfg(cfg)
    if cfg.MODEL.NUM_CLASSES != len(arch.class_names):
        raise ValueError(f"MODEL.NUM_CLASSES {cfg.MODEL.NUM_CLASSES} does not match {arch.name}'s "
                         f"{len(arch.class_names)} output slots")
    return cfg


def import_model(arch, weights, output, overrides=(), overwrite=False):
    """Builds the architecture's model, loads ``weights`` into it and writes
    the run folder ``output``. Returns (LoadReport, cfg)."""
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(f"{output} exists; choose another --output or pass --overwrite")
    cfg = zoo_cfg(arch, overrides)
    state = read_state_dict(weights)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))  # creates the variables
    report = load_into(model.variables, state, arch.mapping(), weights)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".import-", dir=parent)
    try:
        with open(os.path.join(tmp, "config.yml"), "w") as f:
            f.write(f"# {arch.source} {arch.name}, imported from {os.path.basename(weights)} by "
                    "tools/import_weights.py\n" + cfg_to_yaml(cfg))
        with open(os.path.join(tmp, "classes.json"), "w") as f:
            json.dump(list(arch.class_names), f)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                             os.path.join(tmp, "checkpoints"), max_to_keep=1)
        manager.save(checkpoint_number=1)
        # the index relative to its folder, so that the rename keeps it valid
        with open(os.path.join(tmp, "checkpoints", "checkpoint"), "w") as f:
            f.write('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
        with open(os.path.join(tmp, "import.json"), "w") as f:
            json.dump({"source": arch.source, "arch": arch.name, "weights": os.path.abspath(weights),
                       "sha256": sha256(weights), "tensors_used": report.used,
                       "variables_set": report.assigned, "ignored": report.ignored,
                       "published": arch.published}, f, indent=1)
        if os.path.exists(output):
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report, cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--source", choices=sorted({s for s, _ in ARCHITECTURES}))
    p.add_argument("--arch", help="the source's model name (--list)")
    p.add_argument("--weights", help="the weights file, or the source's published file name")
    p.add_argument("--output", help="the run folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where published files are kept")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY VALUE",
                   help="config overrides (test settings such as TEST.SCORE_THRESH)")
    p.add_argument("--list", action="store_true", help="list the supported models and exit")
    a = p.parse_args(argv)
    if a.list:
        for (source, name), arch in sorted(ARCHITECTURES.items()):
            print(f"{source:12s} {name:28s} {arch.file_name:45s} {arch.published}")
        return 0
    missing = [f"--{k}" for k in ("source", "arch", "weights", "output") if not getattr(a, k)]
    if missing:
        p.error(f"{', '.join(missing)} required (or --list)")
    arch = ARCHITECTURES.get((a.source, a.arch))
    if arch is None:
        names = sorted(n for s, n in ARCHITECTURES if s == a.source)
        print(f"error: {a.source} has no architecture {a.arch!r}; supported: {', '.join(names)}",
              file=sys.stderr)
        return 2
    try:
        weights = resolve_weights(a.weights, arch, a.cache_dir)
        print(f"importing {a.source} {arch.name} from {weights} ...", flush=True)
        report, cfg = import_model(arch, weights, a.output, a.set, a.overwrite)
    except (FileNotFoundError, FileExistsError, WeightsFileError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    note = f" ({len(report.ignored)} bookkeeping tensors ignored)" if report.ignored else ""
    print(f"{report.used} source tensors -> {report.assigned} variables, none missing, none left "
          f"over{note}")
    print(f"wrote {a.output} (config.yml, classes.json, checkpoints/ckpt-1). Next:\n"
          f"  python tools/demo.py --output {a.output} <images>\n"
          f"  python tools/test_net.py --output {a.output} --dataset coco_2017_val")
    return 0
