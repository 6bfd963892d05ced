"""What tools/demo.py and tools/predict.py do with a Predictor's output:
keep the wanted detections, and write them as JSON."""
import numpy as np

from detect.engine.inference import encode_masks


def skip_reason(e):
    """Why an image was skipped, for the message (BadImageError, OSError,
    MemoryError or TensorFlow's ResourceExhaustedError)."""
    if isinstance(e, OSError):
        return e.strerror or str(e)
    if isinstance(e, MemoryError) or type(e).__name__ == "ResourceExhaustedError":
        return f"out of memory ({type(e).__name__}); try a smaller --max-pixels"
    return str(e)


def check_classes(wanted, class_names):
    """An error line for --classes names the model lacks, or None."""
    unknown = set(wanted or []) - set(class_names)
    if unknown:
        return f"--classes {sorted(unknown)} not among {class_names[1:]}"
    return None


def select(out, thresh, classes=None):
    """The detections of a Predictor output dict that score at least thresh
    and are of the classes named (None: all), as a dict of the same keys
    (boxes float32 [N, 4] x1 y1 x2 y2 in the image's pixels, scores [N],
    classes int32 [N], class_names, masks uint8 [N, H, W] for Mask R-CNN);
    with "best_other": the best score of the wanted classes (None when the
    model found none), to say why nothing was kept."""
    names = out["class_names"]
    wanted = np.array([not classes or n in classes for n in names], bool)
    keep = (out["scores"] >= thresh) & wanted
    kept = {k: out[k][keep] for k in ("boxes", "scores", "classes")}
    kept["class_names"] = [n for n, k in zip(names, keep) if k]
    if "masks" in out:
        kept["masks"] = out["masks"][keep]
    best = out["scores"][wanted]
    kept["best_other"] = float(best.max()) if len(best) else None
    return kept


def to_json(dets, decimals=(1, 4)):
    """JSON-ready detections: boxes [[x1, y1, x2, y2]] (pixels), scores
    (rounded to decimals: boxes', scores'), classes (names), masks (COCO
    RLE) when there are."""
    out = {"boxes": dets["boxes"].astype(float).round(decimals[0]).tolist(),
           "scores": dets["scores"].astype(float).round(decimals[1]).tolist(),
           "classes": list(dets["class_names"])}
    if "masks" in dets:
        out["masks"] = encode_masks(dets["masks"]) if len(dets["masks"]) else []
    return out
