"""The tf.data input pipeline: decode, resize, flip, normalize, pad, batch.

Sources: TFRecord shards written by tools/convert_*.py, or a Dataset read
straight from disk (its records go through a generator, so images without
a conversion step work too). Both give the same elements.

Bad image files never stop the pipeline. From a Dataset, each file is
checked once per pipeline, in the generator, where its path is known
(image_check.decode_image: not empty, a format TensorFlow reads, at most
``max_pixels``, decodes with TensorFlow's decoder); a bad one is skipped,
logged with its path and reason, and counted in the Dataset's ``skips``.
Checking there rather than in-graph: TensorFlow has no decode that returns
an error flag instead of raising, so an in-graph check could only look at
magic bytes and would miss truncated files; later epochs reuse the result.
TFRecord shards hold only images the converter decoded (convert.py).

A Dataset small enough (``cache_bytes``, 512 MiB by default: its files'
bytes and, with masks, one byte per pixel per object) is read and its masks
drawn once: the generator's elements are kept in memory after the first
pass (``Dataset.cache``), and later epochs decode from there. The quick
start's 1500 toy images take about 170 MB (19 MB of JPEGs, 148 MB of
full-image masks); over 4 epochs the input then costs 1.87 instead of 2.39
CPU ms per image (benchmarks/bench_pipeline.py --quickstart), under 1% of
a toy training step.

Each batch is a dict:
  image        float32 [B, H, W, 3], normalized, zero-padded to the largest
               image in the batch (rounded up to ``size_divisibility``)
  image_size   int32 [B, 2], (height, width) of each image before padding
  original_size int32 [B, 2], (height, width) of the decoded image before resizing
  boxes        float32 [B, M, 4], x1 y1 x2 y2 in resized-image pixels,
               padded with zeros to the most objects in the batch
  classes      int32 [B, M], padded with -1
  difficult, crowd  bool [B, M]
  num_objects  int32 [B]
  masks        float32 [B, M, S, S] (with_masks=True): each object's mask
               cropped to its box and resampled to S x S (mask_size)
  source_id    string [B]
Masks travel cropped to their boxes (as in TF Model Garden's Mask R-CNN
input), not as full-image bitmaps: a batch's masks take B x M x S x S
floats whatever the image size, and the mask targets of the RoIs are
RoIAligned from these crops (targets/mask_targets.py). The crop samples
the decoded bitmap bilinearly at the centre of each of the S x S cells of
the box (continuous coordinates, edge pixels replicated half a pixel
outward), so a value is the fraction of mask around that point. Parts of a
mask outside its box are cut off; COCO's boxes are the masks' extents.
Randomness (scale choice, per batch; flip, per image) is a stateless
function of ``seed`` and the element's position, so a pipeline with a seed
gives the same batches every run, whatever the number of parallel calls.
"""
import logging
import os

import numpy as np
import tensorflow as tf

from detect.datasets.image_check import MAX_PIXELS, BadImageError, decode_image, tf_decode

log = logging.getLogger("detect.datasets")

# Per-backbone pixel normalization, applied to RGB values in [0, 255].
PIXEL_NORMALIZATION = {
    # Caffe / keras.applications "caffe" mode (VGG16, ResNet50): BGR, mean only.
    "caffe": {"bgr": True, "mean": (103.939, 116.779, 123.68), "std": (1.0, 1.0, 1.0)},
    # torchvision-style ImageNet statistics, RGB.
    "torch": {"bgr": False, "mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)},
    # detectron2's MSRA / Caffe2 models (its R-50.pkl and COCO models): BGR, mean only.
    "detectron2": {"bgr": True, "mean": (103.53, 116.28, 123.675), "std": (1.0, 1.0, 1.0)},
}


def normalize(image, normalization):
    """float RGB [..., 3] in [0, 255] -> the backbone's input."""
    norm = PIXEL_NORMALIZATION[normalization]
    if norm["bgr"]:
        image = image[..., ::-1]
    return (image - tf.constant(norm["mean"])) / tf.constant(norm["std"])


def denormalize(image, normalization):
    """The inverse of ``normalize``: RGB in [0, 255] (for pictures)."""
    norm = PIXEL_NORMALIZATION[normalization]
    image = image * tf.constant(norm["std"]) + tf.constant(norm["mean"])
    return image[..., ::-1] if norm["bgr"] else image

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/source_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
    "image/object/difficult": tf.io.VarLenFeature(tf.int64),
    "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
    "image/object/mask": tf.io.VarLenFeature(tf.string),
}


