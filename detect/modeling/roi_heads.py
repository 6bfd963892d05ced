"""RoI heads: sampled RoIs -> class logits and box deltas -> losses.

  faster_rcnn  StandardROIHeads: a pooler (roi_pool / roi_align, one level
               or FPN levels), a box head (box_heads.py) and the Fast R-CNN
               predictor (class logits and class-specific deltas).
  rfcn         RFCNROIHeads: k x k position-sensitive score maps for the
               classes and a class-agnostic box, PS-RoI pooled and averaged.
Both share the RoI sampling (targets/proposal_targets.py) and the losses
(``rcnn_cls``, ``rcnn_box``), and return their losses as a dict, so a head
with more outputs adds its own names: with a mask head (MODEL.MASK_HEAD,
Mask R-CNN) StandardROIHeads also pools 14 x 14 RoIAlign features of the
foreground RoIs and adds ``mask``.

``call(features, rois)`` -> (logits [K, C], deltas [K, C, 4] or [K, 1, 4]);
rois [K, 5] = (batch index, x1, y1, x2, y2) in input pixels. Logits, deltas
and mask logits are float32 under any dtype policy (TRAIN.PRECISION), so the
losses and the post-processing run in float32.
"""
import keras
import tensorflow as tf

from detect.losses import mask_loss, rcnn_losses
from detect.modeling.box_heads import BOX_HEADS
from detect.modeling.mask_heads import MASK_HEADS
from detect.modeling.poolers import ROIPooler
from detect.modeling.registry import Registry
from detect.ops import ps_roi_pool
from detect.targets.mask_targets import mask_targets
from detect.targets.proposal_targets import sample_rois
from detect.targets.sampling import random_subset, sub_seed

ROI_HEADS = Registry("RoI heads (MODEL.ARCH)")


def batch_rois(boxes_per_image):
    """[K, 5] RoIs from a list of [K_i, 4] boxes, one per image of the batch."""
    return tf.concat([tf.concat([tf.fill([tf.shape(b)[0], 1], float(i)), b], axis=1)
                      for i, b in enumerate(boxes_per_image)], axis=0)


def at_least_one_roi(rois):
    """rois [K, 5], with a zero RoI appended when K = 0: TensorFlow's oneDNN
    convolution returns a wrongly shaped tensor for an empty batch (a conv
    head on an image without proposals or detections). Slice the outputs
    back to K."""
    pad = tf.maximum(1 - tf.shape(rois)[0], 0)
    return tf.concat([rois, tf.zeros([pad, 5], rois.dtype)], axis=0)


class ROIHeads(keras.layers.Layer):
    """RoI sampling and the Fast R-CNN losses around a subclass's ``call``.

    Args:
      num_classes: C, including the background.
      sampling: sample_rois' keywords (batch_size, fg_fraction, ...).
      bbox_stds: box-target normalization; sigma: smooth L1 sigma.
    """

    def __init__(self, num_classes, sampling=None, bbox_stds=(0.1, 0.1, 0.2, 0.2), sigma=1.0,
                 **kwargs):
        # autocast=False: the RoIs stay float32 under mixed precision (their
        # sub-layers cast the features themselves)
        super().__init__(autocast=False, **kwargs)
        self.num_classes, self.sigma = num_classes, sigma
        self.bbox_stds = tuple(bbox_stds)
        self.sampling = dict(sampling or {}, bbox_stds=self.bbox_stds)

    @staticmethod
    def common_args(cfg):
        """The keywords every RoI head takes from cfg."""
        t = cfg.TRAIN
        return {"sampling": {"batch_size": t.ROI_BATCH_SIZE, "fg_fraction": t.FG_FRACTION,
                             "fg_thresh": t.FG_THRESH, "bg_thresh_hi": t.BG_THRESH_HI,
                             "bg_thresh_lo": t.BG_THRESH_LO},
                "bbox_stds": t.BBOX_STDS, "sigma": t.RCNN_SIGMA, "name": "roi_heads"}

    def losses(self, features, proposals, targets, seeds, training=True):
        """Named losses of the sampled RoIs.

        Args:
          proposals: per image [P_i, 4]; targets: per image a dict of
            "boxes" [G, 4], "classes" [G], "crowd" [G] (and "masks"
            [G, S, S] for a mask head); seeds: per image int32 [2].
        """
        rois, labels, box_targets, matches = [], [], [], []
        for p, t, seed in zip(proposals, targets, seeds):
            r, lb, bt, m = sample_rois(p, t["boxes"], t["classes"], t["crowd"], seed, **self.sampling)
            rois.append(r)
            labels.append(lb)
            box_targets.append(bt)
            matches.append(m)
        logits, deltas = self(features, batch_rois(rois), training=training)
        losses = rcnn_losses(logits, deltas, tf.concat(labels, 0), tf.concat(box_targets, 0), self.sigma)
        losses.update(self.extra_losses(features, rois, labels, matches, targets, training, seeds))
        return losses

    def extra_losses(self, features, rois, labels, matches, targets, training, seeds):
        """Losses of further branches (a mask), from the sampled RoIs of each
        image (rois [R_i, 4], labels [R_i], matches [R_i]; seeds: per image
        int32 [2]); none here."""
        return {}

    @property
    def has_masks(self):
        return False


