"""Datasets by name, as py-faster-rcnn users know them.

    voc_<year>_<split>       <data>/VOCdevkit/VOC<year>, any split file in
                             ImageSets/Main (voc_2007_trainval, voc_2007_test)
    coco_<year>_<split>      <data>/coco/annotations/instances_<split><year>.json,
                             images in <data>/coco/<split><year>/ (2014, 2017)
    citypersons_<split>      <data>/citypersons/annotations/citypersons_<split>.json,
                             images in <data>/citypersons/images/<split>/
    toy_<split>              the built-in toy set, VOC layout, in <data>/toy
    toy_coco_<split>         the same images as COCO JSON with masks
Beside these names, a user's own data by path (by_path.py):
    coco:<annotations.json>:<image dir>
    voc:<VOC root>[:<split>]
and the names of a YAML file of named datasets (``datasets_file``:
--datasets-file or DATASETS.FILE), which are looked up first.
A ``_person`` suffix keeps only the person class (remapped to id 1), for
pedestrian training on VOC or COCO; names joined with ``+`` are concatenated.
Each name resolves through ``DATASETS``, one row per kind: the pattern, the
reader and the layout (voc, coco or citypersons), from which
detect/evaluation/dispatch.py chooses the metrics ``tools/reval.py`` and
``tools/test_net.py`` report by default (``dataset_layout``).
"""
import dataclasses
import os
import re
from typing import Callable, Optional, Tuple

import numpy as np

from detect.datasets import by_path
from detect.datasets.citypersons import load_citypersons
from detect.datasets.coco import load_coco
from detect.datasets.dataset import Dataset
from detect.datasets.pascal_voc import load_voc
from detect.datasets.records import select
from detect.datasets.toy import TOY_CLASSES, VOC_DIR


@dataclasses.dataclass(frozen=True)
class DatasetKind:
    """One row of the table.

    pattern: a regex the whole name (without ``_person``) must match.
    read: (match, data_dir, strict, check_images) -> Dataset.
    layout: "voc", "coco" or "citypersons": how the set is annotated.
    shown: the pattern as the error message and README show it.
    """

    pattern: str
    read: Callable
    layout: str
    shown: str


def _voc(m, data_dir, strict, check_images):
    return load_voc(data_dir, m.group(1), m.group(2), strict=strict, check_images=check_images)


def _coco(m, data_dir, strict, check_images):
    year, split = m.groups()
    return load_coco(os.path.join(data_dir, "coco", "annotations", f"instances_{split}{year}.json"),
                     os.path.join(data_dir, "coco", f"{split}{year}"), m.group(0), strict=strict,
                     check_images=check_images)


def _citypersons(m, data_dir, strict, check_images):
    root = os.path.join(data_dir, "citypersons")
    return load_citypersons(os.path.join(root, "annotations", f"citypersons_{m.group(1)}.json"),
                            os.path.join(root, "images", m.group(1)), m.group(0), strict=strict,
                            check_images=check_images)


def _toy_coco(m, data_dir, strict, check_images):
    toy = os.path.join(data_dir, "toy")
    return load_coco(os.path.join(toy, "annotations", f"instances_toy_{m.group(1)}.json"),
                     os.path.join(toy, VOC_DIR, "JPEGImages"), m.group(0), strict=strict,
                     check_images=check_images)


def _toy(m, data_dir, strict, check_images):
    ds = load_voc(os.path.join(data_dir, "toy"), "toy", m.group(1), TOY_CLASSES, strict=strict,
                  check_images=check_images)
    ds.name = m.group(0)
    return ds


DATASETS = (  # the first row whose pattern matches wins
    DatasetKind(r"voc_(\d{4})_(\w+)", _voc, "voc", "voc_<year>_<split>"),
    DatasetKind(r"coco_(2014|2017)_(\w+)", _coco, "coco", "coco_<2014|2017>_<split>"),
    DatasetKind(r"citypersons_(\w+)", _citypersons, "citypersons", "citypersons_<split>"),
    DatasetKind(r"toy_coco_(train|test)", _toy_coco, "coco", "toy_coco_<train|test>"),
    DatasetKind(r"toy_(train|test)", _toy, "voc", "toy_<train|test>"),
)
PERSON_SUFFIX = "_person"  # the person class only: a pedestrian set
PATTERNS = (tuple(k.shown for k in DATASETS) + by_path.SHOWN
            + ("<a name of --datasets-file>", "<any of these>_person", "<name>+<name>"))