def parse_example(serialized, with_masks=False):
    """One tf.train.Example -> the raw element (image still encoded)."""
    p = tf.io.parse_single_example(serialized, _FEATURES)
    dense = {k: tf.sparse.to_dense(v) for k, v in p.items() if isinstance(v, tf.SparseTensor)}
    el = {
        "encoded": p["image/encoded"], "source_id": p["image/source_id"],
        "boxes": tf.stack([dense[f"image/object/bbox/{k}"] for k in ("xmin", "ymin", "xmax", "ymax")],
                          axis=1),
        "classes": tf.cast(dense["image/object/class/label"], tf.int32),
        "difficult": tf.cast(dense["image/object/difficult"], tf.bool),
        "crowd": tf.cast(dense["image/object/is_crowd"], tf.bool),
    }
    if with_masks:
        el["mask_pngs"] = dense["image/object/mask"]
    return el


def _read_checked(path, usable, skips, max_pixels):
    """The bytes of an image file, or None if it cannot be used.

    Each file is checked once per pipeline (``usable``: path -> bool, kept
    across epochs) with image_check.decode_image, the decoder the pipeline
    uses, so nothing that reaches ``preprocess`` fails to decode. A bad file
    is logged with its path and reason and counted in ``skips`` (the
    Dataset's SkipLog, under "unreadable image").
    """
    if usable.get(path) is False:
        return None
    try:
        with open(path, "rb") as f:
            encoded = f.read()
        if path not in usable:
            decode_image(encoded, max_pixels)
    except (OSError, BadImageError) as e:
        usable[path] = False
        skips.skip(path, f"unreadable image: {e}")
        return None
    usable[path] = True
    return encoded


def _records_generator(dataset, with_masks, max_pixels):
    from detect.datasets.coco import segmentation_to_mask

    usable = {}

    def gen():
        bad_before = sum(1 for ok in usable.values() if not ok)
        for r in dataset.records:
            encoded = _read_checked(r["file_name"], usable, dataset.skips, max_pixels)
            if encoded is None:
                continue
            el = {"encoded": encoded, "source_id": str(r["image_id"]).encode(),
                  "boxes": r["boxes"].astype(np.float32), "classes": r["classes"].astype(np.int32),
                  "difficult": r["difficult"], "crowd": r["crowd"]}
            if with_masks:
                segs = r.get("segmentations") or [None] * len(r["boxes"])
                masks = np.zeros((len(segs), r["height"], r["width"]), np.uint8)
                for i, (seg, box) in enumerate(zip(segs, r["boxes"])):
                    if seg:
                        masks[i] = segmentation_to_mask(seg, r["height"], r["width"])
                    else:
                        # boxes may cross the border (records.py)
                        x1, y1, x2, y2 = np.maximum(np.round(box), 0).astype(int)
                        masks[i, y1:y2, x1:x2] = 1
                el["masks"] = masks
            yield el
        bad = sum(1 for ok in usable.values() if not ok)
        if bad > bad_before:
            log.warning("%s: %d of %d images skipped as unreadable so far (see the warnings "
                        "above)", dataset.name, bad, len(dataset.records))

    sig = {"encoded": tf.TensorSpec([], tf.string), "source_id": tf.TensorSpec([], tf.string),
           "boxes": tf.TensorSpec([None, 4], tf.float32), "classes": tf.TensorSpec([None], tf.int32),
           "difficult": tf.TensorSpec([None], tf.bool), "crowd": tf.TensorSpec([None], tf.bool)}
    if with_masks:
        sig["masks"] = tf.TensorSpec([None, None, None], tf.uint8)
    return tf.data.Dataset.from_generator(gen, output_signature=sig)


CACHE_BYTES = 512 * 2 ** 20


