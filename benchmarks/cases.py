"""The standard RoI-op cases of ../shared/bench/BASELINES.md (NumPy only).

Shapes are NHWC (BASELINES lists torchvision's NCHW with the same values).
Spatial scale 1/16. Features are ReLU-like (half exact zeros) except
R-FCN's (signed). RoIs: sizes log-uniform from 16 px to the image size,
centres uniform, clipped to the image; a quarter snapped to half-cell
coordinates ((m + 0.5) * 16).
"""
import numpy as np

SCALE = 1.0 / 16

# name, op, features NHWC, rois, op arguments
CASES = [
    ("vgg16_r128", "roi_pool", (1, 38, 63, 512), 128, {"pooled": (7, 7)}),
    ("vgg16_r300", "roi_pool", (1, 38, 63, 512), 300, {"pooled": (7, 7)}),
    ("vgg16_r128", "roi_align", (1, 38, 63, 512), 128, {"pooled": (7, 7), "ratio": 2, "aligned": True}),
    ("vgg16_r300", "roi_align", (1, 38, 63, 512), 300, {"pooled": (7, 7), "ratio": 2, "aligned": True}),
    ("c4_box_r512", "roi_align", (1, 50, 68, 1024), 512, {"pooled": (14, 14), "ratio": 2, "aligned": True}),
    ("c4_mask_r100", "roi_align", (1, 50, 68, 1024), 100, {"pooled": (14, 14), "ratio": 2, "aligned": True}),
    ("rfcn_r300", "ps_roi_pool", (1, 38, 63, 1029), 300, {"output_dim": 21, "group_size": 7}),
]


def make_rois(rng, k, height_px, width_px, cell=16.0):
    """[K, 5] float32 RoIs on image 0, as BASELINES.md describes."""
    size = np.exp(rng.uniform(np.log(16.0), np.log([width_px, height_px]), (k, 2)))
    centre = rng.uniform(0, 1, (k, 2)) * [width_px, height_px]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width_px - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height_px - 1)
    snap = rng.random(k) < 0.25
    boxes[snap] = (np.floor(boxes[snap] / cell) + 0.5) * cell
    return np.hstack([np.zeros((k, 1)), boxes]).astype(np.float32)


def make_inputs(case, seed=0):
    """(features NHWC float32, rois [K, 5] float32) for a CASES entry."""
    _, op, shape, k, _ = case
    rng = np.random.default_rng(seed)
    features = rng.standard_normal(shape).astype(np.float32)
    if op != "ps_roi_pool":
        features = np.maximum(features, 0)  # ReLU-like: half exact zeros
    rois = make_rois(rng, k, shape[1] * 16, shape[2] * 16)
    return features, rois


def output_shape(case):
    _, op, shape, k, args = case
    if op == "ps_roi_pool":
        g = args["group_size"]
        return (k, g, g, args["output_dim"])
    return (k,) + tuple(args["pooled"]) + (shape[3],)
