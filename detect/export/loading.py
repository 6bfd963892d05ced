"""Loads an export written by tools/export_model.py: the op library first,
then the SavedModel.

    import detect
    model = detect.load_exported("exports/toy")
    out = model.signatures["serving_default"](images=uint8_image[None])
    out = model.signatures["serve_encoded"](encoded=tf.constant(jpeg_bytes))
    model.class_names, model.config                # classes.json, config.yml

The graph names our ops (DetectRoiPool, DetectPsRoiPool, DetectRoiAlign), so
TensorFlow can only rebuild it in a process that has loaded detect/ops'
library; a bare ``tf.saved_model.load`` fails with
``RuntimeError: Op type not registered 'DetectRoiAlign' in binary running on
...``. ``import detect.ops`` before it is the one-line fix; this function
does that and checks the folder first.
"""
import json
import os

import tensorflow as tf
import yaml

import detect.ops  # noqa: F401  registers the ops the SavedModel's graph names
from detect.export.saved_model import ASSETS, SIGNATURES


class ExportLoadError(ValueError):
    """A path that is not a loadable export; the message says what to pass."""


def check_export_dir(path):
    """Raises ExportLoadError unless ``path`` is a folder with a SavedModel in it.

    A TF Serving model base folder (numbered version folders) gets a message
    naming its newest version.
    """
    if not os.path.exists(path):
        raise ExportLoadError(f"{path} does not exist: pass the --export-dir of "
                              "tools/export_model.py")
    if not os.path.isdir(path):
        raise ExportLoadError(f"{path} is a file; pass the export's folder (the one holding "
                              "saved_model.pb)")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return
    versions = sorted((d for d in os.listdir(path) if d.isdigit()
                       and os.path.isfile(os.path.join(path, d, "saved_model.pb"))), key=int)
    if versions:
        raise ExportLoadError(f"{path} holds versions {', '.join(versions)} of a model (TF Serving's "
                              f"layout); pass one of them, e.g. {os.path.join(path, versions[-1])}")
    raise ExportLoadError(f"{path} has no saved_model.pb: it is not an export; write one with "
                          "tools/export_model.py --output <training dir> --export-dir <dir>")


def load_exported(path):
    """The SavedModel at ``path``, loaded after detect's op library.

    Returns the loaded object: ``.signatures["serving_default"]`` and
    ``["serve_encoded"]`` (detect/export/saved_model.py gives their inputs
    and outputs), the same functions as ``.serve(images)`` and
    ``.serve_encoded(encoded)``, and ``.class_names`` (list of str, the
    background first), ``.config`` (the training config as a dict),
    ``.export_dir`` (the absolute path).

    Raises ExportLoadError: the path is not an export, or the export needs
    an op or signature this version of detect does not have.
    """
    check_export_dir(path)
    try:
        loaded = tf.saved_model.load(path)
    except RuntimeError as e:
        if "Op type not registered" not in str(e):
            raise
        raise ExportLoadError(f"{path} uses an op this build of detect does not have "
                              f"({str(e).splitlines()[0][:200]}); load it with the detect "
                              "version that exported it, or re-export it with this one") from None
    missing = [name for name in SIGNATURES if name not in loaded.signatures]
    if missing:
        raise ExportLoadError(f"{path} is a SavedModel without the signature(s) {', '.join(missing)}: "
                              "it was not written by tools/export_model.py")
    assets = os.path.join(path, "assets")
    try:
        with open(os.path.join(assets, ASSETS[1])) as f:
            loaded.class_names = json.load(f)
        with open(os.path.join(assets, ASSETS[0])) as f:
            loaded.config = yaml.safe_load(f)
    except OSError as e:
        raise ExportLoadError(f"{path}: cannot read the export's {e.filename} ({e.strerror}); "
                              "re-export it with tools/export_model.py") from None
    loaded.export_dir = os.path.abspath(path)
    return loaded
