"""Dataset records -> sharded TFRecord files of tf.train.Example.

Each image is checked before it is written: unreadable or truncated files
are skipped; grayscale, CMYK or palette images are converted to RGB (and
re-encoded), which counts as fixed. Worker processes read and check the
images; the parent writes the shards in record order, so the output is the
same for any number of workers. Shards are written under a temporary name
and renamed when complete; if the conversion stops early (an error, Ctrl-C,
SIGTERM) the temporaries are removed and the workers stop with the parent
(worker_pool.py).

Example keys (boxes in continuous pixel coordinates):
  image/encoded, image/format, image/height, image/width, image/source_id,
  image/filename, image/object/bbox/{xmin,ymin,xmax,ymax},
  image/object/class/label, image/object/difficult, image/object/is_crowd,
  image/object/height, image/object/vis_ratio, image/object/mask (PNGs).
"""
import functools
import io
import os

import numpy as np
from PIL import Image

from detect.datasets.records import SkipLog
from detect.datasets.worker_pool import worker_pool


def _check_image(path):
    """(encoded bytes, format, height, width, fix reason or None) or raises."""
    with open(path, "rb") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes fully: truncated files fail here
        fmt = (im.format or "").lower()
        if im.mode == "RGB" and fmt in ("jpeg", "png"):
            return data, fmt, im.height, im.width, None
        reason = f"{im.mode} {fmt or 'image'} converted to RGB JPEG"
        out = io.BytesIO()
        im.convert("RGB").save(out, format="JPEG", quality=95)
        return out.getvalue(), "jpeg", im.height, im.width, reason


def _png(mask):
    out = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def prepare_example(record, with_masks):
    """Reads and checks one record's image (in a worker process).

    Returns:
      (feature values dict or None, [(path, "skip" | "fix", reason)]).
    """
    from detect.datasets.coco import segmentation_to_mask

    path = record["file_name"]
    try:
        data, fmt, height, width, fix = _check_image(path)
    except FileNotFoundError:
        return None, [(path, "skip", "missing image file")]
    except Exception as e:  # PIL raises many kinds for corrupt files
        return None, [(path, "skip", f"unreadable image: {type(e).__name__}: {e}")]
    notes = [(path, "fix", fix)] if fix else []
    if (height, width) != (record["height"], record["width"]):
        notes.append((path, "fix", f"image size: annotation says {record['width']}x"
                      f"{record['height']}, file is {width}x{height}"))
        sy, sx = height / record["height"], width / record["width"]
        boxes = record["boxes"] * np.array([sx, sy, sx, sy], np.float32)
    else:
        boxes = record["boxes"]
    n = len(boxes)
    values = {
        "encoded": data, "format": fmt, "height": height, "width": width,
        "source_id": str(record["image_id"]), "filename": os.path.basename(path),
        "boxes": boxes.astype(np.float32), "classes": record["classes"],
        "difficult": record["difficult"], "crowd": record["crowd"],
        "heights": record.get("heights", boxes[:, 3] - boxes[:, 1]) if n else np.zeros(0),
        "vis_ratios": record.get("vis_ratios", np.ones(n)) if n else np.zeros(0),
    }
    if with_masks:
        segs = record.get("segmentations") or [None] * n
        masks = []
        for seg, box in zip(segs, boxes):
            if seg:
                m = segmentation_to_mask(seg, record["height"], record["width"])
                if m.shape != (height, width):
                    m = np.asarray(Image.fromarray(m).resize((width, height), Image.NEAREST))
            else:  # no segmentation: the box is the mask
                m = np.zeros((height, width), np.uint8)
                x1, y1, x2, y2 = np.maximum(np.round(box), 0).astype(int)  # may cross the border
                m[y1:y2, x1:x2] = 1
            masks.append(_png(m))
        values["masks"] = masks
    return values, notes


def to_example(values):
    import tensorflow as tf

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    def f(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(map(float, v))))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(map(int, v))))

    boxes = np.asarray(values["boxes"]).reshape(-1, 4)
    feats = {
        "image/encoded": b([values["encoded"]]), "image/format": b([values["format"].encode()]),
        "image/height": i([values["height"]]), "image/width": i([values["width"]]),
        "image/source_id": b([values["source_id"].encode()]),
        "image/filename": b([values["filename"].encode()]),
        "image/object/bbox/xmin": f(boxes[:, 0]), "image/object/bbox/ymin": f(boxes[:, 1]),
        "image/object/bbox/xmax": f(boxes[:, 2]), "image/object/bbox/ymax": f(boxes[:, 3]),
        "image/object/class/label": i(values["classes"]),
        "image/object/difficult": i(values["difficult"]),
        "image/object/is_crowd": i(values["crowd"]),
        "image/object/height": f(values["heights"]),
        "image/object/vis_ratio": f(values["vis_ratios"]),
    }
    if "masks" in values:
        feats["image/object/mask"] = b(values["masks"])
    return tf.train.Example(features=tf.train.Features(feature=feats))


def shard_paths(prefix, num_shards):
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def shard_prefix(out, name):
    """The shard path prefix for an output ``out``: ``out`` itself, or
    ``<out>/<name>`` when ``out`` names a directory (it ends with a path
    separator or is an existing directory), so that ``data/tfrecords/`` gives
    ``data/tfrecords/<name>-00000-of-00008.tfrecord``, never ``-00000-...``."""
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        return os.path.join(out, name)
    return out


def convert(dataset, prefix, num_shards=8, workers=None, with_masks=False, strict=False,
            progress=None):
    """Writes dataset's records to ``<prefix>-00000-of-00008.tfrecord`` (shard i of n);
    a directory ``prefix`` gets ``<prefix>/<dataset.name>-...`` (shard_prefix).

    Returns:
      (shard paths, number of examples written, SkipLog of what was fixed or
      skipped while reading the dataset and the images).

    Raises:
      ValueError: num_shards or workers < 1.
    """
    import tensorflow as tf

    if num_shards < 1:
        raise ValueError(f"the number of shards (--shards) must be >= 1, got {num_shards}")
    if workers is not None and workers < 1:
        raise ValueError(f"the number of worker processes (--workers) must be >= 1, got {workers}")
    skips = SkipLog(strict)
    skips.merge(dataset.skips)
    prefix = shard_prefix(prefix, dataset.name)
    paths = shard_paths(prefix, num_shards)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tmp = [p + ".tmp" for p in paths]
    writers = [tf.io.TFRecordWriter(p) for p in tmp]
    written, finished = 0, False
    try:
        # Leaving the with-block by any exception terminates the workers.
        with worker_pool(workers or os.cpu_count()) as pool:
            jobs = pool.imap(functools.partial(prepare_example, with_masks=with_masks),
                             dataset.records, chunksize=4)
            for values, notes in jobs:
                for path, kind, reason in notes:
                    (skips.skip if kind == "skip" else skips.fix)(path, reason)
                if values is not None:
                    writers[written % num_shards].write(to_example(values).SerializeToString())
                    written += 1
                if progress:
                    progress(1)
        finished = True
    finally:
        for w in writers:
            w.close()
        if not finished:
            for t in tmp:
                if os.path.exists(t):
                    os.remove(t)
    for t, p in zip(tmp, paths):
        os.replace(t, p)
    return paths, written, skips
