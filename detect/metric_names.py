"""The names of the evaluation metrics, below both the data layer and the
evaluation layer: a datasets file's ``metrics:`` list is checked against them
when the file is read (detect/datasets/by_path.py), so that a typo is said
before training, and detect/evaluation/dispatch.py computes them.

    voc07      VOC2007 11-point AP          voc        VOC2010+ area AP
    coco       box AP (pycocotools)         coco_segm  mask AP
    mr         pedestrian log-average miss rate MR^-2
"""
METRICS = ("voc07", "voc", "coco", "coco_segm", "mr")


def check_metric_names(names, where):
    """Raises ValueError, naming ``where``, unless ``names`` is a non-empty
    list of names from METRICS."""
    if not (isinstance(names, list) and names and all(isinstance(m, str) for m in names)):
        raise ValueError(f"{where}: 'metrics' must be a list of metric names")
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"{where}: unknown metrics {unknown}; choose from {list(METRICS)}")