def fits_in_cache(dataset, with_masks, limit=CACHE_BYTES):
    """Whether the generator's elements for ``dataset`` (a Dataset) take at
    most ``limit`` bytes: the image files' sizes and, with masks, height x
    width bytes per object. Stops counting once over the limit (a large
    dataset costs a few thousand file lookups)."""
    total = 0
    for r in dataset.records:
        try:
            total += os.path.getsize(r["file_name"])
        except OSError:
            pass  # the generator logs and skips it
        if with_masks:
            total += len(r["boxes"]) * int(r["height"]) * int(r["width"])
        if total > limit:
            return False
    return True


def target_size(height, width, scale, max_size, rounding="round"):
    """Resized (height, width) and factor: shorter side -> scale, longer <= max_size.

    rounding (MODEL.RESIZE_ROUNDING): "round" (ours), or "floor" as
    torchvision's interpolate sizes its output: floor(side x factor) in
    float64, the factor min(scale / short, max_size / long) in float64 too;
    or "detectron2", ResizeShortestEdge's: the short side set to scale, the
    long side scaled with it, both scaled down when the long side passes
    max_size, then int(x + 0.5), all in float64.
    """
    if rounding == "detectron2":
        h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
        size, cap = tf.cast(scale, tf.float64), tf.cast(max_size, tf.float64)
        factor = size / tf.minimum(h, w)
        new_h = tf.where(h < w, size, factor * h)
        new_w = tf.where(h < w, factor * w, size)
        shrink = tf.minimum(cap / tf.maximum(new_h, new_w), 1.0)
        new_h = tf.cast(tf.floor(new_h * shrink + 0.5), tf.int32)
        new_w = tf.cast(tf.floor(new_w * shrink + 0.5), tf.int32)
        return (tf.maximum(new_h, 1), tf.maximum(new_w, 1),
                tf.cast(factor * shrink, tf.float32))
    if rounding == "floor":
        h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
        factor = tf.minimum(tf.cast(scale, tf.float64) / tf.minimum(h, w),
                            tf.cast(max_size, tf.float64) / tf.maximum(h, w))
        new_h = tf.cast(tf.floor(h * factor), tf.int32)
        new_w = tf.cast(tf.floor(w * factor), tf.int32)
        return tf.maximum(new_h, 1), tf.maximum(new_w, 1), tf.cast(factor, tf.float32)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    factor = tf.minimum(scale / tf.minimum(h, w), max_size / tf.maximum(h, w))
    new_h = tf.cast(tf.round(h * factor), tf.int32)
    new_w = tf.cast(tf.round(w * factor), tf.int32)
    return tf.maximum(new_h, 1), tf.maximum(new_w, 1), factor


_PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 - 2


def _pil_pass(image, out_size, axis):
    """One pass of Pillow's ImagingResample (BILINEAR) on uint8 values held
    as floats, along ``axis`` (0: rows, 1: columns) of [H, W, C]: each output
    pixel is a window of inputs weighted by the triangle filter, widened by
    the downscale factor, normalized, turned into 22-bit fixed point and
    summed with rounding, as Resample.c does (float64 for its doubles)."""
    in_size = tf.shape(image)[axis]
    n_in, n_out = tf.cast(in_size, tf.float64), tf.cast(out_size, tf.float64)
    scale = n_in / n_out
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale  # the bilinear filter's support is 1
    taps = tf.cast(tf.math.ceil(support), tf.int32) * 2 + 1
    center = (tf.range(n_out, dtype=tf.float64) + 0.5) * scale
    xmin = tf.maximum(tf.cast(center - support + 0.5, tf.int32), 0)  # C's (int): toward zero
    xmax = tf.minimum(tf.cast(center + support + 0.5, tf.int32), in_size)
    x = tf.range(taps)[None, :]
    pos = (tf.cast(x + xmin[:, None], tf.float64) - center[:, None] + 0.5) / filterscale
    w = tf.maximum(1.0 - tf.abs(pos), 0.0)
    w = tf.where(x < (xmax - xmin)[:, None], w, 0.0)
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    w = tf.math.divide_no_nan(w, total)
    fixed = tf.floor(0.5 + w * 2.0 ** _PIL_PRECISION_BITS)  # the weights are >= 0
    index = tf.minimum(x + xmin[:, None], in_size - 1)  # [out, taps]
    values = tf.gather(tf.cast(image, tf.float64), index, axis=axis)  # taps after the axis
    fixed = tf.reshape(fixed, [-1, taps, 1, 1] if axis == 0 else [1, -1, taps, 1])
    acc = tf.reduce_sum(values * fixed, axis=axis + 1) + 2.0 ** (_PIL_PRECISION_BITS - 1)
    return tf.clip_by_value(tf.floor(acc / 2.0 ** _PIL_PRECISION_BITS), 0.0, 255.0)


