"""Datasets by path: a user's own folders, with no copying or renaming.

    coco:<annotations.json>:<image dir>   a COCO instances file (as CVAT, Label
                                          Studio or labelme2coco write it) and
                                          the folder its file_name values are in
    voc:<VOC root>[:<split>]              a folder with Annotations/, JPEGImages/
                                          and, for a split, ImageSets/Main/<split>.txt;
                                          no split: every Annotations/*.xml

Relative paths resolve against the working directory. The same specs, under
short names, can live in a YAML file of named datasets (``--datasets-file``
or ``DATASETS.FILE``), where relative paths resolve against the file's
folder::

    pets_train: coco:annotations/train.json:images      # a spec, as --dataset takes
    pets_val:
      format: coco                                      # or voc
      annotations: annotations/val.json
      images: images
    street:
      format: voc
      root: street_voc
      split: test                                       # optional
      metrics: [mr, voc07]                              # optional: the default metrics

Class names come from the files: a COCO file's categories (sorted by id,
whose ids go back out unchanged in results JSON), and for a VOC folder its
classes.txt, else PASCAL VOC's 20 classes when every name is one of them,
else the sorted names found (pascal_voc.voc_folder_classes).
"""
import os
import re

import yaml

from detect.datasets.coco import load_coco
from detect.datasets.pascal_voc import load_voc_folder, voc_folder_classes
from detect.datasets.records import BadInputError
from detect.metric_names import check_metric_names
from detect.utils.atomic import atomic_open

KINDS = ("coco", "voc")
SHOWN = ("coco:<annotations.json>:<image dir>", "voc:<VOC root>[:<split>]")
ENTRY_KEYS = {"coco": {"format", "annotations", "images", "metrics"},
              "voc": {"format", "root", "split", "metrics"}}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_path_spec(name):
    """True for ``coco:...`` and ``voc:...``."""
    return name.split(":", 1)[0] in KINDS and ":" in name


def parse_spec(spec, base_dir=None):
    """{"format", "annotations", "images"} or {"format", "root", "split"} of
    a ``coco:`` / ``voc:`` spec; relative paths joined to base_dir (None:
    the working directory, made absolute). Raises ValueError with the
    forms."""
    kind, _, rest = spec.partition(":")
    parts = rest.split(":")
    if kind == "coco" and len(parts) == 2 and all(parts):
        entry = {"format": "coco", "annotations": parts[0], "images": parts[1]}
    elif kind == "voc" and 1 <= len(parts) <= 2 and all(parts):
        entry = {"format": "voc", "root": parts[0], "split": parts[1] if len(parts) == 2 else None}
    else:
        raise ValueError(f"dataset '{spec}' is not one of {' or '.join(SHOWN)} (paths may not "
                         "hold ':'; name such a dataset in a --datasets-file instead)")
    return absolute(entry, base_dir)


def absolute(entry, base_dir=None):
    """The entry with its paths absolute (against base_dir or the working
    directory)."""
    out = dict(entry)
    for key in ("annotations", "images", "root"):
        if out.get(key):
            path = os.path.expanduser(out[key])
            out[key] = os.path.abspath(os.path.join(base_dir, path) if base_dir else path)
    return out


def absolute_spec(spec):
    """A ``coco:`` / ``voc:`` spec with absolute paths (``+`` and ``_person``
    kept), for a run's config.yml: read again from any working directory.
    Other names are returned as they are."""
    return "+".join((_spec_of(parse_spec(base)) if is_path_spec(base) else base) + suffix
                    for base, suffix in _spec_parts(spec))


def _spec_parts(spec):
    """(part, "_person" or "") of each part of a spec joined with ``+``,
    the suffix split off path specs only (a name may end in it)."""
    for part in spec.split("+"):
        person = part.endswith("_person") and is_path_spec(part)
        yield (part[: -len("_person")], "_person") if person else (part, "")


def _spec_of(entry):
    """The spec string of an entry (its paths as they are)."""
    if entry["format"] == "coco":
        return f"coco:{entry['annotations']}:{entry['images']}"
    return f"voc:{entry['root']}" + (f":{entry['split']}" if entry.get("split") else "")


