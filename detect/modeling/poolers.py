"""RoI feature extraction from one feature level or several (FPN).

Single level: the RoI op on that level (spatial_scale = 1 / stride).
Several levels: each RoI is assigned to level
``floor(canonical_level + log2(sqrt(area) / canonical_size))`` clamped to the
pooled levels (FPN paper, eq. 1: a 224 x 224 RoI goes to level 4), one op
call per level, and the outputs are put back in RoI order.
"""
import keras
import tensorflow as tf

from detect.ops import roi_align, roi_pool

OPS = ("roi_pool", "roi_align")


def assign_levels(boxes, min_level, max_level, canonical_size=224, canonical_level=4,
                  mapping="detectron2"):
    """Level of each box [K, 4] (x1, y1, x2, y2, input pixels): int32 [K].

    Both zoos add a small number so that sizes exactly at a boundary are not
    floored one level down by rounding error, in different places:
    ``mapping`` detectron2: floor(level0 + log2(s / s0 + 1e-8));
    torchvision (LevelMapper): floor(level0 + log2(s / s0) + 1e-6).
    Degenerate boxes (zero area) go to min_level.
    """
    w = tf.maximum(boxes[:, 2] - boxes[:, 0], 0.0)
    h = tf.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
    size = tf.sqrt(w * h)
    if mapping == "torchvision":
        level = tf.floor(canonical_level + tf.math.log(size / canonical_size) / tf.math.log(2.0)
                         + 1e-6)
    else:
        level = tf.floor(canonical_level + tf.math.log(size / canonical_size + 1e-8) / tf.math.log(2.0))
    return tf.cast(tf.clip_by_value(level, min_level, max_level), tf.int32)


class ROIPooler(keras.layers.Layer):
    """call(features {name: [B, h, w, C]}, rois [K, 5]) -> [K, P, P, C].

    Args:
      op: roi_pool (Fast R-CNN) or roi_align (aligned=True, ROIAlignV2).
      output_size: P, bins per side.
      strides: {level name: stride} of the levels to pool from ("c4", or
        "p2".."p5"); names end in their level number.
      sampling_ratio: roi_align's samples per bin side (<= 0: adaptive).
      aligned: roi_align's half-pixel shift (detectron2's ROIAlignV2; False:
        torchvision's and Detectron's RoIAlign).
      level_mapping: assign_levels' ``mapping``.
    """

    def __init__(self, op, output_size, strides, sampling_ratio=0, canonical_size=224,
                 canonical_level=4, aligned=True, level_mapping="detectron2", **kwargs):
        # autocast=False: under mixed precision Keras would cast the RoIs'
        # float32 pixel coordinates to float16 (0.5 px steps at 1000 px)
        super().__init__(autocast=False, **kwargs)
        if op not in OPS:
            raise ValueError(f"MODEL.POOLER must be one of {OPS}, got {op!r}")
        if not strides:
            raise ValueError("the pooler needs at least one feature level")
        self.op, self.output_size, self.sampling_ratio = op, output_size, sampling_ratio
        self.names = sorted(strides, key=strides.get)
        self.strides = dict(strides)
        self.level_numbers = [int(n[1:]) for n in self.names]
        self.canonical_size, self.canonical_level = canonical_size, canonical_level
        self.aligned, self.level_mapping = aligned, level_mapping

    def _pool(self, features, rois, stride):
        if self.op == "roi_pool":
            return roi_pool(features, rois, self.output_size, 1.0 / stride)
        return roi_align(features, rois, self.output_size, 1.0 / stride, self.sampling_ratio,
                         aligned=self.aligned)

    def call(self, features, rois):
        if len(self.names) == 1:
            name = self.names[0]
            return self._pool(features[name], rois, self.strides[name])
        levels = assign_levels(rois[:, 1:], self.level_numbers[0], self.level_numbers[-1],
                               self.canonical_size, self.canonical_level, self.level_mapping)
        indices, pooled = [], []
        for name, k in zip(self.names, self.level_numbers):
            idx = tf.cast(tf.where(tf.equal(levels, k))[:, 0], tf.int32)
            indices.append(idx)
            pooled.append(self._pool(features[name], tf.gather(rois, idx), self.strides[name]))
        return tf.dynamic_stitch(indices, pooled)