def resize_image(image, height, width, method="bilinear"):
    """float [H, W, 3] (0..255) -> [height, width, 3].

    method (MODEL.RESIZE_METHOD): "bilinear", TensorFlow's (half-pixel
    centres, no antialiasing: torchvision's interpolate on the float image);
    "pil_bilinear", Pillow's Image.resize(BILINEAR) of the uint8 image, as
    detectron2 resizes: width then height, each pass a triangle filter
    widened by the downscale factor with Pillow's fixed-point weights and
    rounding (the input is rounded to whole levels first). On the 80 COCO
    images of shared/data at short sides 480, 600 and 800 it equals
    Pillow 13's result in every value. (Pillow runs the height first when a
    resize shrinks the height and grows the width; a resize that keeps the
    aspect ratio, as every one here, never does.)
    """
    if method == "pil_bilinear":
        x = tf.clip_by_value(tf.round(image), 0.0, 255.0)
        x = _pil_pass(x, width, axis=1)
        return tf.cast(_pil_pass(x, height, axis=0), tf.float32)
    return tf.image.resize(image, tf.stack([height, width]), method="bilinear")


def pad_to_multiple(images, divisor):
    """images [B, H, W, C] zero-padded at the bottom and right to multiples
    of ``divisor`` (torchvision's and detectron2's size_divisibility, 32 for
    FPN: the padded zeros are after normalization, as theirs)."""
    if divisor <= 1:
        return images
    shape = tf.shape(images)
    th, tw = (shape[1] + divisor - 1) // divisor * divisor, (shape[2] + divisor - 1) // divisor * divisor
    return tf.pad(images, [[0, 0], [0, th - shape[1]], [0, tw - shape[2]], [0, 0]])


def input_options(cfg):
    """A config's image preprocessing, as the keywords model_input and
    build_pipeline take: MODEL.PIXEL_NORMALIZATION, RESIZE_ROUNDING,
    SIZE_DIVISIBILITY and RESIZE_METHOD."""
    m = cfg.MODEL
    return {"normalization": m.PIXEL_NORMALIZATION, "rounding": m.RESIZE_ROUNDING,
            "size_divisibility": m.SIZE_DIVISIBILITY, "method": m.RESIZE_METHOD}


def model_input(rgb, scale, max_size, normalization, rounding="round", size_divisibility=1,
                method="bilinear"):
    """One image as the model takes it at test time (demo, export):
    rgb [H, W, 3] (uint8 or float, 0..255) -> (image [1, H', W', 3] resized,
    normalized and padded to size_divisibility, image_size int32 [1, 2], the
    (height, width) before padding)."""
    new_h, new_w, _ = target_size(tf.shape(rgb)[0], tf.shape(rgb)[1], scale, max_size, rounding)
    image = resize_image(tf.cast(rgb, tf.float32), new_h, new_w, method)
    image = pad_to_multiple(normalize(image, normalization)[None], size_divisibility)
    return image, tf.stack([new_h, new_w])[None]