def filter_classes(dataset, keep_names):
    """Only objects of ``keep_names`` (remapped to 1..K); images are kept.

    Crowd regions of other classes are dropped too: they are not regions of
    the kept classes.
    """
    missing = [n for n in keep_names if n not in dataset.class_names]
    if missing:
        raise ValueError(f"{dataset.name} has no class {missing}; it has {dataset.class_names[1:]}")
    old_ids = np.array([dataset.class_names.index(n) for n in keep_names])
    remap = np.zeros(len(dataset.class_names), np.int32)
    remap[old_ids] = np.arange(1, len(old_ids) + 1)
    records = []
    for r in dataset.records:
        out = select(r, np.isin(r["classes"], old_ids))
        out["classes"] = remap[out["classes"]]
        records.append(out)
    category_ids = None
    if dataset.category_ids:
        category_ids = {int(remap[k]): v for k, v in dataset.category_ids.items() if remap[k]}
    return Dataset(dataset.name, ("__background__",) + tuple(keep_names), records, dataset.skips,
                   coco_json=dataset.coco_json, category_ids=category_ids)


def _kind(name):
    """(DatasetKind, match, person) for one name of the table (no ``+``)."""
    person = name.endswith(PERSON_SUFFIX)
    base = name[: -len(PERSON_SUFFIX)] if person else name
    for kind in DATASETS:
        if m := re.fullmatch(kind.pattern, base):
            return kind, m, person
    raise ValueError(f"unknown dataset '{name}'. Known patterns: {', '.join(PATTERNS)}")


def _entry(name, datasets_file=None):
    """(by_path entry, person) for a name of the datasets file or a path
    spec; None for a name of the table. ``_person`` stays part of a path
    spec whose last path ends with it and exists (a folder named so)."""
    named = by_path.read_datasets_file(datasets_file) if datasets_file else {}
    person = name.endswith(PERSON_SUFFIX)
    base = name[: -len(PERSON_SUFFIX)] if person else name
    if base in named:
        return named[base], person
    if name in named:
        return named[name], False
    if by_path.is_path_spec(name):
        if person:  # a folder or split that is named so, and exists, keeps its name
            entry = by_path.parse_spec(name)
            last = entry.get("images") or entry["root"]
            if entry.get("split"):
                last = os.path.join(entry["root"], "ImageSets", "Main", entry["split"] + ".txt")
            if os.path.exists(last):
                return entry, False
        return by_path.parse_spec(base), person
    return None


def _one(name, data_dir, strict, check_images, datasets_file=None):
    found = _entry(name, datasets_file)
    if found:
        entry, person = found
        ds = by_path.load_entry(entry, dataset_label(name, datasets_file), strict, check_images)
    else:
        kind, m, person = _kind(name)
        ds = kind.read(m, data_dir, strict, check_images)
    if person:
        ds = filter_classes(ds, ["person"])
        ds.name = dataset_label(name, datasets_file)
    return ds


def dataset_label(name, datasets_file=None):
    """The name for messages, output folders and file names: path specs
    shortened (by_path.label), every other name as it is."""
    out = []
    for part in _parts(name):
        if by_path.is_path_spec(part):
            entry, person = _entry(part)
            part = by_path.label(entry) + (PERSON_SUFFIX if person else "")
        out.append(part)
    return "+".join(out)


def _parts(name):
    parts = [p for p in name.split("+") if p]
    if not parts:
        raise ValueError("no dataset named: give a name, coco:<annotations.json>:<image dir> or "
                         "voc:<VOC root>[:<split>]")
    if len(parts) > 1 and by_path.is_path_spec(name):
        # a piece that is neither a spec nor a name: a path cut at its '+'
        cut = [p for p in parts if ("/" in p or os.sep in p) and not by_path.is_path_spec(p)]
        if cut:
            raise ValueError(f"dataset '{name}': '+' joins datasets, so '{cut[0]}' was read as one; "
                             "a path that holds '+' (or ':') cannot be written in a spec: name it in "
                             "a --datasets-file (format, annotations, images / root, split)")
    return parts


def get_dataset(name, data_dir="data", strict=False, check_images=True, datasets_file=None):
    """The dataset called ``name`` (see the module docstring), read from data_dir.

    check_images=False keeps images whose file is missing (evaluation of a
    results file needs only the annotations); training and inference keep
    the default, which skips and counts them. datasets_file: a YAML file of
    named datasets (by_path.py), looked up before the table.
    """
    parts = _parts(name)
    dataset = _one(parts[0], data_dir, strict, check_images, datasets_file)
    for part in parts[1:]:
        dataset = dataset + _one(part, data_dir, strict, check_images, datasets_file)
    return dataset


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a dataset name says of its annotations, for choosing metrics.

    format: "voc", "coco" or "citypersons" (of the name's first part when
      joined with ``+``).
    person: True when any part keeps only the person class (``_person``).
    metrics: a datasets file entry's own ``metrics:`` list, else None.
    """

    format: str
    person: bool
    metrics: Optional[Tuple[str, ...]] = None


def dataset_layout(name, datasets_file=None):
    """The Layout of ``name`` (see the module docstring); ValueError for an
    unknown name."""
    parts = _parts(name)
    found = _entry(parts[0], datasets_file)
    if found:
        entry, _ = found
        form, metrics = entry["format"], entry.get("metrics")
    else:
        form, metrics = _kind(parts[0])[0].layout, None
    person = any((_entry(p, datasets_file) or _kind(p)[::2])[-1] for p in parts)
    return Layout(form, person, metrics)
