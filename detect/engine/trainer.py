"""The training loop: a tf.function step, checkpoints, TensorBoard, a console
progress bar, and nothing lost on a crash or interrupt.

  * checkpoints every TRAIN.SNAPSHOT_ITERS iterations and at the end, keeping
    TRAIN.SNAPSHOT_KEEP (tf.train.CheckpointManager: the index is updated only
    after a checkpoint is fully written); ``resume`` restores the step, the
    weights and the optimizer state;
  * a NaN or inf loss stops training with a message naming the loss and the
    iteration, without saving, so the last checkpoint is the last good one;
  * Ctrl-C (KeyboardInterrupt) saves a checkpoint first, then stops;
  * TensorBoard: every loss, the learning rate and iterations per second, and
    now and then the first image of a batch with ground truth (green) and
    detections (red).
"""
import os
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from detect.boxes import box_ops
from detect.datasets.pipeline import denormalize
from detect.engine.solver import build_optimizer, weight_decay_loss

LOSS_NAMES = ("rpn_cls", "rpn_box", "rcnn_cls", "rcnn_box")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; training stopped before saving it."""


class Trainer:
    def __init__(self, cfg, model, dataset, output_dir, log_every=20, image_every=500):
        self.cfg, self.model, self.dataset = cfg, model, dataset
        self.output_dir = output_dir
        self.log_every, self.image_every = log_every, image_every
        self.optimizer, self.schedule = build_optimizer(cfg)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(output_dir, "checkpoints"),
                                                  max_to_keep=cfg.TRAIN.SNAPSHOT_KEEP)
        self.writer = tf.summary.create_file_writer(os.path.join(output_dir, "tensorboard"))

    def build(self, batch=None):
        """Creates the model's and the optimizer's variables (outside any
        tf.function), so that checkpoints restore into existing variables."""
        if self.model.built and self.optimizer.built:
            return
        batch = batch if batch is not None else next(iter(self.dataset))
        self.model.compute_losses(batch, tf.constant([self.cfg.TRAIN.SEED, 0], tf.int32))
        self.model.built = True
        self.optimizer.build(self.model.trainable_variables)

    def restore(self):
        """Restores the latest checkpoint, if any; returns its path or None."""
        path = self.manager.latest_checkpoint
        if path:
            self.build()
            self.checkpoint.restore(path).assert_existing_objects_matched()
        return path

    def _train_step_fn(self):
        model, optimizer, wd = self.model, self.optimizer, self.cfg.TRAIN.WEIGHT_DECAY

        # Image sizes differ between batches: one generalized trace, not one per size.
        @tf.function(reduce_retracing=True)
        def train_step(batch, seed):
            with tf.GradientTape() as tape:
                losses = model.compute_losses(batch, seed)
                total = tf.add_n([losses[k] for k in LOSS_NAMES])
                reg = weight_decay_loss(model.trainable_variables, wd)
                objective = total + reg  # inside the tape, or nothing is recorded
            grads = tape.gradient(objective, model.trainable_variables)
            # A non-finite step is applied too, but training then stops before
            # any checkpoint is written: the last checkpoint stays a good one.
            optimizer.apply_gradients(
                [(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None])
            return dict(losses, total=total, weight_decay=reg)

        return train_step

    def save(self):
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def train(self, max_iters, progress=True):
        """Trains up to max_iters (counting restored iterations)."""
        train_step = self._train_step_fn()
        seed_base = self.cfg.TRAIN.SEED
        start = int(self.step.numpy())
        if start >= max_iters:
            return {}
        bar = tqdm(total=max_iters, initial=start, desc="train", unit="it", disable=not progress,
                   dynamic_ncols=True)
        losses, t_last, it_last = {}, time.time(), start
        data = iter(self.dataset)
        first = next(data)
        self.build(first)
        pending = [first]
        try:
            while int(self.step.numpy()) < max_iters:
                it = int(self.step.numpy())
                batch = pending.pop() if pending else next(data)
                out = train_step(batch, tf.constant([seed_base, it], tf.int32))
                losses = {k: float(v) for k, v in out.items()}
                bad = [k for k in LOSS_NAMES if not np.isfinite(losses[k])]
                if bad:
                    last = self.manager.latest_checkpoint or "none saved yet"
                    raise NonFiniteLossError(
                        f"loss {', '.join(bad)} became {losses[bad[0]]} at iteration {it + 1}; "
                        f"training stopped without saving. Last good checkpoint: {last}. Try a "
                        "lower TRAIN.LEARNING_RATE or a longer TRAIN.WARMUP_ITERS.")
                self.step.assign_add(1)
                it += 1
                bar.update(1)
                bar.set_postfix({k: f"{losses[k]:.3f}" for k in LOSS_NAMES}, refresh=False)
                if it % self.log_every == 0 or it == max_iters:
                    now = time.time()
                    self._log_scalars(it, losses, (it - it_last) / max(now - t_last, 1e-9))
                    t_last, it_last = now, it
                if self.image_every and it % self.image_every == 0:
                    self._log_image(it, batch)
                if it % self.cfg.TRAIN.SNAPSHOT_ITERS == 0:
                    self.save()
        except KeyboardInterrupt:
            path = self.save()
            bar.close()
            print(f"\ninterrupted at iteration {int(self.step.numpy())}: saved {path}; "
                  "resume with --resume")
            raise
        finally:
            bar.close()
            self.writer.flush()
        self.save()
        return losses

    def _log_scalars(self, it, losses, its_per_sec):
        with self.writer.as_default(step=it):
            for k, v in losses.items():
                tf.summary.scalar(f"loss/{k}", v)
            tf.summary.scalar("learning_rate", float(self.schedule(it)))
            tf.summary.scalar("speed/iterations_per_second", its_per_sec)

    def _log_image(self, it, batch):
        image = denormalize(batch["image"][:1], self.cfg.MODEL.PIXEL_NORMALIZATION)
        image = tf.clip_by_value(image, 0, 255) / 255.0
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        boxes, scores, _, valid = self.model.detect(batch["image"][:1], batch["image_size"][:1])
        dets = boxes[0, : int(valid[0])][scores[0, : int(valid[0])] > 0.5]
        n = int(batch["num_objects"][0])
        gt = box_ops.to_tf_image_boxes(batch["boxes"][0, :n], h, w)
        drawn = tf.image.draw_bounding_boxes(image, gt[None], tf.constant([[0.0, 1.0, 0.0, 1.0]]))
        drawn = tf.image.draw_bounding_boxes(drawn, box_ops.to_tf_image_boxes(dets, h, w)[None],
                                             tf.constant([[1.0, 0.0, 0.0, 1.0]]))
        with self.writer.as_default(step=it):
            tf.summary.image("train/gt_green_detections_red", drawn)
