"""Runs a detector over a dataset and returns COCO-format results (with
RLE ``segmentation`` for a model with masks)."""
import logging
import time

import numpy as np
import tensorflow as tf

from pycocotools import mask as mask_utils

from detect.datasets.pipeline import build_pipeline, input_options
from detect.modeling.postprocess import paste_masks
from detect.weights.coco_classes import canonical_class

log = logging.getLogger("detect.engine")


def test_pipeline(dataset, cfg):
    return build_pipeline(dataset, training=False, batch_size=1, scales=tuple(cfg.TEST.SCALES[:1]),
                          max_size=cfg.TEST.MAX_SIZE, **input_options(cfg))


def encode_masks(masks):
    """COCO RLEs (``counts`` as str, JSON-ready) of uint8 [D, H, W] masks."""
    rles = mask_utils.encode(np.asfortranarray(np.transpose(masks, (1, 2, 0))))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def detections_to_results(record, boxes, scores, classes, category_ids=None, masks=None):
    """COCO results of one image; boxes already in original-image pixels;
    masks: None, or uint8 [D, H, W] full-image masks (-> RLE "segmentation")."""
    out = []
    rles = encode_masks(masks) if masks is not None and len(masks) else [None] * len(boxes)
    for b, s, c, rle in zip(boxes, scores, classes, rles):
        x1, y1, x2, y2 = (float(v) for v in b)
        cat = category_ids[int(c)] if category_ids else int(c)
        out.append({"image_id": record["image_id"], "category_id": cat,
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
        if rle is not None:
            out[-1]["segmentation"] = rle
    return out


def class_mapping(model_names, dataset_names):
    """{model class id: dataset class id} by class name, for a model whose
    classes differ from the dataset's (an imported zoo model's 91 COCO
    slots on a dataset's 80 contiguous classes, a COCO model on a person
    set; names are compared after coco_classes.canonical_class: "pedestrian"
    is "person", VOC's "aeroplane" COCO's "airplane" ...). None where every class
    keeps its id. When no name is shared and the counts are equal, ids are
    taken as they are (with a warning: classes named differently, e.g. a
    renamed class list). Raises ValueError when no class is shared and the
    counts differ."""
    index = {canonical_class(n): i for i, n in enumerate(dataset_names) if i > 0}
    mapping = {i: index[canonical_class(n)] for i, n in enumerate(model_names)
               if i > 0 and canonical_class(n) in index}
    if not mapping:
        if len(model_names) == len(dataset_names):
            log.warning("the model's classes and the dataset's share no name; taking class ids as "
                        "they are")
            return None
        raise ValueError(f"the model's classes ({', '.join(list(model_names)[1:6])}, ...) and the "
                         f"dataset's ({', '.join(list(dataset_names)[1:6])}, ...) share no name")
    if len(model_names) == len(dataset_names) and all(k == v for k, v in mapping.items()) \
            and len(mapping) == len(model_names) - 1:
        return None
    return mapping


def iter_inference(model, dataset, cfg, class_map=None):
    """Runs the model over the dataset, one image at a time.

    Yields (record, COCO results of that image, seconds of the model call)
    in pipeline order, so a caller keeps everything done so far if an error
    or Ctrl-C stops the run (tools/test_net.py writes it out). Images the
    pipeline cannot read are skipped there: logged with their path and
    reason, counted in ``dataset.skips`` (pipeline.py).
    """
    by_id = {str(r["image_id"]): r for r in dataset.records}
    detect = tf.function(model.detect, reduce_retracing=True)
    paste = tf.function(paste_masks, reduce_retracing=True)
    for batch in test_pipeline(dataset, cfg):
        t0 = time.perf_counter()
        # boxes in the decoded image's pixels (postprocess.py rescales them)
        out = detect(batch["image"], batch["image_size"], batch["original_size"])
        n = int(out["num_detections"][0])
        masks = None
        if "masks" in out:  # Mask R-CNN: pasted into the original image
            size = batch["original_size"][0]  # tensors: one trace for every image size
            masks = paste(out["masks"][0, :n], out["boxes"][0, :n], size[0], size[1],
                          cfg.TEST.MASK_THRESH, cfg.TEST.MASK_PASTE).numpy()
        seconds = time.perf_counter() - t0
        record = by_id[batch["source_id"][0].numpy().decode()]
        boxes, scores = out["boxes"][0, :n].numpy(), out["scores"][0, :n].numpy()
        classes = out["classes"][0, :n].numpy()
        if class_map is not None:
            keep = np.array([int(c) in class_map for c in classes], bool)
            boxes, scores, masks = boxes[keep], scores[keep], masks[keep] if masks is not None else None
            classes = np.array([class_map[int(c)] for c in classes[keep]], np.int32)
        yield record, detections_to_results(record, boxes, scores, classes, dataset.category_ids,
                                            masks), seconds


def median_seconds(times):
    """Median seconds per image, leaving out the first call (it traces the
    tf.function); NaN when no image was run."""
    times = times[1:] if len(times) > 1 else times
    return float(np.median(times)) if times else float("nan")

