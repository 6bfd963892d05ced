"""Datasets by name, as py-faster-rcnn users know them.

    voc_<year>_<split>       <data>/VOCdevkit/VOC<year>, any split file in
                             ImageSets/Main (voc_2007_trainval, voc_2007_test)
    coco_<year>_<split>      <data>/coco/annotations/instances_<split><year>.json,
                             images in <data>/coco/<split><year>/ (2014, 2017)
    citypersons_<split>      <data>/citypersons/annotations/citypersons_<split>.json,
                             images in <data>/citypersons/images/<split>/
    toy_<split>              the built-in toy set, VOC layout, in <data>/toy
    toy_coco_<split>         the same images as COCO JSON with masks
A ``_person`` suffix keeps only the person class (remapped to id 1), for
pedestrian training on VOC or COCO; names joined with ``+`` are concatenated.
Each name resolves through ``DATASETS``, one row per kind: the pattern, the
reader and the metrics ``tools/reval.py`` and ``tools/test_net.py`` report
by default.
"""
import dataclasses
import os
import re
from typing import Callable, Tuple

import numpy as np

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
    metrics: default metric names (detect/evaluation/dispatch.py).
    shown: the pattern as the error message and README show it.
    """

    pattern: str
    read: Callable
    metrics: Tuple[str, ...]
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
    DatasetKind(r"voc_(\d{4})_(\w+)", _voc, ("voc07",), "voc_<year>_<split>"),
    DatasetKind(r"coco_(2014|2017)_(\w+)", _coco, ("coco",), "coco_<2014|2017>_<split>"),
    DatasetKind(r"citypersons_(\w+)", _citypersons, ("mr", "voc07"), "citypersons_<split>"),
    DatasetKind(r"toy_coco_(train|test)", _toy_coco, ("coco",), "toy_coco_<train|test>"),
    DatasetKind(r"toy_(train|test)", _toy, ("voc07",), "toy_<train|test>"),
)
PERSON_SUFFIX = "_person"  # pedestrian metrics: MR^-2, then the base set's AP
PATTERNS = tuple(k.shown for k in DATASETS) + ("<any of these>_person", "<name>+<name>")


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
    """(DatasetKind, match, person) for one name (no ``+``)."""
    person = name.endswith(PERSON_SUFFIX)
    base = name[: -len(PERSON_SUFFIX)] if person else name
    for kind in DATASETS:
        if m := re.fullmatch(kind.pattern, base):
            return kind, m, person
    raise ValueError(f"unknown dataset '{name}'. Known patterns: {', '.join(PATTERNS)}")


def _one(name, data_dir, strict, check_images):
    kind, m, person = _kind(name)
    ds = kind.read(m, data_dir, strict, check_images)
    if person:
        ds = filter_classes(ds, ["person"])
        ds.name = name
    return ds


def _parts(name):
    parts = [p for p in name.split("+") if p]
    if not parts:
        raise ValueError("empty dataset name")
    return parts


def get_dataset(name, data_dir="data", strict=False, check_images=True):
    """The dataset called ``name`` (see the module docstring), read from data_dir.

    check_images=False keeps images whose file is missing (evaluation of a
    results file needs only the annotations); training and inference keep
    the default, which skips and counts them.
    """
    parts = _parts(name)
    dataset = _one(parts[0], data_dir, strict, check_images)
    for part in parts[1:]:
        dataset = dataset + _one(part, data_dir, strict, check_images)
    return dataset


def default_metrics(name):
    """The metrics of the table's row for ``name`` (its first part if joined);
    with ``_person``, MR^-2 and then the row's AP metric."""
    kinds = [_kind(p) for p in _parts(name)]
    kind = kinds[0][0]
    if any(person for _, _, person in kinds):
        return ["mr"] + [x for x in kind.metrics if x != "mr"][:1]
    return list(kind.metrics)