def crop_masks(masks, boxes, size):
    """Each mask cropped to its box and resampled: float32 [M, size, size].

    Args:
      masks: uint8 [M, H, W] full-image bitmaps (0/1); boxes: [M, 4]
        x1 y1 x2 y2 in the same image's continuous pixel coordinates.

    Cell (i, j) takes the bilinear value at the centre of the box's cell,
    x = x1 + (j + 0.5) (x2 - x1) / size (pixel k covers [k, k + 1)), with
    the bitmap's edge pixels extended outward; samples outside the image
    read 0.
    """
    masks = tf.reshape(masks, [tf.shape(masks)[0], tf.shape(masks)[1], tf.shape(masks)[2]])
    height, width = tf.shape(masks)[1], tf.shape(masks)[2]
    # one pixel of edge replication, so the half pixel at the image border
    # interpolates to the edge value, not to crop_and_resize's 0
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")[..., None]
    boxes = tf.cast(boxes, tf.float32)
    n = tf.cast(size, tf.float32)

    def first_last(lo, hi, extent):
        # pixel-index coordinates (+1 for the padding) of the first and last
        # cell centres, normalized as crop_and_resize wants: by padded size - 1
        step = (hi - lo) / n
        first, last = lo + 0.5 * step - 0.5 + 1.0, lo + (n - 0.5) * step - 0.5 + 1.0
        scale = tf.cast(extent + 1, tf.float32)  # (extent + 2) - 1
        return first / scale, last / scale

    y1, y2 = first_last(boxes[:, 1], boxes[:, 3], height)
    x1, x2 = first_last(boxes[:, 0], boxes[:, 2], width)
    crops = tf.image.crop_and_resize(padded, tf.stack([y1, x1, y2, x2], axis=1),
                                     tf.range(tf.shape(masks)[0]), [size, size],
                                     method="bilinear", extrapolation_value=0.0)
    return crops[..., 0]


def preprocess(el, index, *, training, scales, max_size, flip, normalization, seed, with_masks,
               mask_size=112, rounding="round", method="bilinear", scale_group=1):
    """Decode, resize, (flip), normalize one element (the index-th). In
    training the scale is picked per group of scale_group consecutive
    elements (a batch), the flip per element."""
    image = tf_decode(el["encoded"])
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    scales_t = tf.constant(scales, tf.float32)
    seeds = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    if training and len(scales) > 1:
        group = tf.cast(index, tf.int64) // scale_group
        pick = tf.random.stateless_uniform([], tf.stack([tf.cast(seed, tf.int64), group]), 0, len(scales),
                                           dtype=tf.int32)
    else:
        pick = 0
    new_h, new_w, _ = target_size(height, width, scales_t[pick], max_size, rounding)
    image = resize_image(tf.cast(image, tf.float32), new_h, new_w, method)
    sy = tf.cast(new_h, tf.float32) / tf.cast(height, tf.float32)
    sx = tf.cast(new_w, tf.float32) / tf.cast(width, tf.float32)
    boxes = el["boxes"] * tf.stack([sx, sy, sx, sy])
    if training:  # records keep boxes as annotated (records.py); targets need them inside
        size = tf.cast(tf.stack([new_w, new_h, new_w, new_h]), tf.float32)
        boxes = tf.clip_by_value(boxes, 0.0, size)
    masks = None
    if with_masks:
        if "mask_pngs" in el:
            masks = tf.map_fn(lambda png: tf.io.decode_png(png, channels=1)[..., 0], el["mask_pngs"],
                              fn_output_signature=tf.TensorSpec([None, None], tf.uint8))
        else:
            masks = el["masks"]
        # cropped to the box clipped to the image, as training clips the boxes
        limits = tf.cast(tf.stack([width, height, width, height]), tf.float32)
        masks = crop_masks(masks, tf.clip_by_value(el["boxes"], 0.0, limits), mask_size)
    if training and flip:
        do_flip = tf.random.stateless_uniform([], seeds + [0, 7919]) < 0.5
        w_f = tf.cast(new_w, tf.float32)
        flipped = tf.stack([w_f - boxes[:, 2], boxes[:, 1], w_f - boxes[:, 0], boxes[:, 3]], axis=1)
        image = tf.cond(do_flip, lambda: image[:, ::-1], lambda: image)
        boxes = tf.cond(do_flip, lambda: flipped, lambda: boxes)
        if masks is not None:  # the crop of a flipped box is the flipped crop
            masks = tf.cond(do_flip, lambda: masks[:, :, ::-1], lambda: masks)
    image = normalize(image, normalization)
    out = {"image": image, "image_size": tf.stack([new_h, new_w]),
           "original_size": tf.stack([height, width]),
           "boxes": boxes, "classes": el["classes"], "difficult": el["difficult"],
           "crowd": el["crowd"], "num_objects": tf.shape(el["classes"])[0],
           "source_id": el["source_id"]}
    if masks is not None:
        out["masks"] = masks
    return out


