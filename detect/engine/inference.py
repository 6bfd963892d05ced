"""Runs a detector over a dataset and returns COCO-format results (with
RLE ``segmentation`` for a model with masks)."""
import time

import numpy as np
import tensorflow as tf

from pycocotools import mask as mask_utils

from detect.datasets.pipeline import build_pipeline
from detect.modeling.postprocess import paste_masks


def test_pipeline(dataset, cfg):
    return build_pipeline(dataset, training=False, batch_size=1, scales=tuple(cfg.TEST.SCALES[:1]),
                          max_size=cfg.TEST.MAX_SIZE, normalization=cfg.MODEL.PIXEL_NORMALIZATION,
                          rounding=cfg.MODEL.RESIZE_ROUNDING,
                          size_divisibility=cfg.MODEL.SIZE_DIVISIBILITY)


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


def iter_inference(model, dataset, cfg):
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
        yield record, detections_to_results(record, out["boxes"][0, :n].numpy(),
                                            out["scores"][0, :n].numpy(), out["classes"][0, :n].numpy(),
                                            dataset.category_ids, masks), seconds


def median_seconds(times):
    """Median seconds per image, leaving out the first call (it traces the
    tf.function); NaN when no image was run."""
    times = times[1:] if len(times) > 1 else times
    return float(np.median(times)) if times else float("nan")

