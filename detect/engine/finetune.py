"""Starting a training run from a trained detector with other classes.

    report = load_pretrained(model, "output/tv_maskrcnn", dataset.class_names)

``source`` is a run folder (train_net.py's, or tools/import_weights.py's)
or a model zoo weights file, whose architecture is recognized by its tensor
names (detect.weights.zoo.ARCHITECTURES). Every variable of ``model`` whose path and shape
match the pretrained model's is copied (backbone, FPN, RPN, box and mask
heads). The class-specific predictors (class scores, per-class box deltas,
per-class mask maps) keep the rows of the classes whose names the two share
("person", "car"; "pedestrian" is "person") and the background's; the rows
of new classes keep their fresh initialization. The report says which.
"""
import dataclasses
import os
from typing import List, Optional

import numpy as np

from detect.engine.checkpoint import load_model, read_class_names
from detect.weights.coco_classes import canonical_class
from detect.weights.read import read_state_dict
from detect.weights.torch_zip import WeightsFileError
from detect.weights.zoo import identify_architecture

# variable path suffix -> (axis of the class dimension, values per class)
CLASS_SPECIFIC = {"roi_heads/cls_score/kernel": (1, 1), "roi_heads/cls_score/bias": (0, 1),
                  "roi_heads/bbox_pred/kernel": (1, 4), "roi_heads/bbox_pred/bias": (0, 4),
                  "mask_head/predictor/kernel": (3, 1), "mask_head/predictor/bias": (0, 1)}
# other layers with a slice per class, whose rows are not remapped: left
# fresh when the classes differ (R-FCN's position-sensitive class maps)
PER_CLASS_MAPS = ("rfcn_cls/",)


def _fits_but_classes(old_shape, new_shape, axis):
    """Shapes equal on every axis but the class axis."""
    return len(old_shape) == len(new_shape) and all(
        a == b for i, (a, b) in enumerate(zip(old_shape, new_shape)) if i != axis)


@dataclasses.dataclass
class PretrainedReport:
    source: str
    copied: int = 0
    kept_classes: List[str] = dataclasses.field(default_factory=list)
    new_classes: List[str] = dataclasses.field(default_factory=list)
    fresh: List[str] = dataclasses.field(default_factory=list)  # variables left as initialized

    def lines(self):
        out = [f"pretrained: {self.copied} variables from {self.source}"]
        if self.kept_classes or self.new_classes:
            out.append(f"  predictor rows kept for {len(self.kept_classes)} classes of the same name"
                       + (f": {', '.join(self.kept_classes[:10])}" if self.kept_classes else "")
                       + ("..." if len(self.kept_classes) > 10 else ""))
            out.append(f"  new classes (fresh rows): {', '.join(self.new_classes[:10]) or 'none'}"
                       + ("..." if len(self.new_classes) > 10 else ""))
        if self.fresh:
            out.append(f"  {len(self.fresh)} variables without a pretrained value: "
                       f"{', '.join(self.fresh[:6])}{', ...' if len(self.fresh) > 6 else ''}")
        return out


def _is_run(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.yml"))


@dataclasses.dataclass
class Pretrained:
    """A whole pretrained detector: a run folder (path only; its model is
    restored when loaded), or a zoo file already read and mapped to our
    variable paths (values, class_names)."""
    path: str
    values: Optional[dict] = None
    class_names: Optional[List[str]] = None


def find_pretrained(weights):
    """A Pretrained for MODEL.WEIGHTS naming a whole detector (a run folder,
    or a file of a zoo architecture, read once here); None for anything
    else (a backbone's weights, which the backbone reads)."""
    if _is_run(weights):
        return Pretrained(weights)
    if not os.path.isfile(weights) or weights.endswith((".h5", ".keras", ".npy")):
        return None
    try:
        found = identify_architecture(read_state_dict(weights), weights)
    except WeightsFileError:
        return None
    if found is None:
        return None
    arch, values = found
    return Pretrained(weights, values, list(arch.class_names))


def _values_and_names(pretrained):
    """(values by our variable path, class names) of a Pretrained or a path."""
    if not isinstance(pretrained, Pretrained):
        path = pretrained
        if not os.path.exists(path):
            raise FileNotFoundError(f"--weights {path} is neither a run folder (config.yml, "
                                    "checkpoints/) nor a weights file")
        pretrained = find_pretrained(path)
        if pretrained is None:
            raise WeightsFileError(f"{path} is no run folder and no architecture of "
                                   "tools/import_weights.py --list")
    if pretrained.values is not None:
        return pretrained.values, pretrained.class_names
    _, model, _ = load_model(pretrained.path)
    return {v.path: v.numpy() for v in model.variables}, read_class_names(pretrained.path)


def _class_rows(old_names, new_names):
    """{new class id: old class id} by name, the background 0 -> 0."""
    index = {canonical_class(n): i for i, n in enumerate(old_names) if i > 0}
    rows = {0: 0}
    for i, n in enumerate(new_names):
        if i > 0 and canonical_class(n) in index:
            rows[i] = index[canonical_class(n)]
    return rows


def _merge_classes(fresh, old, axis, per_class, rows):
    """fresh's class slices replaced by old's for the classes in ``rows``."""
    out = np.array(fresh, copy=True)
    for new, src in rows.items():
        dst = [slice(None)] * out.ndim
        take = [slice(None)] * old.ndim
        dst[axis] = slice(new * per_class, (new + 1) * per_class)
        take[axis] = slice(src * per_class, (src + 1) * per_class)
        out[tuple(dst)] = old[tuple(take)]
    return out


def load_pretrained(model, pretrained, class_names):
    """Copies a pretrained detector (a Pretrained, or a run folder / zoo file
    path) into a built ``model`` (see the module docstring). class_names:
    the new model's classes, background first. Returns a PretrainedReport."""
    values, old_names = _values_and_names(pretrained)
    source = pretrained.path if isinstance(pretrained, Pretrained) else pretrained
    rows = _class_rows(old_names, class_names)
    report = PretrainedReport(source)
    report.kept_classes = [class_names[i] for i in sorted(rows) if i > 0]
    report.new_classes = [n for i, n in enumerate(class_names) if i > 0 and i not in rows]
    for v in model.variables:
        old = values.get(v.path)
        if old is None:
            report.fresh.append(v.path)
            continue
        same_classes = list(old_names) == list(class_names)
        if tuple(old.shape) == tuple(v.shape) and same_classes:
            v.assign(old)
        elif v.path in CLASS_SPECIFIC and _fits_but_classes(old.shape, v.shape, CLASS_SPECIFIC[v.path][0]):
            axis, per_class = CLASS_SPECIFIC[v.path]
            v.assign(_merge_classes(v.numpy(), old, axis, per_class, rows))
        elif tuple(old.shape) == tuple(v.shape) and v.path not in CLASS_SPECIFIC \
                and not any(s in v.path for s in PER_CLASS_MAPS):
            v.assign(old)
        else:
            report.fresh.append(v.path)
            continue
        report.copied += 1
    if not report.copied:
        raise WeightsFileError(f"no variable of this model is in {source}: another architecture? "
                               "Train with the config the pretrained model was made with "
                               "(its config.yml, or experiments/cfgs/zoo/)")
    return report
