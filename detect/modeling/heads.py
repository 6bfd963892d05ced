"""RPN head, Fast R-CNN box head and R-FCN position-sensitive head."""
import keras
import tensorflow as tf

from detect.ops import ps_roi_pool, roi_align, roi_pool


class RPNHead(keras.layers.Layer):
    """3x3 conv + ReLU, then per anchor an objectness logit and 4 deltas.

    call(features [B, h, w, C]) -> (logits [B, h * w * A], deltas [B, h * w * A, 4]),
    ordered (h, w, anchor) like ``grid_anchors``.
    """

    def __init__(self, num_anchors, channels=512, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.num_anchors = num_anchors
        self.conv = keras.layers.Conv2D(channels, 3, padding="same", activation="relu",
                                        kernel_initializer=init, name="rpn_conv")
        self.cls = keras.layers.Conv2D(num_anchors, 1, kernel_initializer=init, name="rpn_cls")
        self.box = keras.layers.Conv2D(4 * num_anchors, 1, kernel_initializer=init, name="rpn_box")

    def call(self, features):
        x = self.conv(features)
        b = tf.shape(features)[0]
        return (tf.reshape(self.cls(x), [b, -1]), tf.reshape(self.box(x), [b, -1, 4]))


class FastRCNNHead(keras.layers.Layer):
    """RoI op -> backbone box head -> class logits [K, C] and class-specific
    deltas [K, C, 4]. pooler: roi_pool (Fast R-CNN) or roi_align."""

    def __init__(self, backbone_head, pooled_size, num_classes, pooler="roi_pool",
                 sampling_ratio=2, spatial_scale=1.0 / 16, **kwargs):
        super().__init__(**kwargs)
        if pooler not in ("roi_pool", "roi_align"):
            raise ValueError(f"MODEL.POOLER must be roi_pool or roi_align, got {pooler!r}")
        self.body, self.pooled_size, self.num_classes = backbone_head, pooled_size, num_classes
        self.pooler, self.sampling_ratio, self.spatial_scale = pooler, sampling_ratio, spatial_scale
        self.cls = keras.layers.Dense(num_classes, name="cls_score",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        self.box = keras.layers.Dense(4 * num_classes, name="bbox_pred",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))

    def call(self, features, rois, training=False):
        if self.pooler == "roi_pool":
            pooled = roi_pool(features, rois, self.pooled_size, self.spatial_scale)
        else:
            pooled = roi_align(features, rois, self.pooled_size, self.spatial_scale,
                               self.sampling_ratio, aligned=True)
        x = self.body(pooled, training=training)
        return self.cls(x), tf.reshape(self.box(x), [-1, self.num_classes, 4])


class RFCNHead(keras.layers.Layer):
    """R-FCN: k x k position-sensitive score maps for the classes and for a
    class-agnostic box, PS-RoI pooled and averaged (voting).

    call(features, rois) -> (logits [K, C], deltas [K, 1, 4]).
    """

    def __init__(self, num_classes, group_size=7, channels=512, spatial_scale=1.0 / 16, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.num_classes, self.group_size, self.spatial_scale = num_classes, group_size, spatial_scale
        self.reduce = keras.layers.Conv2D(channels, 1, activation="relu", kernel_initializer=init,
                                          name="rfcn_reduce")
        self.cls_maps = keras.layers.Conv2D(group_size * group_size * num_classes, 1,
                                            kernel_initializer=init, name="rfcn_cls")
        self.box_maps = keras.layers.Conv2D(group_size * group_size * 4, 1,
                                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                            name="rfcn_bbox")

    def call(self, features, rois, training=False):
        x = self.reduce(features)
        k = self.group_size
        cls = ps_roi_pool(self.cls_maps(x), rois, self.num_classes, k, self.spatial_scale)
        box = ps_roi_pool(self.box_maps(x), rois, 4, k, self.spatial_scale)
        return tf.reduce_mean(cls, axis=[1, 2]), tf.reduce_mean(box, axis=[1, 2])[:, None, :]
