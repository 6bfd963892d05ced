"""From a dataset and a results list to the metrics' figures and printed tables.

Metrics: voc07 (VOC2007 11-point AP), voc (VOC2010+ area AP), coco (box AP
through pycocotools), coco_segm (mask AP; needs "segmentation" in the
results), mr (pedestrian log-average miss rate MR^-2). The default for a
dataset name follows its layout (detect/datasets/factory.py, dataset_layout):
VOC-layout sets voc07, COCO sets coco, pedestrian sets (citypersons_*,
*_person) mr and then the base set's AP; a datasets file entry's own
``metrics:`` list comes first.

Before any metric every detection is checked (validation.py); what was
dropped is counted in the report and in the figures ("dropped_detections").
An evaluation without images, or with detections none of which is valid,
raises ValueError; so does a metric without any ground truth to measure
against (the evaluators say which).
"""
import collections
import math

from detect.datasets.factory import dataset_layout
from detect.evaluation.coco_eval import evaluate_coco
from detect.evaluation.miss_rate import evaluate_miss_rate
from detect.evaluation.results import category_to_class
from detect.evaluation.validation import validate_results
from detect.evaluation.voc_eval import evaluate_voc
from detect.metric_names import METRICS

PERSON_CLASSES = ("person", "pedestrian")
# the metrics of each dataset layout (dataset_layout's format)
LAYOUT_METRICS = {"voc": ("voc07",), "coco": ("coco",), "citypersons": ("mr", "voc07")}

__all__ = ["METRICS", "default_metrics", "evaluate", "table"]


def table(title, rows, value_name):
    """A titled two-column text table of (name, value) rows."""
    width = max([len(r[0]) for r in rows] + [5])
    lines = [title, f"  {'class':<{width}}  {value_name:>8}"]
    lines += [f"  {name:<{width}}  {value:8.4f}" for name, value in rows]
    return "\n".join(lines)


def default_metrics(name, datasets_file=None):
    """The metric names ``tools/test_net.py`` and ``tools/reval.py`` report
    for the dataset ``name`` (detect.datasets.get_dataset's names): its
    datasets file entry's ``metrics:``, else its layout's; for a pedestrian
    set (``_person``), MR^-2 first and then the layout's AP metric."""
    layout = dataset_layout(name, datasets_file)
    metrics = layout.metrics or LAYOUT_METRICS[layout.format]
    if layout.person:
        return ["mr"] + [x for x in metrics if x != "mr"][:1]
    return list(metrics)


def _person_class(dataset):
    for name in PERSON_CLASSES:
        if name in dataset.class_names:
            return dataset.class_names.index(name)
    raise ValueError(f"metric mr needs a person class; {dataset.name} has "
                     f"{list(dataset.class_names[1:])}. Use a pedestrian set "
                     "(citypersons_<split>, <name>_person) or another --metric")


def evaluate(dataset, results, metrics):
    """{metric: result dict} (plus "dropped_detections" when some were), and
    the printed report.

    Args:
      dataset: a Dataset (detect.datasets.get_dataset).
      results: detections in COCO results format (results.py), unchecked.
      metrics: names from METRICS.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown}; choose from {METRICS}")
    if not dataset.records:
        raise ValueError(f"{dataset.name} has no images to evaluate "
                         f"(reading it: {dataset.skips.summary()})")
    counts = collections.Counter(r["image_id"] for r in dataset.records)
    if len(counts) < len(dataset.records):
        twice = sorted(str(i) for i, n in counts.items() if n > 1)
        raise ValueError(f"{dataset.name}: {len(twice)} image ids occur more than once ({', '.join(twice[:3])}"
                         f"{', ...' if len(twice) > 3 else ''}), as when sets joined with '+' number "
                         "their images alike; detections are matched by image id, so AP would mix the "
                         "images. Evaluate each set on its own")
    valid, dropped = validate_results(dataset, results)
    if results and not valid:
        raise ValueError(f"no valid detection to evaluate on {dataset.name}: "
                         f"{dropped.summary(len(results))}")
    out, report = {}, []
    if dropped.total:
        report.append(dropped.summary(len(results)))
        out["dropped_detections"] = dict(dropped.counts)
    mapping = category_to_class(dataset)
    for metric in metrics:
        if metric in ("voc07", "voc"):
            r = evaluate_voc(dataset, valid, use_07_metric=metric == "voc07",
                             category_to_class=mapping)
            report.append(table(f"{r['metric']} AP (IoU > 0.5)", list(r["AP"].items())
                                + [("mAP", r["mAP"])], "AP"))
        elif metric in ("coco", "coco_segm"):
            r = evaluate_coco(dataset, valid, "segm" if metric == "coco_segm" else "bbox")
            report.append(r["summary"].rstrip())
            report.append(table(f"COCO {'mask' if metric == 'coco_segm' else 'box'} AP per class",
                                [(k, v) for k, v in r["AP"].items() if not math.isnan(v)], "AP"))
            r = {k: v for k, v in r.items() if k != "summary"}
        else:
            r = evaluate_miss_rate(dataset, valid, class_id=_person_class(dataset),
                                   category_to_class=mapping)
            report.append(table("log-average miss rate MR^-2 (lower is better; nan: no "
                                "ground truth in that setup)", list(r.items()), "MR^-2"))
        out[metric] = r
    return out, "\n\n".join(report)
