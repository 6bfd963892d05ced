"""VOC AP, COCO AP (pycocotools) and pedestrian MR^-2 on COCO-format results."""
from detect.evaluation.coco_eval import evaluate_coco
from detect.evaluation.miss_rate import evaluate_miss_rate
from detect.evaluation.results import load_results, save_results
from detect.evaluation.voc_eval import evaluate_voc, voc_ap

__all__ = ["evaluate_voc", "voc_ap", "evaluate_coco", "evaluate_miss_rate", "load_results",
           "save_results"]
