"""VOC AP, COCO AP (pycocotools) and pedestrian MR^-2 on COCO-format results,
and the dispatch from a dataset to its metrics (``evaluate``)."""
from detect.evaluation.coco_eval import evaluate_coco
from detect.evaluation.dispatch import METRICS, default_metrics, evaluate
from detect.evaluation.miss_rate import evaluate_miss_rate
from detect.evaluation.results import json_ready, load_results, save_results
from detect.evaluation.validation import validate_results
from detect.evaluation.voc_eval import evaluate_voc, voc_ap

__all__ = ["evaluate", "METRICS", "default_metrics", "validate_results", "evaluate_voc", "voc_ap",
           "evaluate_coco", "evaluate_miss_rate", "load_results", "save_results", "json_ready"]
