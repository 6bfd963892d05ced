"""Drawing detections and ground truth on pictures (OpenCV, BGR uint8).

    draw(bgr, boxes, scores, names, class_ids, masks)   demo.py's detections
    draw_regions(bgr, boxes, label)                     crowd / ignore regions
    paste_crops(crops, boxes, height, width)            the pipeline's mask crops
                                                        back into the picture
    picture_name(path, used, suffix)                    unique output file names
"""
import os

import cv2
import numpy as np


def class_color(class_id):
    """A BGR colour per class id: hues spread by the golden ratio, so
    neighbouring ids differ."""
    hue = int((class_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 230]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw(bgr, boxes, scores, names, class_ids=None, masks=None, alpha=0.45):
    """Draws detections on a BGR picture (in place; returned).

    boxes [D, 4] x1 y1 x2 y2 in the picture's pixels; class_ids [D] pick the
    colours (default: one colour); scores: None entries draw the name alone
    (ground truth); masks: None or uint8 [D, H, W], drawn as
    a translucent fill (alpha) with an outline, under the boxes and labels.
    """
    colors = [class_color(c) for c in (class_ids if class_ids is not None else [1] * len(boxes))]
    if masks is not None:
        for m, color in zip(masks, colors):
            inside = m.astype(bool)
            bgr[inside] = (bgr[inside] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(bgr, contours, -1, color, 1, cv2.LINE_AA)
    for (x1, y1, x2, y2), s, name, color in zip(boxes, scores, names, colors):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(bgr, p1, p2, color, 2)
        label = name if s is None else f"{name} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        cv2.rectangle(bgr, (p1[0], max(p1[1] - th - 4, 0)), (p1[0] + tw + 2, max(p1[1], th + 4)),
                      color, -1)
        cv2.putText(bgr, label, (p1[0] + 1, max(p1[1] - 3, th + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def picture_name(path, used, suffix="", ext=".jpg"):
    """<stem><suffix><ext> for an input picture, unique among ``used`` (a
    set, updated): a second x.jpg (another folder, or x.png) gets
    x_2<suffix>.jpg, then x_3 ... (demo.py: suffix "_det"; a video's
    annotated copy: ext ".mp4")."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name, k = f"{stem}{suffix}{ext}", 2
    while name in used:
        name, k = f"{stem}_{k}{suffix}{ext}", k + 1
    used.add(name)
    return name


def draw_regions(bgr, boxes, label, color=(160, 160, 160)):
    """Crowd or ignore regions: dashed grey boxes with ``label`` (in place;
    returned). boxes [R, 4] x1 y1 x2 y2 in the picture's pixels."""
    for x1, y1, x2, y2 in np.round(np.asarray(boxes, float)).astype(int):
        for a, b in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)),
                     ((x1, y2), (x1, y1))):
            length = int(max(abs(b[0] - a[0]), abs(b[1] - a[1])))
            for t in range(0, length, 8):  # 4 px dashes
                p = (a[0] + (b[0] - a[0]) * t // max(length, 1), a[1] + (b[1] - a[1]) * t // max(length, 1))
                q = (a[0] + (b[0] - a[0]) * min(t + 4, length) // max(length, 1),
                     a[1] + (b[1] - a[1]) * min(t + 4, length) // max(length, 1))
                cv2.line(bgr, p, q, color, 1)
        cv2.putText(bgr, label, (x1 + 2, max(y1 + 12, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                    cv2.LINE_AA)
    return bgr


def paste_crops(crops, boxes, height, width, thresh=0.5):
    """uint8 [M, height, width] masks of [M, S, S] box crops (the training
    pipeline's ``masks``: each mask resampled inside its box), each resized
    to its box and thresholded."""
    out = np.zeros((len(crops), height, width), np.uint8)
    for k, (crop, (x1, y1, x2, y2)) in enumerate(zip(crops, boxes)):
        x1, y1 = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        x2, y2 = min(int(np.ceil(x2)), width), min(int(np.ceil(y2)), height)
        if x2 > x1 and y2 > y1:
            resized = cv2.resize(np.asarray(crop, np.float32), (x2 - x1, y2 - y1),
                                 interpolation=cv2.INTER_LINEAR)
            out[k, y1:y2, x1:x2] = resized >= thresh
    return out
