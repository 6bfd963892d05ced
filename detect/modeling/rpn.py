"""Region Proposal Network (Ren et al. 2015) over one feature level or many.

One head (3x3 conv + ReLU, then an objectness logit and 4 deltas per anchor)
is shared by all levels; each level has its own reference anchors, shifted by
its stride. Training: anchor targets over the anchors of all levels together,
the ``rpn_cls`` / ``rpn_box`` losses, and proposals; inference: proposals
(proposals.py: per-level top-k, merged NMS, top-n).
"""
import keras
import numpy as np
import tensorflow as tf

from detect.boxes.anchors import corner_anchors, grid_anchors, image_strides, reference_anchors
from detect.losses import rpn_losses
from detect.modeling.conv import BoundedConv2D, PointwiseConv2D
from detect.modeling.proposals import generate_proposals
from detect.targets.anchor_targets import anchor_targets


class RPNHead(keras.layers.Layer):
    """3x3 conv + ReLU (``num_convs`` of them: torchvision's v2 has 2), then
    per anchor an objectness logit and 4 deltas.

    call(features [B, h, w, C]) -> (logits [B, h * w * A], deltas [B, h * w * A, 4]),
    ordered (h, w, anchor) like ``grid_anchors``; float32 under any dtype
    policy (mixed precision computes the convs in float16 / bfloat16).
    """

    def __init__(self, num_anchors, channels=512, num_convs=1, **kwargs):
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.num_anchors = num_anchors
        self.conv = BoundedConv2D(channels, 3, padding="same", activation="relu",
                                  kernel_initializer=init, name="rpn_conv")
        # further convs as attributes (checkpoints reach attributes, not lists)
        for i in range(2, num_convs + 1):
            setattr(self, f"conv{i}", BoundedConv2D(channels, 3, padding="same", activation="relu",
                                                    kernel_initializer=init, name=f"rpn_conv{i}"))
        self.num_convs = num_convs
        self.cls = PointwiseConv2D(num_anchors, 1, kernel_initializer=init, name="rpn_cls")
        self.box = PointwiseConv2D(4 * num_anchors, 1, kernel_initializer=init, name="rpn_box")

    def call(self, features):
        x = self.conv(features)
        for i in range(2, self.num_convs + 1):
            x = getattr(self, f"conv{i}")(x)
        b = tf.shape(features)[0]
        return (tf.cast(tf.reshape(self.cls(x), [b, -1]), tf.float32),
                tf.cast(tf.reshape(self.box(x), [b, -1, 4]), tf.float32))


