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
"""
import os
import re

import numpy as np

from detect.datasets.coco import load_coco
from detect.datasets.dataset import Dataset
from detect.datasets.pascal_voc import load_voc
from detect.datasets.records import select
from detect.datasets.toy import TOY_CLASSES, VOC_DIR

PATTERNS = (
    "voc_<year>_<split>", "coco_<2014|2017>_<split>", "citypersons_<split>",
    "toy_<train|test>", "toy_coco_<train|test>", "<any of these>_person", "<name>+<name>",
)


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


def _one(name, data_dir, strict):
    person = name.endswith("_person")
    base = name[: -len("_person")] if person else name
    if m := re.fullmatch(r"voc_(\d{4})_(\w+)", base):
        ds = load_voc(data_dir, m.group(1), m.group(2), strict=strict)
    elif m := re.fullmatch(r"coco_(2014|2017)_(\w+)", base):
        year, split = m.groups()
        ds = load_coco(os.path.join(data_dir, "coco", "annotations", f"instances_{split}{year}.json"),
                       os.path.join(data_dir, "coco", f"{split}{year}"), base, strict=strict)
    elif m := re.fullmatch(r"citypersons_(\w+)", base):
        ds = load_coco(os.path.join(data_dir, "citypersons", "annotations",
                                    f"citypersons_{m.group(1)}.json"),
                       os.path.join(data_dir, "citypersons", "images", m.group(1)), base,
                       strict=strict)
    elif m := re.fullmatch(r"toy_coco_(train|test)", base):
        toy = os.path.join(data_dir, "toy")
        ds = load_coco(os.path.join(toy, "annotations", f"instances_toy_{m.group(1)}.json"),
                       os.path.join(toy, VOC_DIR, "JPEGImages"), base, strict=strict)
    elif m := re.fullmatch(r"toy_(train|test)", base):
        ds = load_voc(os.path.join(data_dir, "toy"), "toy", m.group(1), TOY_CLASSES, strict=strict)
        ds.name = base
    else:
        raise ValueError(f"unknown dataset '{name}'. Known patterns: {', '.join(PATTERNS)}")
    if person:
        ds = filter_classes(ds, ["person"])
        ds.name = name
    return ds


def get_dataset(name, data_dir="data", strict=False):
    """The dataset called ``name`` (see the module docstring), read from data_dir."""
    parts = [p for p in name.split("+") if p]
    if not parts:
        raise ValueError("empty dataset name")
    dataset = _one(parts[0], data_dir, strict)
    for part in parts[1:]:
        dataset = dataset + _one(part, data_dir, strict)
    return dataset
