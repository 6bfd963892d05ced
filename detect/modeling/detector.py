"""The two-stage detector as a composition (detectron2's GeneralizedRCNN):

    images -> backbone -> (neck, e.g. FPN) -> RPN -> proposals -> RoI heads

    model = build_model(cfg)                        # detect/modeling/build.py
    losses = model.compute_losses(batch, seed)      # {"rpn_cls", "rpn_box", "rcnn_cls", ..., "mask"}
    out = model.detect(images, image_sizes)         # {"boxes", "scores", "classes", "num_detections",
                                                    #  "masks" (Mask R-CNN)}

``batch`` is a pipeline batch (detect/datasets/pipeline.py). The batch size
must be static (the per-image RPN targets and sampling are unrolled);
everything else is in-graph TensorFlow, so both run under tf.function.
"""
import keras
import tensorflow as tf

from detect.modeling.postprocess import rescale_boxes


class GeneralizedRCNN(keras.Model):
    """Args:
      backbone: images -> {level: features} (backbones.py).
      rpn: the proposal generator (rpn.py); roi_heads: roi_heads.py.
      postprocessor: head outputs -> detections (postprocess.py).
      neck: None, or {level: features} -> {level: features} (fpn.py).
    """

    def __init__(self, backbone, rpn, roi_heads, postprocessor, neck=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone, self.neck, self.rpn, self.roi_heads = backbone, neck, rpn, roi_heads
        self.postprocessor = postprocessor

    @property
    def num_classes(self):
        return self.roi_heads.num_classes

    def features(self, images, training=False):
        """{level: [B, h, w, C]}: the backbone's levels, through the neck if any."""
        features = self.backbone(images, training=training)
        return self.neck(features) if self.neck is not None else features

    def compute_losses(self, batch, seed, training=True, image_offset=0):
        """Named losses of one batch: an open dict, to be summed whatever
        its keys. seed: int32 [2] (anchor and RoI sampling); image i samples
        with ``[seed[0], seed[1] * 131 + image_offset + i]``. image_offset:
        the index of this batch's first image in the global batch (under a
        tf.distribute strategy: replica id x images per replica), so that an
        image samples the same wherever it runs."""
        images = batch["image"]
        masks = self.roi_heads.has_masks
        if masks and "masks" not in batch:
            raise ValueError("the model has a mask head (MODEL.MASK_HEAD) but the batch has no "
                             "masks: build the pipeline with with_masks=True, from a dataset "
                             "with masks (COCO format)")
        features = self.features(images, training)
        rpn_out = self.rpn(features, tf.shape(images)[1:3])
        rpn_terms, proposals, targets, seeds = [], [], [], []
        for i in range(images.shape[0]):
            n = batch["num_objects"][i]
            gt_boxes, gt_classes = batch["boxes"][i, :n], batch["classes"][i, :n]
            gt_crowd = batch["crowd"][i, :n] | batch["difficult"][i, :n]
            size = batch["image_size"][i]
            s = tf.stack([seed[0], seed[1] * 131 + tf.cast(image_offset, tf.int32) + i])
            rpn_terms.append(self.rpn.losses(rpn_out, i, gt_boxes, gt_crowd, size, s))
            proposals.append(self.rpn.proposals(rpn_out, i, size, training=True))
            targets.append({"boxes": gt_boxes, "classes": gt_classes, "crowd": gt_crowd})
            if masks:
                targets[-1]["masks"] = batch["masks"][i, :n]
            seeds.append(s)
        losses = dict(self.roi_heads.losses(features, proposals, targets, seeds, training=training))
        for key in rpn_terms[0]:
            losses[key] = tf.add_n([t[key] for t in rpn_terms]) / len(rpn_terms)
        return losses

    def detect(self, images, image_sizes, original_sizes=None):
        """Detections per image.

        Args:
          images: [B, H, W, 3] preprocessed; image_sizes: int32 [B, 2], the
            valid (height, width) of each; original_sizes: int32 [B, 2], the
            images' sizes before resizing, or None.

        Returns a dict: boxes [B, D, 4] (x1, y1, x2, y2; original-image
        pixels when original_sizes is given, else input pixels), scores
        [B, D], classes int32 [B, D] (1..C-1), num_detections int32 [B]: the
        first num_detections[b] rows of image b are detections. With a mask
        head also masks [B, D, M, M]: each detection's mask probabilities
        (of its class) over its box, zeros past num_detections; paste them
        into the image with postprocess.paste_masks.
        """
        features = self.features(images, False)
        rpn_out = self.rpn(features, tf.shape(images)[1:3])
        outputs = []
        for i in range(images.shape[0]):
            size = image_sizes[i]
            proposals = self.rpn.proposals(rpn_out, i, size, training=False)
            rois = tf.concat([tf.fill([tf.shape(proposals)[0], 1], float(i)), proposals], axis=1)
            logits, deltas = self.roi_heads(features, rois, training=False)  # RoIs of image i
            boxes, scores, classes, n = self.postprocessor(proposals, logits, deltas, size)
            out = {"boxes": boxes, "scores": scores, "classes": classes, "num_detections": n}
            if self.roi_heads.has_masks:  # on the detections only, as detectron2
                out["masks"] = self._masks(features, i, boxes, classes, n)
            if original_sizes is not None:
                out["boxes"] = rescale_boxes(boxes, size, original_sizes[i])
            outputs.append(out)
        return {k: tf.stack([o[k] for o in outputs]) for k in outputs[0]}

    def _masks(self, features, i, boxes, classes, n):
        """[D, M, M] mask probabilities of image i's first n detections
        (boxes in input pixels), zero-padded to D rows."""
        rois = tf.concat([tf.fill([n, 1], float(i)), boxes[:n]], axis=1)
        probs = tf.sigmoid(self.roi_heads.mask_logits(features, rois, classes[:n]))
        return tf.pad(probs, [[0, tf.shape(boxes)[0] - n], [0, 0], [0, 0]])