class RPN(keras.layers.Layer):
    """call(features {name: [B, h, w, C]}, image_shape) -> per-level lists
    (in stride order) of logits [B, A_l], deltas [B, A_l, 4] and anchors
    [A_l, 4]. image_shape: int32 [2], the padded batch's (height, width);
    with ``strides_from_image`` the anchors' strides are
    anchors.image_strides of it (torchvision), else the level's stride.

    Args:
      reference_anchors: {level name: [A, 4]} anchors at cell (0, 0), the
        same count A on every level (anchors.py).
      strides: {level name: stride}.
      channels: width of the shared 3x3 conv.
      train, test: proposal settings (generate_proposals' keywords).
      targets: anchor_targets' keywords; sigma: smooth L1 sigma of rpn_box.
      head_convs: the head's 3x3 convs (RPN.HEAD_CONVS).
      strides_from_image: ANCHOR.STYLE torchvision: each level's anchor
        stride is image size // map size per axis, as torchvision's
        AnchorGenerator computes it (61 for P6 of an 800-pixel side).
    """

    def __init__(self, reference_anchors, strides, channels, *, train, test, targets=None,
                 sigma=3.0, head_convs=1, strides_from_image=False, **kwargs):
        super().__init__(**kwargs)
        counts = {len(a) for a in reference_anchors.values()}
        if len(counts) != 1:
            raise ValueError(f"every level needs the same number of anchors, got {sorted(counts)}")
        self.levels = sorted(reference_anchors, key=strides.get)
        self.reference_anchors, self.strides = reference_anchors, strides
        self.head = RPNHead(counts.pop(), channels=channels, num_convs=head_convs, name="rpn_head")
        self.train_params, self.test_params = dict(train), dict(test)
        self.target_params, self.sigma = dict(targets or {}), sigma
        self.strides_from_image = strides_from_image

    @classmethod
    def from_cfg(cls, cfg, strides, channels):
        """The RPN of cfg over levels {name: stride}; channels: the shared
        conv's width unless RPN.CONV_CHANNELS sets it."""
        r, a = cfg.RPN, cfg.ANCHOR
        names = sorted(strides, key=strides.get)
        if len(names) == 1 and a.STYLE == "py-faster-rcnn":
            anchors = {names[0]: reference_anchors(a.BASE_SIZE, a.RATIOS, a.SCALES)}
        else:
            # several levels: one size each; the zoos' one level (C4): all of
            # them there, size-major (detectron2's order)
            sizes = [list(a.SIZES)] if len(names) == 1 else [[size] for size in a.SIZES]
            if not a.SIZES or len(sizes) != len(names):
                raise ValueError(f"ANCHOR.SIZES needs one anchor size per level ({', '.join(names)}), "
                                 f"got {list(a.SIZES)}")
            if a.STYLE == "py-faster-rcnn":
                # base = the stride: the reference anchor is centred in its cell
                anchors = {n: reference_anchors(strides[n], a.RATIOS, [s[0] / strides[n]])
                           for n, s in zip(names, sizes)}
            else:  # the model zoos': centred on the cell's corner
                anchors = {n: np.concatenate([corner_anchors(size, a.RATIOS, a.STYLE == "torchvision")
                                              for size in s]) for n, s in zip(names, sizes)}
        return cls(anchors, strides, r.CONV_CHANNELS or channels,
                   train={"pre_nms_top_n": r.PRE_NMS_TOP_N_TRAIN, "post_nms_top_n": r.POST_NMS_TOP_N_TRAIN,
                          "nms_thresh": r.NMS_THRESH, "min_size": r.MIN_SIZE,
                          "per_level_nms": r.PROPOSALS == "per_level",
                          "rank_by_logit": r.RANK_BY == "logit"},
                   test={"pre_nms_top_n": r.PRE_NMS_TOP_N_TEST, "post_nms_top_n": r.POST_NMS_TOP_N_TEST,
                         "nms_thresh": r.NMS_THRESH, "min_size": r.MIN_SIZE,
                         "per_level_nms": r.PROPOSALS == "per_level",
                          "rank_by_logit": r.RANK_BY == "logit"},
                   targets={"positive_overlap": r.POSITIVE_OVERLAP,
                            "negative_overlap": r.NEGATIVE_OVERLAP, "fg_fraction": r.FG_FRACTION,
                            "batch_size": r.BATCH_SIZE, "straddle_thresh": r.STRADDLE_THRESH},
                   sigma=cfg.TRAIN.RPN_SIGMA, head_convs=r.HEAD_CONVS,
                   strides_from_image=a.STYLE == "torchvision", name="rpn")

    def call(self, features, image_shape=None):
        logits, deltas, anchors = [], [], []
        for name in self.levels:
            f = features[name]
            lg, dt = self.head(f)
            shape = tf.shape(f)
            logits.append(lg)
            deltas.append(dt)
            stride = self.strides[name]
            if self.strides_from_image:
                if image_shape is None:
                    raise ValueError("ANCHOR.STYLE torchvision: the RPN needs the padded image's "
                                     "(height, width), call(features, image_shape)")
                stride = image_strides(image_shape[0], image_shape[1], shape[1], shape[2])
            anchors.append(grid_anchors(self.reference_anchors[name], shape[1], shape[2], stride))
        return logits, deltas, anchors

    def losses(self, outputs, i, gt_boxes, gt_crowd, image_size, seed):
        """{"rpn_cls", "rpn_box"} of image i of the batch (anchors of all levels)."""
        logits, deltas, anchors = outputs
        all_anchors = tf.concat(anchors, 0) if len(anchors) > 1 else anchors[0]
        labels, targets = anchor_targets(all_anchors, gt_boxes, gt_crowd, image_size[0],
                                         image_size[1], seed, **self.target_params)
        lg = tf.concat([x[i] for x in logits], 0) if len(logits) > 1 else logits[0][i]
        dt = tf.concat([x[i] for x in deltas], 0) if len(deltas) > 1 else deltas[0][i]
        return rpn_losses(lg, dt, labels, targets, self.sigma)

    def proposals(self, outputs, i, image_size, training):
        """Proposals [P, 4] of image i (no gradient flows back through them)."""
        logits, deltas, anchors = outputs
        params = self.train_params if training else self.test_params
        # per-level proposals take logits: their top-k ranks by logit, then
        # NMS and the final cut by probability or logit (rank_by_logit)
        score = (lambda x: x) if params.get("per_level_nms") else tf.sigmoid
        boxes, _ = generate_proposals(anchors, [score(x[i]) for x in logits],
                                      [x[i] for x in deltas], image_size[0], image_size[1], **params)
        return tf.stop_gradient(boxes)