def build_pipeline(source, *, training, batch_size=1, scales=(600,), max_size=1000, flip=True,
                   normalization="caffe", seed=0, with_masks=False, mask_size=112, drop_empty=False,
                   shuffle_buffer=256, size_divisibility=1, epochs=1, drop_remainder=False,
                   num_parallel_calls=tf.data.AUTOTUNE, max_pixels=MAX_PIXELS, rounding="round",
                   method="bilinear", cache_bytes=CACHE_BYTES):
    """A tf.data.Dataset of padded batches (see the module docstring).

    Args:
      source: a list of TFRecord paths (or a glob string), or a Dataset.
      training: shuffle, pick a random scale, random horizontal flip.
      scales: shorter-side sizes; training picks one per batch at random
        (its images share it: padded to the largest, images at different
        scales would waste pixels).
      max_size: cap on the longer side.
      normalization: a key of PIXEL_NORMALIZATION (MODEL.PIXEL_NORMALIZATION).
      with_masks: add ``masks``, each cropped to its box at mask_size x
        mask_size (MODEL.MASK_GT_SIZE).
      drop_empty: skip images without any non-crowd object (for training).
      epochs: passes over the data; None repeats forever.
      drop_remainder: drop a last partial batch (static batch size).
      max_pixels: from a Dataset, images with more pixels are skipped (see
        image_check.py); TFRecords were checked by the converter.
      size_divisibility: the batch's images zero-padded to multiples of it
        (MODEL.SIZE_DIVISIBILITY); rounding: target_size's; method:
        resize_image's (MODEL.RESIZE_METHOD).
      cache_bytes: a Dataset whose files and masks fit (fits_in_cache) is
        read once and kept in memory for the later epochs (0: never).
    """
    if isinstance(source, (list, tuple, str)):
        files = sorted(tf.io.gfile.glob(source)) if isinstance(source, str) else list(source)
        if not files:
            raise FileNotFoundError(f"no TFRecord files match {source!r}")
        ds = tf.data.TFRecordDataset(files)
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda s: parse_example(s, with_masks), num_parallel_calls=num_parallel_calls,
                    deterministic=True)
    else:
        ds = _records_generator(source, with_masks, max_pixels)
        if epochs != 1 and cache_bytes > 0 and fits_in_cache(source, with_masks, cache_bytes):
            ds = ds.cache()
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if drop_empty:
        ds = ds.filter(lambda el: tf.reduce_any(tf.logical_not(el["crowd"])))
    ds = ds.repeat(epochs).enumerate()
    ds = ds.map(lambda i, el: preprocess(el, i, training=training, scales=tuple(scales),
                                         max_size=max_size, flip=flip,
                                         normalization=normalization, seed=seed,
                                         with_masks=with_masks, mask_size=mask_size,
                                         rounding=rounding, method=method,
                                         scale_group=max(int(batch_size), 1)),
                num_parallel_calls=num_parallel_calls, deterministic=True)
    pad = {"image": 0.0, "image_size": 0, "original_size": 0, "boxes": 0.0, "classes": -1,
           "difficult": False, "crowd": False, "num_objects": 0, "source_id": ""}
    shapes = {"image": [None, None, 3], "image_size": [2], "original_size": [2], "boxes": [None, 4],
              "classes": [None], "difficult": [None], "crowd": [None], "num_objects": [],
              "source_id": []}
    if with_masks:
        pad["masks"], shapes["masks"] = 0.0, [None, mask_size, mask_size]
    pad = {k: tf.constant(v, ds.element_spec[k].dtype) for k, v in pad.items()}
    ds = ds.padded_batch(batch_size, padded_shapes=shapes, padding_values=pad,
                         drop_remainder=drop_remainder)
    if size_divisibility > 1:
        def _round_up(batch):
            batch["image"] = pad_to_multiple(batch["image"], size_divisibility)
            return batch
        ds = ds.map(_round_up)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
