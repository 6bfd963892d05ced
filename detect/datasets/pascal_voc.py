"""PASCAL VOC in the VOCdevkit layout.

    <root>/VOCdevkit/VOC<year>/Annotations/<id>.xml
                              /JPEGImages/<id>.jpg
                              /ImageSets/Main/<split>.txt
Boxes in the XML are 1-based inclusive pixel indices; records hold
continuous coordinates, [xmin - 1, ymin - 1, xmax, ymax], so that the
width is xmax - xmin + 1 as in the devkit.
"""
import os
import xml.etree.ElementTree as ET

import numpy as np

from detect.datasets.dataset import Dataset
from detect.datasets.records import SkipLog, clean_boxes, empty_record, select

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def voc_split_ids(year_dir, split):
    path = os.path.join(year_dir, "ImageSets", "Main", f"{split}.txt")
    if not os.path.exists(path):
        found = sorted(f[:-4] for f in os.listdir(os.path.dirname(path))
                       if f.endswith(".txt")) if os.path.isdir(os.path.dirname(path)) else []
        raise FileNotFoundError(
            f"{path} does not exist: no split '{split}' for {year_dir}. Splits found: "
            f"{found or 'none'}. See data/README.md for where VOCdevkit goes.")
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def parse_voc_xml(xml_path, class_to_id, skips):
    """A record from one annotation file, or None if it is unusable."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as e:
        skips.skip(xml_path, f"unreadable annotation: {e}")
        return None
    size = root.find("size")
    try:
        width = int(float(size.find("width").text))
        height = int(float(size.find("height").text))
    except (AttributeError, TypeError, ValueError):
        skips.skip(xml_path, "malformed annotation: no <size> with <width> and <height>")
        return None
    if width <= 0 or height <= 0:
        skips.skip(xml_path, f"malformed annotation: image size {width}x{height}")
        return None
    boxes, classes, difficult = [], [], []
    for obj in root.findall("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_to_id:
            if name:
                skips.skip(xml_path, f"unknown class: '{name}'")
            else:
                skips.skip(xml_path, "malformed annotation: <object> without <name>")
            continue
        bb = obj.find("bndbox")
        try:
            x1, y1, x2, y2 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            skips.skip(xml_path, "malformed annotation: <bndbox> needs numeric xmin, ymin, xmax, ymax")
            continue
        boxes.append([x1 - 1, y1 - 1, x2, y2])
        classes.append(class_to_id[name])
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    record = empty_record(None, None, height, width)
    if boxes:
        checked, keep = clean_boxes(boxes, height, width, xml_path, skips)
        record.update(boxes=checked, classes=np.array(classes, np.int32),
                      difficult=np.array(difficult, bool), crowd=np.zeros(len(boxes), bool))
        record = select(record, keep)
    return record


def load_voc(root, year, split, classes=VOC_CLASSES, strict=False, check_images=True):
    """Reads VOC<year>/<split> under root/VOCdevkit.

    Args:
      check_images: skip (and count) images whose file is missing; False
        keeps them (evaluation needs only the annotations).

    Returns:
      Dataset named voc_<year>_<split>; images whose annotation is unusable
      (or, with check_images, whose image file is missing) are skipped and
      counted.
    """
    year_dir = os.path.join(root, "VOCdevkit", f"VOC{year}")
    skips = SkipLog(strict)
    class_to_id = {c: i + 1 for i, c in enumerate(classes)}
    records = []
    for image_id in voc_split_ids(year_dir, split):
        xml_path = os.path.join(year_dir, "Annotations", f"{image_id}.xml")
        image_path = os.path.join(year_dir, "JPEGImages", f"{image_id}.jpg")
        if not os.path.exists(xml_path):
            skips.skip(xml_path, "missing annotation file")
            continue
        if check_images and not os.path.exists(image_path):
            skips.skip(image_path, "missing image file")
            continue
        record = parse_voc_xml(xml_path, class_to_id, skips)
        if record is not None:
            record.update(image_id=image_id, file_name=image_path)
            records.append(record)
    return Dataset(f"voc_{year}_{split}", ("__background__",) + tuple(classes), records, skips)
