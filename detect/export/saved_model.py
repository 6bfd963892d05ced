"""A trained detector as a SavedModel: preprocessing, the model and its
post-processing in one graph, with two signatures.

    serving_default(images)   images: uint8 [1, H, W, 3] RGB, any H, W >= 1
    serve_encoded(encoded)    encoded: string [] (JPEG, PNG, GIF's first frame,
                              BMP or WebP bytes; decoded to 3 channels RGB)

both returning the detections of the image, best first:

    detection_boxes        float32 [N, 4]  x1, y1, x2, y2 in the original
                                           image's pixels (clipped to it)
    detection_scores       float32 [N]
    detection_classes      int32 [N]       contiguous ids 1..C-1 (0 is background)
    detection_class_names  string [N]      classes.json's name of each
    num_detections         int32 []        N (at most TEST.DETECTIONS_PER_IMAGE)
    detection_masks        uint8 [N, H, W] Mask R-CNN only: each detection's mask
                                           pasted into the original image (0 / 1,
                                           TEST.MASK_THRESH; postprocess.paste_masks)

Inside the graph, as tools/test_net.py and tools/demo.py do it: the shorter
side is resized to TEST.SCALES[0] with the longer side capped at
TEST.MAX_SIZE (bilinear), pixels are normalized by MODEL.PIXEL_NORMALIZATION,
then ``model.detect`` (decode, clip, per-class NMS, rescale to the original
image: detect/modeling/postprocess.py). The training config (config.yml) and
the class names (classes.json) travel in the export's assets/ folder;
detect/export/loading.py reads them back.
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

from detect.config import cfg_to_yaml
from detect.datasets.image_check import tf_decode
from detect.datasets.pipeline import input_options, model_input
from detect.modeling.postprocess import paste_masks

SIGNATURES = ("serving_default", "serve_encoded")
ASSETS = ("config.yml", "classes.json")


class DetectorExport(tf.Module):
    """The exported module: ``serve`` (uint8 images) and ``serve_encoded``
    (image bytes), each a tf.function with a fixed input signature.

    Args:
      model: a built GeneralizedRCNN with its weights (detect/modeling/detector.py).
      class_names: C names, class_names[0] the background.
      scale, max_size: TEST.SCALES[0] and TEST.MAX_SIZE.
      inputs: the preprocessing, pipeline.input_options(cfg).
      assets: {file name: path of a file to copy into assets/}.
      mask_thresh, mask_paste: TEST.MASK_THRESH and TEST.MASK_PASTE, for a
        model with masks.
    """

    def __init__(self, model, class_names, scale, max_size, inputs, assets=None, mask_thresh=0.5,
                 mask_paste="detectron2"):
        super().__init__(name="detect_export")
        self.model, self._mask_thresh, self._paste = model, float(mask_thresh), mask_paste
        self._names = tf.constant(list(class_names), tf.string)
        self._scale, self._max_size = float(scale), float(max_size)
        self._inputs = dict(inputs)
        self.assets = {k: tf.saved_model.Asset(v) for k, v in (assets or {}).items()}

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="images")])
    def serve(self, images):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        check = tf.debugging.assert_positive(tf.stack([height, width]),
                                             message="the image has no pixels (height or width 0)")
        with tf.control_dependencies([check]):  # before the resize can fail on it
            images = tf.identity(images)
        image, size = model_input(images[0], self._scale, self._max_size, **self._inputs)
        out = self.model.detect(image, size, tf.stack([height, width])[None])
        outputs = detection_outputs(out, self._names)
        if "masks" in out:
            n = outputs["num_detections"]
            outputs["detection_masks"] = paste_masks(out["masks"][0, :n], outputs["detection_boxes"],
                                                     height, width, self._mask_thresh, self._paste)
        return outputs

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="encoded")])
    def serve_encoded(self, encoded):
        image = tf_decode(encoded)  # JPEG with the accurate IDCT, as PIL / OpenCV (image_check.py)
        return self.serve(image[None])


def detection_outputs(out, class_names):
    """``model.detect``'s dict for a batch of one -> the signatures' outputs:
    its first num_detections rows, under the names in this module's docstring.
    A model output with more keys gets its entry here."""
    n = out["num_detections"][0]
    classes = out["classes"][0, :n]
    return {"detection_boxes": out["boxes"][0, :n], "detection_scores": out["scores"][0, :n],
            "detection_classes": classes, "detection_class_names": tf.gather(class_names, classes),
            "num_detections": n}


class ExportError(ValueError):
    """An export that cannot be written as asked (its folder, its classes)."""


def export_saved_model(cfg, model, class_names, export_dir, overwrite=False):
    """Writes the SavedModel of a built, restored model to export_dir.

    The folder appears complete or not at all: everything is written to a
    sibling temporary folder that is then renamed. An existing non-empty
    export_dir is replaced only with overwrite=True.

    Args:
      cfg: the model's config (TEST.SCALES, TEST.MAX_SIZE,
        MODEL.PIXEL_NORMALIZATION are read; it is stored as config.yml).
      model: the detector; class_names: C names including the background.
    Returns export_dir. Raises ExportError.
    """
    if len(class_names) != model.num_classes:
        raise ExportError(f"{len(class_names)} class names for a model of {model.num_classes} "
                          "classes (with the background): classes.json does not belong to this model")
    export_dir = os.path.abspath(export_dir)
    if os.path.isfile(export_dir):
        raise ExportError(f"--export-dir {export_dir} is a file; name a folder")
    if os.path.isdir(export_dir) and os.listdir(export_dir) and not overwrite:
        raise ExportError(f"--export-dir {export_dir} exists and is not empty; pass --overwrite "
                          "to replace it, or name a new folder")
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(export_dir)}.tmp-", dir=parent)
    try:
        sources = os.path.join(work, "sources")
        os.makedirs(sources)
        with open(os.path.join(sources, "config.yml"), "w") as f:
            f.write(cfg_to_yaml(cfg))
        with open(os.path.join(sources, "classes.json"), "w") as f:
            json.dump(list(class_names), f)
        module = DetectorExport(model, class_names, cfg.TEST.SCALES[0], cfg.TEST.MAX_SIZE,
                                input_options(cfg),
                                {name: os.path.join(sources, name) for name in ASSETS},
                                cfg.TEST.MASK_THRESH, cfg.TEST.MASK_PASTE)
        saved = os.path.join(work, "saved_model")
        tf.saved_model.save(module, saved, signatures={
            "serving_default": module.serve.get_concrete_function(),
            "serve_encoded": module.serve_encoded.get_concrete_function()})
        _replace_dir(saved, export_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return export_dir


def _replace_dir(new, target):
    """Renames folder ``new`` to ``target``, replacing what is there."""
    if not os.path.exists(target):
        os.replace(new, target)
        return
    old = new + ".old"
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