def label(entry):
    """A short name for messages, output folders and file names:
    coco_[<folder>_]<annotation file stem> or voc_<root folder>[_<split>]."""
    if entry["format"] == "coco":
        stem = os.path.splitext(os.path.basename(entry["annotations"]))[0]
        # the folder the file belongs to (above any annotations/ folder), so
        # that train/_annotations.coco.json and valid/_annotations.coco.json
        # (Roboflow), or CVAT's <split>/annotations/instances_default.json,
        # get different names; left out where it adds nothing (coco*/, or
        # already in the file name: toy/instances_toy_train.json)
        folder = os.path.dirname(entry["annotations"])
        while os.path.basename(folder).lower() in ("annotations", "annotation", "labels") \
                and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)
        parent = os.path.basename(folder)
        redundant = not parent or parent.lower().startswith("coco") or parent.lower() in stem.lower()
        text = "coco_" + (stem if redundant else f"{parent}_{stem}")
    else:
        text = "voc_" + os.path.basename(os.path.normpath(entry["root"])) + (
            f"_{entry['split']}" if entry.get("split") else "")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def read_datasets_file(path):
    """{name: entry (absolute paths)} of a YAML file of named datasets.

    Raises FileNotFoundError or ValueError naming the file and the entry."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"datasets file {path} does not exist")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ValueError(f"datasets file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"datasets file {path} must map dataset names to specs "
                         f"({' or '.join(SHOWN)}) or to mappings with 'format'; see "
                         "detect/datasets/by_path.py")
    base = os.path.dirname(os.path.abspath(path))
    out = {}
    for name, value in data.items():
        where = f"{path}: dataset '{name}'"
        if not isinstance(name, str) or not NAME.fullmatch(name) or name.endswith("_person"):
            raise ValueError(f"{where}: a name is letters, digits, '_', '.', '-' (not ending in "
                             "_person, which selects the person class of any set)")
        if isinstance(value, str):
            try:
                if not is_path_spec(value):
                    raise ValueError(f"'{value}' is not one of {' or '.join(SHOWN)}")
                entry = parse_spec(value, base)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        elif isinstance(value, dict):
            kind = value.get("format")
            if kind not in KINDS:
                raise ValueError(f"{where}: 'format' must be one of {list(KINDS)}, got {kind!r}")
            unknown = set(value) - ENTRY_KEYS[kind]
            need = {"annotations", "images"} if kind == "coco" else {"root"}
            missing = need - set(value)
            if unknown or missing:
                raise ValueError(f"{where}: " + "; ".join(
                    ([f"unknown keys {sorted(unknown)}"] if unknown else [])
                    + ([f"missing keys {sorted(missing)}"] if missing else []))
                    + f" (a {kind} entry has {sorted(ENTRY_KEYS[kind])})")
            for key in sorted(set(value) & {"annotations", "images", "root", "split"}):
                v = value[key]
                if key == "split" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    value = dict(value, split=str(v))  # split: 2007 means the file 2007.txt
                elif not (isinstance(v, str) and v.strip()):
                    raise ValueError(f"{where}: '{key}' must be a non-empty path or name, got {v!r}")
            entry = absolute({k: v for k, v in value.items() if k != "metrics"}, base)
            entry.setdefault("split", None) if kind == "voc" else None
            if "metrics" in value:
                check_metric_names(value["metrics"], where)
                entry["metrics"] = tuple(value["metrics"])
        else:
            raise ValueError(f"{where}: give a spec string or a mapping, got {type(value).__name__}")
        entry["file"] = os.path.abspath(path)
        out[name] = entry
    return out


# characters the spec syntax cannot hold in a path: ':' separates its
# fields, '+' joins datasets
SPEC_SEPARATORS = (":", "+")


def _same_entry(a, b):
    """The same set: equal but for the datasets file an entry was read from."""
    def strip(e):
        return {k: v for k, v in e.items() if k != "file" and v is not None}
    return strip(a) == strip(b)


def _entry_paths(entry):
    return [entry[k] for k in ("annotations", "images", "root") if entry.get(k)]


def pin_datasets(specs, datasets_file, folder):
    """The dataset names of a run made independent of the working directory,
    for its config.yml: (specs with every path spec absolute, the datasets
    file to read them with).

    A path spec whose absolute paths hold ':' or '+' cannot be written as a
    spec; it is stored structured instead, as an entry of
    ``<folder>/datasets.yml`` (with the entries of ``datasets_file``, if
    any), and named by that entry. Without such a path, nothing is written.
    """
    named = read_datasets_file(datasets_file) if datasets_file else {}
    made, out = {}, []
    for spec in specs:
        parts = []
        for base, suffix in _spec_parts(spec) if spec else []:
            if is_path_spec(base) and base not in named:
                entry = parse_spec(base)
                if any(c in p for p in _entry_paths(entry) for c in SPEC_SEPARATORS):
                    same = [n for n, e in named.items() if _same_entry(e, entry)]
                    name = same[0] if same else re.sub(r"[^A-Za-z0-9_.-]", "_", label(entry)).strip("_.-")
                    name = name or "dataset"
                    while not same and (name in named or name.endswith("_person")):
                        name += "_"
                    named[name] = made[name] = entry
                    base = name
                else:
                    base = _spec_of(entry)
            parts.append(base + suffix)
        out.append("+".join(parts))
    if not made:
        return out, datasets_file
    path = os.path.join(folder, "datasets.yml")
    entries = {name: {k: (list(v) if isinstance(v, tuple) else v) for k, v in e.items()
                      if k != "file" and v is not None} for name, e in named.items()}
    with atomic_open(path) as f:
        f.write("# written by train_net.py: datasets of this run whose paths hold ':' or '+'\n")
        yaml.safe_dump(entries, f, sort_keys=False)
    return out, path


def _relative_hint(entry):
    if entry.get("file"):  # an entry of a datasets file
        return (f"relative paths in {entry['file']} resolve against its folder, "
                f"{os.path.dirname(entry['file'])}")
    return f"relative paths resolve against the working directory, {os.getcwd()}"


def _found_near(images, relative):
    """The folder one level below or above ``images`` that holds
    ``relative`` (the first image's file_name), or None."""
    if not os.path.isdir(images):
        return None
    candidates = [os.path.join(images, d) for d in sorted(os.listdir(images))
                  if os.path.isdir(os.path.join(images, d))] + [os.path.dirname(images)]
    return next((c for c in candidates if os.path.isfile(os.path.join(c, relative))), None)


def load_entry(entry, name, strict=False, check_images=True):
    """The Dataset of one entry (read_datasets_file / parse_spec), named
    ``name``. Every missing path, empty split and unreadable file raises
    FileNotFoundError or BadInputError naming the path and what to do."""
    if entry["format"] == "coco":
        ann, images = entry["annotations"], entry["images"]
        if not os.path.isfile(ann):
            raise FileNotFoundError(
                f"{name}: annotation file {ann} " + ("is a folder; name the .json file in it"
                                                     if os.path.isdir(ann) else "does not exist")
                + f" ({_relative_hint(entry)})")
        if check_images and not os.path.isdir(images):
            raise FileNotFoundError(f"{name}: image folder {images} does not exist "
                                    f"({_relative_hint(entry)})")
        # images checked here, not by the reader: a wrong image folder is one
        # message, not a warning per image
        dataset = load_coco(ann, images, name, strict=strict, check_images=False)
        if check_images:
            found = [os.path.exists(r["file_name"]) for r in dataset.records]
            if dataset.records and not any(found):
                first = dataset.records[0]["file_name"]
                there = _found_near(images, os.path.relpath(first, images))
                raise BadInputError(
                    f"{name}: none of the {len(found)} images {ann} lists is under {images} "
                    f"(first: {first}): the image folder must be the one the file's 'file_name' "
                    "values are relative to"
                    + (f"; they are under {there}: pass coco:{ann}:{there}" if there else ""))
            for r, ok in zip(dataset.records, found):
                if not ok:
                    dataset.skips.skip(r["file_name"], "missing image file")
            dataset.records = [r for r, ok in zip(dataset.records, found) if ok]
        if not dataset.records:
            raise BadInputError(f"{name}: {ann} lists no usable image ({dataset.skips.summary()})")
        return dataset
    root = entry["root"]
    for sub in ("Annotations", "JPEGImages"):
        if not os.path.isdir(os.path.join(root, sub)):
            raise FileNotFoundError(
                f"{name}: {os.path.join(root, sub)} does not exist: a VOC root holds Annotations/ "
                f"(<id>.xml), JPEGImages/ (<id>.jpg) and, for splits, ImageSets/Main/<split>.txt "
                f"({_relative_hint(entry)})")
    dataset = load_voc_folder(root, entry.get("split"), voc_folder_classes(root), name,
                              strict=strict, check_images=check_images)
    if not dataset.records:
        raise BadInputError(f"{name}: no usable image in {root}"
                            + (f" split {entry['split']}" if entry.get("split") else "")
                            + f" ({dataset.skips.summary()})")
    return dataset
