"""Runs a detector over a dataset and returns COCO-format results."""
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from detect.datasets.pipeline import build_pipeline


def test_pipeline(dataset, cfg):
    return build_pipeline(dataset, training=False, batch_size=1, scales=tuple(cfg.TEST.SCALES[:1]),
                          max_size=cfg.TEST.MAX_SIZE, normalization=cfg.MODEL.PIXEL_NORMALIZATION)


def detections_to_results(record, boxes, scores, classes, category_ids=None):
    """COCO results of one image; boxes already in original-image pixels."""
    out = []
    for b, s, c in zip(boxes, scores, classes):
        x1, y1, x2, y2 = (float(v) for v in b)
        cat = category_ids[int(c)] if category_ids else int(c)
        out.append({"image_id": record["image_id"], "category_id": cat,
                    "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
    return out


def run_inference(model, dataset, cfg, progress=True):
    """(results list, median seconds per image)."""
    by_id = {str(r["image_id"]): r for r in dataset.records}
    detect = tf.function(model.detect, reduce_retracing=True)
    results, times = [], []
    data = iter(test_pipeline(dataset, cfg))
    for _ in tqdm(range(len(dataset)), desc="test", unit="img", disable=not progress):
        batch = next(data)
        t0 = time.perf_counter()
        boxes, scores, classes, valid = detect(batch["image"], batch["image_size"])
        n = int(valid[0])
        times.append(time.perf_counter() - t0)
        record = by_id[batch["source_id"][0].numpy().decode()]
        scale_y = float(batch["image_size"][0][0]) / record["height"]
        scale_x = float(batch["image_size"][0][1]) / record["width"]
        b = boxes[0, :n].numpy() / np.array([scale_x, scale_y, scale_x, scale_y], np.float32)
        b = np.clip(b, 0, [record["width"], record["height"]] * 2)
        results += detections_to_results(record, b, scores[0, :n].numpy(), classes[0, :n].numpy(),
                                         dataset.category_ids)
    return results, float(np.median(times[1:] if len(times) > 1 else times))
