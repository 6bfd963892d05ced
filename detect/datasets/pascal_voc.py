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
from detect.datasets.records import BadInputError, SkipLog, clean_boxes, empty_record, select

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
            f"{found or 'none'}. ImageSets/Main/<split>.txt lists a split's image ids, one per line "
            "(data/README.md: where VOCdevkit goes).")
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


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG")


def voc_image_path(folder, image_id):
    """JPEGImages/<id>.jpg, or the first of the other extensions that exists
    (labelImg and CVAT keep PNGs as they are); the .jpg path if none does."""
    images = os.path.join(folder, "JPEGImages")
    for ext in IMAGE_EXTS:
        path = os.path.join(images, image_id + ext)
        if os.path.exists(path):
            return path
    return os.path.join(images, image_id + ".jpg")


def voc_folder_classes(folder):
    """The class names of a VOC-layout folder that is not PASCAL VOC itself.

    ``<folder>/classes.txt`` (one name per line, as labelImg writes it) if it
    exists; else PASCAL VOC's 20 classes if every object name in
    Annotations/*.xml is one of them (a VOC model's class ids stay valid);
    else the sorted names found there. Every annotation file is read, not
    only one split's, so that train and test splits get the same classes.
    """
    listed = os.path.join(folder, "classes.txt")
    if os.path.isfile(listed):
        with open(listed) as f:
            names = tuple(line.strip() for line in f if line.strip())
        if not names:
            raise BadInputError(f"{listed} is empty: list one class name per line")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BadInputError(f"{listed} lists {dupes} more than once")
        return names
    found = set()
    annotations = os.path.join(folder, "Annotations")
    for name in sorted(os.listdir(annotations)):
        if name.endswith(".xml"):
            try:
                root = ET.parse(os.path.join(annotations, name)).getroot()
            except (ET.ParseError, OSError):
                continue  # counted as a skip when its split is read
            found.update((o.findtext("name") or "").strip() for o in root.findall("object"))
    found.discard("")
    if not found:
        raise BadInputError(f"no <object> with a <name> in {annotations}/*.xml: no classes to "
                            f"train; or list them in {listed}, one per line")
    return VOC_CLASSES if found <= set(VOC_CLASSES) else tuple(sorted(found))


def voc_folder_ids(folder, split=None):
    """The image ids of ``split`` (ImageSets/Main/<split>.txt), or with no
    split every Annotations/*.xml, sorted. Raises FileNotFoundError or
    BadInputError naming the folder or file when there is none."""
    if split:
        ids = voc_split_ids(folder, split)
        if not ids:
            raise BadInputError(f"{os.path.join(folder, 'ImageSets', 'Main', split + '.txt')} is "
                                "empty: list one image id per line")
        return ids
    annotations = os.path.join(folder, "Annotations")
    ids = sorted(f[:-4] for f in os.listdir(annotations) if f.endswith(".xml"))
    if not ids:
        raise BadInputError(f"{annotations} holds no .xml annotation file")
    return ids


def load_voc_folder(folder, split=None, classes=VOC_CLASSES, name=None, strict=False,
                    check_images=True):
    """Reads a VOC-layout folder (Annotations/<id>.xml, JPEGImages/<id>.jpg
    and, for a split, ImageSets/Main/<split>.txt).

    Args:
      split: a split file's name, or None: every annotation file.
      classes: the class names, in class-id order (1..K).
      check_images: skip (and count) images whose file is missing; False
        keeps them (evaluation needs only the annotations).

    Returns:
      Dataset named ``name``; images whose annotation is unusable (or, with
      check_images, whose image file is missing) are skipped and counted.
    """
    skips = SkipLog(strict)
    class_to_id = {c: i + 1 for i, c in enumerate(classes)}
    records = []
    for image_id in voc_folder_ids(folder, split):
        xml_path = os.path.join(folder, "Annotations", f"{image_id}.xml")
        image_path = voc_image_path(folder, image_id)
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
    return Dataset(name or os.path.basename(os.path.normpath(folder)),
                   ("__background__",) + tuple(classes), records, skips)


def load_voc(root, year, split, classes=VOC_CLASSES, strict=False, check_images=True):
    """Reads VOC<year>/<split> under root/VOCdevkit (load_voc_folder);
    the Dataset is named voc_<year>_<split>."""
    return load_voc_folder(os.path.join(root, "VOCdevkit", f"VOC{year}"), split, classes,
                           f"voc_{year}_{split}", strict, check_images)