@ROI_HEADS.register("faster_rcnn")
class StandardROIHeads(ROIHeads):
    """Args: pooler (poolers.ROIPooler), box_head (box_heads.py), num_classes;
    for Mask R-CNN mask_pooler (RoIAlign, e.g. 14 x 14) and mask_head
    (mask_heads.py), and mask_rois: foreground RoIs per image the mask head
    trains on (0: all)."""

    def __init__(self, pooler, box_head, num_classes, mask_pooler=None, mask_head=None, mask_rois=0,
                 **kwargs):
        super().__init__(num_classes, **kwargs)
        self.mask_rois = int(mask_rois)
        self.pooler, self.body = pooler, box_head
        if (mask_pooler is None) != (mask_head is None):
            raise ValueError("a mask branch needs both mask_pooler and mask_head")
        self.mask_pooler, self.mask_head = mask_pooler, mask_head
        self.cls = keras.layers.Dense(num_classes, name="cls_score",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        self.box = keras.layers.Dense(4 * num_classes, name="bbox_pred",
                                      kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))

    @classmethod
    def from_cfg(cls, cfg, backbone, strides):
        """strides: {level name: stride} of the features the heads see.
        MODEL.POOLER_LEVELS picks the pooled ones (default: all)."""
        m = cfg.MODEL
        default_name, default_dim = backbone.default_box_head
        name = m.BOX_HEAD or default_name
        dim = m.BOX_HEAD_DIM or (default_dim if name == default_name else 0)
        box_head = BOX_HEADS.get(name)(weights=m.WEIGHTS, **({"dim": dim} if dim else {}),
                                       **BOX_HEADS.options(name, cfg))
        # default: every level, less a neck's extra ones (FPN's P6 is for the RPN)
        top = max(cfg.FPN.IN_LEVELS) if m.NECK else max(int(n[1:]) for n in strides)
        pooled = {n: s for n, s in strides.items() if int(n[1:]) <= top}
        if m.POOLER_LEVELS:
            pooled = {n: s for n, s in strides.items() if int(n[1:]) in m.POOLER_LEVELS}
            if len(pooled) != len(m.POOLER_LEVELS):
                raise ValueError(f"MODEL.POOLER_LEVELS {list(m.POOLER_LEVELS)}: the features have "
                                 f"levels {sorted(strides, key=strides.get)}")
        levels = {"canonical_size": m.POOLER_CANONICAL_SIZE, "canonical_level": m.POOLER_CANONICAL_LEVEL,
                  "aligned": m.POOLER_ALIGNED, "level_mapping": m.POOLER_LEVEL_MAPPING}
        pooler = ROIPooler(m.POOLER, m.POOLED_SIZE or box_head.pooled_size, pooled, m.SAMPLING_RATIO,
                           **levels, name="pooler")
        mask = {}
        if m.MASK_HEAD:  # detectron2: RoIAlignV2 14 x 14, adaptive sampling, the box levels
            mask["mask_pooler"] = ROIPooler("roi_align", m.MASK_POOLED_SIZE, pooled,
                                            m.MASK_SAMPLING_RATIO, **levels, name="mask_pooler")
            mask["mask_head"] = MASK_HEADS.get(m.MASK_HEAD)(m.NUM_CLASSES, m.MASK_HEAD_CONVS,
                                                            m.MASK_HEAD_DIM, norm=m.MASK_HEAD_NORM,
                                                            norm_eps=cfg.RESNETS.NORM_EPS,
                                                            name="mask_head")
            mask["mask_rois"] = cfg.TRAIN.MASK_ROIS_PER_IMAGE
        return cls(pooler, box_head, m.NUM_CLASSES, **mask, **cls.common_args(cfg))

    def call(self, features, rois, training=False):
        k = tf.shape(rois)[0]
        x = self.body(self.pooler(features, at_least_one_roi(rois)), training=training)
        return (tf.cast(self.cls(x)[:k], tf.float32),
                tf.cast(tf.reshape(self.box(x), [-1, self.num_classes, 4])[:k], tf.float32))

    def build(self, *shapes):
        # the sub-layers build on their first call; the mask branch's comes
        # through mask_logits, not call
        self.built = True

    @property
    def has_masks(self):
        return self.mask_head is not None

    def mask_logits(self, features, rois, classes):
        """[K, M, M] logits of each RoI's mask for its class.

        rois: [K, 5] (batch index, x1, y1, x2, y2), input pixels;
        classes: int32 [K] (1..C-1).
        """
        k = tf.shape(rois)[0]
        rois = at_least_one_roi(rois)
        classes = tf.concat([classes, tf.zeros([tf.shape(rois)[0] - k], classes.dtype)], axis=0)
        maps = self.mask_head(self.mask_pooler(features, rois))  # [K, M, M, C]
        logits = tf.gather(tf.transpose(maps, [0, 3, 1, 2]), classes, axis=1, batch_dims=1)[:k]
        return tf.cast(logits, tf.float32)

    def extra_losses(self, features, rois, labels, matches, targets, training, seeds):
        """``mask``: over the foreground RoIs of the batch (detectron2
        trains the mask branch on the sampled foreground RoIs), or over a
        random subset of at most ``mask_rois`` of them per image (TF Model
        Garden's num_sampled_masks; TRAIN.MASK_ROIS_PER_IMAGE)."""
        if self.mask_head is None:
            return {}
        fg_rois, fg_labels, fg_targets = [], [], []
        size = 2 * self.mask_pooler.output_size
        for r, lb, m, t, seed in zip(rois, labels, matches, targets, seeds):
            fg = lb > 0
            if self.mask_rois:
                fg = random_subset(fg, self.mask_rois, sub_seed(seed, 5))
            fg = tf.where(fg)[:, 0]
            boxes = tf.gather(r, fg)
            fg_rois.append(boxes)
            fg_labels.append(tf.gather(lb, fg))
            fg_targets.append(mask_targets(boxes, t["boxes"], t["masks"], tf.gather(m, fg), size))
        logits = self.mask_logits(features, batch_rois(fg_rois), tf.concat(fg_labels, 0))
        return mask_loss(logits, tf.concat(fg_targets, 0))


