"""Two-stage detectors: Faster R-CNN (Fast R-CNN head) and R-FCN (PS head).

    model = TwoStageDetector.from_cfg(cfg)
    losses = model.compute_losses(batch, seed)     # {"rpn_cls", "rpn_box", "rcnn_cls", "rcnn_box"}
    dets = model.detect(images, image_sizes)      # boxes, scores, classes, valid per image

``batch`` is a pipeline batch (detect/datasets/pipeline.py). The batch size
must be static (one RPN per image is unrolled); everything else is in-graph
TensorFlow, so both run under tf.function.
"""
import keras
import tensorflow as tf

from detect.boxes import box_ops
from detect.boxes.anchors import grid_anchors, reference_anchors
from detect.losses import rcnn_losses, rpn_losses
from detect.modeling.backbones import BACKBONES
from detect.modeling.heads import FastRCNNHead, RFCNHead, RPNHead
from detect.modeling.proposals import generate_proposals
from detect.targets.anchor_targets import anchor_targets
from detect.targets.proposal_targets import sample_rois


class TwoStageDetector(keras.Model):
    def __init__(self, backbone, head, num_classes, *, anchors, stride=16, rpn_train=None,
                 rpn_test=None, rpn_targets=None, roi_sampling=None, bbox_stds=(0.1, 0.1, 0.2, 0.2),
                 rpn_sigma=3.0, rcnn_sigma=1.0, test_nms=0.3, score_thresh=0.05,
                 detections_per_image=100, bbox_vote_iou=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone, self.head, self.num_classes = backbone, head, num_classes
        self.trunk = backbone.trunk  # a Keras attribute, so its weights are tracked
        self.reference_anchors, self.stride = anchors, stride
        self.rpn = RPNHead(len(anchors), channels=backbone.rpn_channels)
        self.rpn_train = rpn_train or {"pre_nms_top_n": 12000, "post_nms_top_n": 2000,
                                       "nms_thresh": 0.7, "min_size": 16}
        self.rpn_test = rpn_test or {"pre_nms_top_n": 6000, "post_nms_top_n": 300,
                                     "nms_thresh": 0.7, "min_size": 16}
        self.rpn_targets = rpn_targets or {}
        self.roi_sampling = dict(roi_sampling or {}, bbox_stds=tuple(bbox_stds))
        self.bbox_stds = tuple(bbox_stds)
        self.rpn_sigma, self.rcnn_sigma = rpn_sigma, rcnn_sigma
        self.test_nms, self.score_thresh = test_nms, score_thresh
        self.detections_per_image = detections_per_image
        self.bbox_vote_iou = bbox_vote_iou  # None: no box voting

    @classmethod
    def from_cfg(cls, cfg):
        m = cfg.MODEL
        builder = BACKBONES.get(m.BACKBONE)
        backbone = builder(weights=m.WEIGHTS, freeze_at=m.FREEZE_AT, stride=m.FEATURE_STRIDE)
        if m.ARCH == "faster_rcnn":
            head = FastRCNNHead(backbone.head, m.POOLED_SIZE or backbone.pooled_size,
                                m.NUM_CLASSES, m.POOLER, m.SAMPLING_RATIO, 1.0 / m.FEATURE_STRIDE)
        elif m.ARCH == "rfcn":
            head = RFCNHead(m.NUM_CLASSES, m.RFCN_GROUP_SIZE, spatial_scale=1.0 / m.FEATURE_STRIDE)
        else:
            raise ValueError(f"MODEL.ARCH must be faster_rcnn or rfcn, got {m.ARCH!r}")
        r, t = cfg.RPN, cfg.TRAIN
        return cls(
            backbone, head, m.NUM_CLASSES,
            anchors=reference_anchors(cfg.ANCHOR.BASE_SIZE, cfg.ANCHOR.RATIOS, cfg.ANCHOR.SCALES),
            stride=m.FEATURE_STRIDE,
            rpn_train={"pre_nms_top_n": r.PRE_NMS_TOP_N_TRAIN, "post_nms_top_n": r.POST_NMS_TOP_N_TRAIN,
                       "nms_thresh": r.NMS_THRESH, "min_size": r.MIN_SIZE},
            rpn_test={"pre_nms_top_n": r.PRE_NMS_TOP_N_TEST, "post_nms_top_n": r.POST_NMS_TOP_N_TEST,
                      "nms_thresh": r.NMS_THRESH, "min_size": r.MIN_SIZE},
            rpn_targets={"positive_overlap": r.POSITIVE_OVERLAP, "negative_overlap": r.NEGATIVE_OVERLAP,
                         "fg_fraction": r.FG_FRACTION, "batch_size": r.BATCH_SIZE,
                         "straddle_thresh": r.STRADDLE_THRESH},
            roi_sampling={"batch_size": t.ROI_BATCH_SIZE, "fg_fraction": t.FG_FRACTION,
                          "fg_thresh": t.FG_THRESH, "bg_thresh_hi": t.BG_THRESH_HI,
                          "bg_thresh_lo": t.BG_THRESH_LO},
            bbox_stds=t.BBOX_STDS, rpn_sigma=t.RPN_SIGMA, rcnn_sigma=t.RCNN_SIGMA,
            test_nms=cfg.TEST.NMS, score_thresh=cfg.TEST.SCORE_THRESH,
            detections_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
            bbox_vote_iou=cfg.TEST.BBOX_VOTE_IOU if cfg.TEST.BBOX_VOTE else None)

    def _rpn(self, images, training):
        features = self.trunk(images, training=training)
        logits, deltas = self.rpn(features)
        shape = tf.shape(features)
        anchors = grid_anchors(self.reference_anchors, shape[1], shape[2], self.stride)
        return features, logits, deltas, anchors

    def _proposals(self, logits, deltas, anchors, size, params):
        boxes, _ = generate_proposals(anchors, tf.sigmoid(logits), deltas, size[0], size[1], **params)
        return tf.stop_gradient(boxes)

    def compute_losses(self, batch, seed, training=True):
        """Named losses of one batch. seed: int32 [2] (sampling)."""
        images = batch["image"]
        features, logits, deltas, anchors = self._rpn(images, training)
        rpn_terms, rois, labels, targets = [], [], [], []
        for i in range(images.shape[0]):
            n = batch["num_objects"][i]
            gt_boxes, gt_classes = batch["boxes"][i, :n], batch["classes"][i, :n]
            gt_crowd = batch["crowd"][i, :n] | batch["difficult"][i, :n]
            size = batch["image_size"][i]
            s = tf.stack([seed[0], seed[1] * 131 + i])
            a_labels, a_targets = anchor_targets(anchors, gt_boxes, gt_crowd, size[0], size[1], s,
                                                 **self.rpn_targets)
            rpn_terms.append(rpn_losses(logits[i], deltas[i], a_labels, a_targets, self.rpn_sigma))
            proposals = self._proposals(logits[i], deltas[i], anchors, size, self.rpn_train)
            r, l, t = sample_rois(proposals, gt_boxes, gt_classes, gt_crowd, s, **self.roi_sampling)
            rois.append(tf.concat([tf.fill([tf.shape(r)[0], 1], float(i)), r], axis=1))
            labels.append(l)
            targets.append(t)
        cls_logits, box_deltas = self.head(features, tf.concat(rois, 0), training=training)
        losses = rcnn_losses(cls_logits, box_deltas, tf.concat(labels, 0), tf.concat(targets, 0),
                             self.rcnn_sigma)
        for key in ("rpn_cls", "rpn_box"):
            losses[key] = tf.add_n([t[key] for t in rpn_terms]) / len(rpn_terms)
        return losses

    def detect(self, images, image_sizes):
        """Detections per image (in the resized image's pixels).

        Returns:
          boxes [B, D, 4], scores [B, D], classes int32 [B, D] (1..C-1),
          valid int32 [B]: the first valid[b] rows of image b are detections.
        """
        features, logits, deltas, anchors = self._rpn(images, False)
        outputs = []
        for i in range(images.shape[0]):
            size = image_sizes[i]
            proposals = self._proposals(logits[i], deltas[i], anchors, size, self.rpn_test)
            rois = tf.concat([tf.fill([tf.shape(proposals)[0], 1], float(i)), proposals], axis=1)
            cls_logits, box_deltas = self.head(features, rois, training=False)
            scores = tf.nn.softmax(cls_logits)[:, 1:]
            c = self.num_classes - 1
            per_class = tf.shape(box_deltas)[1] > 1
            box_deltas = tf.cond(per_class, lambda: box_deltas[:, 1:],
                                 lambda: tf.tile(box_deltas, [1, c, 1]))
            boxes = box_ops.decode(tf.tile(proposals[:, None], [1, c, 1]), box_deltas, self.bbox_stds)
            boxes = box_ops.clip(boxes, size[0], size[1])
            nms = tf.image.combined_non_max_suppression(
                boxes[None], scores[None], self.detections_per_image, self.detections_per_image,
                self.test_nms, self.score_thresh, clip_boxes=False)
            kept, kept_classes = nms.nmsed_boxes[0], tf.cast(nms.nmsed_classes[0], tf.int32)
            if self.bbox_vote_iou is not None:
                kept = box_ops.box_voting(kept, kept_classes, boxes, scores, self.bbox_vote_iou)
            outputs.append((kept, nms.nmsed_scores[0], kept_classes + 1, nms.valid_detections[0]))
        return tuple(tf.stack([o[k] for o in outputs]) for k in range(4))
