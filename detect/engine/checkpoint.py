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
from detect.modeling.build import build_model


class CheckpointError(ValueError):
    """A checkpoint that cannot be found, read or restored into the model."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint that does not fit the model built from the config."""


class NonFiniteError(RuntimeError):
    """A NaN or inf met in training or in a checkpoint; nothing non-finite
    was applied or saved."""


class NonFiniteCheckpointError(CheckpointError, NonFiniteError):
    """The variables to save, or a checkpoint to restore, hold NaN or inf."""


def non_finite_variables(variables):
    """Names of the floating-point variables holding a NaN or an inf."""
    return [getattr(v, "path", v.name) for v in variables
            if tf.as_dtype(v.dtype).is_floating and not bool(tf.reduce_all(tf.math.is_finite(v)))]


def list_checkpoints(folder):
    """Checkpoint prefixes in folder (by their ``.index`` files), oldest
    first: ckpt-10 after ckpt-9. A checkpoint the ``checkpoint`` index still
    names after a user deleted its files is not listed; one copied in is."""
    found = glob.glob(os.path.join(folder, "*.index"))
    return sorted((p[: -len(".index")] for p in found),
                  key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)])


BEST_JSON = "best.json"  # in a run's best/ (--eval-period): which checkpoint is the best


def read_best(folder):
    """The best.json of a best/ folder ({"iteration", "metric", "value",
    "dataset", "checkpoint"}) when it names a checkpoint whose files are
    there; else None."""
    try:
        with open(os.path.join(folder, BEST_JSON)) as f:
            best = json.load(f)
        checkpoint = os.path.join(folder, os.path.basename(best["checkpoint"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not os.path.exists(checkpoint + ".index"):
        return None
    return dict(best, checkpoint=os.path.abspath(checkpoint))


def remove_checkpoints(folder, keep):
    """Removes every checkpoint in folder but ``keep`` (a prefix): data
    files first, the .index last (so that a removal cut short is not listed)."""
    for prefix in list_checkpoints(folder):
        if os.path.abspath(prefix) != os.path.abspath(keep):
            for path in glob.glob(glob.escape(prefix) + ".data-*"):
                os.remove(path)
            os.remove(prefix + ".index")


def restore_checkpoint(checkpoint, path, variables, expect_partial=False, if_non_finite="use an earlier one"):
    """Restores ``checkpoint`` (a tf.train.Checkpoint of a built model, and of
    an optimizer when resuming) from ``path``; then checks ``variables``.
    The one restore of the library: resume, test, demo, export, fine-tuning.

    Raises:
      CheckpointError: the files cannot be read.
      CheckpointMismatchError: a variable missing or of another shape.
      NonFiniteCheckpointError: a restored variable holds NaN or inf (the
        message ends with ``if_non_finite``, what to do).
    """
    mismatch = f"{path} does not fit the model built from this config"
    try:
        status = checkpoint.restore(path)
        (status.expect_partial() if expect_partial else status).assert_existing_objects_matched()
    except tf.errors.OpError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.message.splitlines()[0]}") from None
    except AssertionError as e:
        names = re.findall(r"path=([^,\s]+)", str(e))
        detail = (f"{len(names)} of the model's variables are not in it ({', '.join(names[:3])}"
                  f"{', ...' if len(names) > 3 else ''})" if names else str(e).strip().splitlines()[0][:300])
        raise CheckpointMismatchError(f"{mismatch}: {detail}. Was it written by another run?") from None
    except ValueError as e:  # a variable of another shape
        raise CheckpointMismatchError(f"{mismatch}: {str(e).strip().splitlines()[0][:300]} Was it "
                                      "written by another run?") from None
    bad = non_finite_variables(variables)
    if bad:
        raise NonFiniteCheckpointError(f"{path} holds NaN or inf in {len(bad)} variables "
                                       f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); "
                                       + if_non_finite)


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
        path = (list_checkpoints(folder) or [None])[-1]
        if not path:
            raise CheckpointError(f"no checkpoint in {folder}: train first (tools/train_net.py "
                                  f"--output {output_dir}) or name one")
        return path
    if os.path.isdir(checkpoint):
        best = read_best(checkpoint)  # best/: the checkpoint best.json names
        path = best["checkpoint"] if best else (list_checkpoints(checkpoint) or [None])[-1]
        if not path:
            raise CheckpointError(f"{checkpoint} is a folder without a checkpoint (no ckpt-N.index "
                                  "in it); name a checkpoint such as <output>/checkpoints/ckpt-N")
        return path
    prefix = re.sub(r"\.(index|data-\d{5}-of-\d{5})$", "", checkpoint)
    if not os.path.exists(prefix + ".index"):
        what = ("is not a checkpoint" if os.path.exists(checkpoint) else "does not exist")
        folder = os.path.dirname(prefix) or "."
        near = [os.path.basename(p) for p in list_checkpoints(folder)]
        # a run folder: its checkpoints/ and best/ (--eval-period) hold them
        inside = [(os.path.join(folder, d), [os.path.basename(p) for p in list_checkpoints(os.path.join(folder, d))])
                  for d in ("checkpoints", "best")]
        inside = [f"{d} holds {', '.join(names)}" for d, names in inside if names]
        raise CheckpointError(
            f"{checkpoint} {what}: a checkpoint is a prefix such as <output>/checkpoints/ckpt-N "
            f"(files ckpt-N.index and ckpt-N.data-*), or a folder of them; "
            + (f"{folder} holds {', '.join(near)}" if near else
               "; ".join(inside) if inside else f"{folder} holds none"))
    return prefix


def restore(model, path):
    """Restores a built model's weights from checkpoint ``path`` (a run's
    checkpoint also holds the optimizer's: not restored here).

    Raises CheckpointError (restore_checkpoint).
    """
    restore_checkpoint(tf.train.Checkpoint(model=model), path, model.variables, expect_partial=True)


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
