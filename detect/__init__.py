"""detect: two-stage object detection and instance segmentation for TF 2.

Importing the package is cheap; TensorFlow and the compiled ops are loaded
by ``detect.ops`` on first use.

    predictor = detect.Predictor("output/toy_quickstart")  # detect/predictor.py
    out = predictor(rgb_uint8_image)   # boxes, scores, classes, class_names (masks)
    model = detect.load_exported("exports/toy")   # detect/export/loading.py
"""
__version__ = "0.1.0"


def __getattr__(name):
    # lazily, so that ``import detect`` stays cheap (no TensorFlow)
    if name == "load_exported":
        from detect.export.loading import load_exported

        return load_exported
    if name == "Predictor":
        from detect.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'detect' has no attribute {name!r}")
