"""A trained model back from a train_net.py output folder, for test and demo.

    cfg, model, path = load_model("output/faster_rcnn_tiny_toy_train")

The folder holds config.yml (the training config) and checkpoints/ckpt-N.*
(tf.train.CheckpointManager). Every way a checkpoint can be wrong ends in a
CheckpointError that names the path and what to pass instead: a path that
does not exist, a file that is not a checkpoint, a folder without one, a
checkpoint of another model (another backbone, anchors, classes ...), one
holding NaN or inf.
"""
import copy
import glob
import json
import os
import re

import tensorflow as tf

from detect.config import get_cfg, merge_from_file, merge_from_list
from detect.engine.trainer import non_finite_variables
from detect.modeling.build import build_model


class CheckpointError(ValueError):
    """A checkpoint that cannot be found, read or restored into the model."""


def _available(folder):
    """Checkpoint prefixes in a folder (by their .index files), oldest first."""
    found = glob.glob(os.path.join(folder, "*.index"))
    return sorted((p[: -len(".index")] for p in found),
                  key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)])


def resolve_checkpoint(output_dir, checkpoint=None):
    """The checkpoint prefix to restore (e.g. <output_dir>/checkpoints/ckpt-8).

    Args:
      output_dir: a train_net.py output folder.
      checkpoint: None (the latest of output_dir), a prefix ``.../ckpt-N``,
        one of its files (``ckpt-N.index``, ``ckpt-N.data-00000-of-00001``),
        or a folder holding checkpoints (its latest).
    Raises CheckpointError.
    """
    if checkpoint is None:
        folder = os.path.join(output_dir, "checkpoints")
        path = tf.train.latest_checkpoint(folder) or (_available(folder) or [None])[-1]
        if not path:
            raise CheckpointError(f"no checkpoint in {folder}: train first (tools/train_net.py "
                                  f"--output {output_dir}) or name one")
        return path
    if os.path.isdir(checkpoint):
        path = tf.train.latest_checkpoint(checkpoint) or (_available(checkpoint) or [None])[-1]
        if not path:
            raise CheckpointError(f"{checkpoint} is a folder without a checkpoint (no ckpt-N.index "
                                  "in it); name a checkpoint such as <output>/checkpoints/ckpt-N")
        return path
    prefix = re.sub(r"\.(index|data-\d{5}-of-\d{5})$", "", checkpoint)
    if not os.path.exists(prefix + ".index"):
        what = ("is not a checkpoint" if os.path.exists(checkpoint) else "does not exist")
        folder = os.path.dirname(prefix) or "."
        near = [os.path.basename(p) for p in _available(folder)]
        # a run folder: its checkpoints/ and best/ (--eval-period) hold them
        inside = [(os.path.join(folder, d), [os.path.basename(p) for p in _available(os.path.join(folder, d))])
                  for d in ("checkpoints", "best")]
        inside = [f"{d} holds {', '.join(names)}" for d, names in inside if names]
        raise CheckpointError(
            f"{checkpoint} {what}: a checkpoint is a prefix such as <output>/checkpoints/ckpt-N "
            f"(files ckpt-N.index and ckpt-N.data-*), or a folder of them; "
            + (f"{folder} holds {', '.join(near)}" if near else
               "; ".join(inside) if inside else f"{folder} holds none"))
    return prefix


def restore(model, path):
    """Restores a built model's weights from checkpoint ``path``.

    Raises CheckpointError if the file cannot be read, if the checkpoint does
    not fit the model (a variable missing or of another shape), or if a
    restored variable holds NaN or inf.
    """
    try:
        status = tf.train.Checkpoint(model=model).restore(path)
        status.expect_partial().assert_existing_objects_matched()
    except tf.errors.OpError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.message.splitlines()[0]}") from None
    except AssertionError as e:
        names = re.findall(r"path=([^,\s]+)", str(e))
        detail = (f"{len(names)} of the model's variables are not in it ({', '.join(names[:3])}"
                  f"{', ...' if len(names) > 3 else ''})" if names else str(e).splitlines()[0][:300])
        raise CheckpointError(f"checkpoint {path} does not fit the model of this config: {detail}. "
                              "Was it written by another run?") from None
    except ValueError as e:  # a variable of another shape
        raise CheckpointError(f"checkpoint {path} does not fit the model of this config: "
                              f"{str(e).splitlines()[0][:300]} Was it written by another run?") from None
    bad = non_finite_variables(model.variables)
    if bad:
        raise CheckpointError(f"checkpoint {path} holds NaN or inf in {len(bad)} variables "
                              f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); use an "
                              "earlier one")


def load_model(output_dir, checkpoint=None, overrides=()):
    """(cfg, model, checkpoint path) from a train_net.py output folder.

    Args:
      output_dir: holds config.yml and checkpoints/.
      checkpoint: see resolve_checkpoint (None: the latest).
      overrides: ["KEY", "VALUE", ...] applied after config.yml (e.g. test
        settings such as TEST.SCALES).
    Raises FileNotFoundError (no config.yml), KeyError / ValueError (a bad
    override) or CheckpointError.
    """
    cfg_path = os.path.join(output_dir, "config.yml")
    if not os.path.isfile(cfg_path):
        raise FileNotFoundError(f"{cfg_path} does not exist: the output folder must be one "
                                "written by tools/train_net.py")
    cfg = get_cfg()
    merge_from_file(cfg, cfg_path)
    merge_from_list(cfg, list(overrides))
    path = resolve_checkpoint(output_dir, checkpoint)
    # the checkpoint holds every weight: MODEL.WEIGHTS (often "imagenet",
    # which would need internet) is not loaded first
    build_cfg = copy.deepcopy(cfg)
    build_cfg.MODEL.WEIGHTS = ""
    model = build_model(build_cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))  # creates the variables
    restore(model, path)
    return cfg, model, path


def read_class_names(output_dir):
    """classes.json of a training folder: a list of strings, the background first."""
    path = os.path.join(output_dir, "classes.json")
    try:
        with open(path) as f:
            names = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: the output folder must be one written by "
                                "tools/train_net.py (it writes classes.json)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) < 2:
        raise ValueError(f"{path} must be a JSON list of class names (background first, then at "
                         "least one class)")
    return names
