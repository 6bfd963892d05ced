"""Readers, converters and the tf.data input pipeline (see docs/datasets.md)."""
from detect.datasets.dataset import Dataset
from detect.datasets.factory import DATASETS, dataset_label, dataset_layout, filter_classes, get_dataset
from detect.datasets.records import BadInputError, SkipLog

__all__ = ["Dataset", "get_dataset", "dataset_label", "filter_classes", "dataset_layout", "DATASETS",
           "BadInputError", "SkipLog"]