@ROI_HEADS.register("rfcn")
class RFCNROIHeads(ROIHeads):
    """R-FCN on one feature level: a 1x1 conv to ``channels``, then k x k x C
    class maps and k x k x 4 box maps, PS-RoI pooled and averaged (voting)."""

    def __init__(self, level, stride, num_classes, group_size=7, channels=512, **kwargs):
        super().__init__(num_classes, **kwargs)
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.level, self.group_size, self.spatial_scale = level, group_size, 1.0 / stride
        self.reduce = keras.layers.Conv2D(channels, 1, activation="relu", kernel_initializer=init,
                                          name="rfcn_reduce")
        self.cls_maps = keras.layers.Conv2D(group_size * group_size * num_classes, 1,
                                            kernel_initializer=init, name="rfcn_cls")
        self.box_maps = keras.layers.Conv2D(group_size * group_size * 4, 1,
                                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                            name="rfcn_bbox")

    @classmethod
    def from_cfg(cls, cfg, backbone, strides):
        if len(strides) != 1:
            raise ValueError(f"R-FCN runs on one feature level, got {sorted(strides)}; "
                             "leave MODEL.NECK empty")
        if cfg.MODEL.MASK_HEAD:
            raise ValueError(f"MODEL.MASK_HEAD {cfg.MODEL.MASK_HEAD!r} needs MODEL.ARCH faster_rcnn "
                             "(Mask R-CNN); R-FCN has no mask branch")
        (level, stride), = strides.items()
        return cls(level, stride, cfg.MODEL.NUM_CLASSES, cfg.MODEL.RFCN_GROUP_SIZE,
                   **cls.common_args(cfg))

    def call(self, features, rois, training=False):
        x = self.reduce(features[self.level])
        k = self.group_size
        cls = ps_roi_pool(self.cls_maps(x), rois, self.num_classes, k, self.spatial_scale)
        box = ps_roi_pool(self.box_maps(x), rois, 4, k, self.spatial_scale)
        return (tf.cast(tf.reduce_mean(cls, axis=[1, 2]), tf.float32),
                tf.cast(tf.reduce_mean(box, axis=[1, 2])[:, None, :], tf.float32))
