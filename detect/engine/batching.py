"""How a recipe's global batch is made on the devices at hand: replicas x
images per device x accumulation steps.

TRAIN.IMS_PER_BATCH is the recipe's global batch (detectron2's 16 images,
written for 8 GPUs of 2). TRAIN.IMS_PER_DEVICE bounds the images one
replica puts through the model at once. Each iteration, every replica takes
its share of the global batch (IMS_PER_BATCH / replicas images, padded to
one size by the input pipeline), runs it as ``accumulation`` micro-steps of
IMS_PER_DEVICE images one after another, sums their gradients and applies
one update. Learning rate, schedule, warm-up and iteration count therefore
mean what the recipe says, on one CPU or on 8 GPUs.

What a split does not change (the trainer's step, trainer.py):
  * each micro-step's objective is divided by replicas x accumulation, so
    the summed gradient is that of the global batch's mean loss; the weight
    decay is added once, to the sum;
  * image j of micro-step k of replica r samples its anchors and RoIs with
    the seed of its index in the global batch, r x per replica + k x
    per device + j;
  * the micro-batches are slices of the replica's padded batch: the same
    pixels whatever the split.
So 4 images as 1 x 4, 2 x 2 or 4 x 1 give the same update (within float
rounding; tests/engine/accumulation_check.py). The micro-steps run in a
tf.while_loop (one micro-batch's activations in memory at a time); with
synchronized BatchNorm across replicas (the tiny backbone under a
MirroredStrategy), whose reduction TensorFlow does not allow inside a loop,
they are unrolled and chained by control dependencies instead. What a split does change,
as a split over replicas does under DistributedDataParallel: a loss
normalized by a count that differs between images (the mask loss, over
the foreground RoIs) is a mean per micro-batch, and BatchNorm layers that
train (only the tiny backbone's; ResNet's are frozen) see each
micro-batch's statistics and update their moving averages once per
micro-step.
"""
import dataclasses

import tensorflow as tf

from detect.engine.distribute import DistributionError, per_replica_batch


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """global_batch = replicas x per_device x accumulation; per_replica =
    per_device x accumulation (the images a replica's pipeline batches)."""
    global_batch: int
    replicas: int
    per_device: int
    accumulation: int

    @property
    def per_replica(self):
        return self.per_device * self.accumulation

    def smaller(self):
        """The next smaller images per device that divides a replica's
        share (None at 1)."""
        fits = dividing(self.per_replica, self.per_device - 1)
        return fits[-1] if fits else None

    def describe(self):
        """e.g. 'global batch 16 = 1 replica x 2 images x 8 accumulation steps'."""
        r, d, a = self.replicas, self.per_device, self.accumulation
        return (f"global batch {self.global_batch} = {r} replica{'s' if r > 1 else ''} x {d} "
                f"image{'s' if d > 1 else ''} x {a} accumulation step{'s' if a > 1 else ''}")


def plan_batch(global_batch, strategy, ims_per_device, strategy_name="mirrored"):
    """The BatchPlan of TRAIN.IMS_PER_BATCH (global_batch) on the strategy's
    replicas with at most ims_per_device images at once (TRAIN.IMS_PER_DEVICE).

    Raises DistributionError if the global batch does not divide among the
    replicas, or a replica's share not into equal micro-batches.
    """
    per_replica = per_replica_batch(global_batch, strategy, strategy_name)
    n = strategy.num_replicas_in_sync
    per_device, accumulation = split_share(
        per_replica, ims_per_device,
        f"TRAIN.IMS_PER_BATCH {global_batch} over {n} replica{'s' if n > 1 else ''} is {per_replica} "
        "images per replica")
    return BatchPlan(global_batch, n, per_device, accumulation)


def dividing(per_replica, at_most):
    """The images per device, up to at_most, that divide a replica's share
    into equal micro-batches (ascending)."""
    return [d for d in range(1, min(per_replica, at_most) + 1) if per_replica % d == 0]


def split_share(per_replica, ims_per_device, what=None):
    """(images per micro-step, micro-steps) for a replica's per_replica
    images and at most ims_per_device at once (0, or more than the share:
    the whole share in one step). A DistributionError if they do not
    divide; what: the start of its message."""
    per_device = per_replica if ims_per_device <= 0 else min(int(ims_per_device), per_replica)
    if per_replica % per_device:
        fits = dividing(per_replica, per_device)
        raise DistributionError(
            f"{what or f'a batch of {per_replica} images per replica'}, which TRAIN.IMS_PER_DEVICE "
            f"{ims_per_device} does not divide into equal micro-batches; set TRAIN.IMS_PER_DEVICE to "
            f"one of {', '.join(str(d) for d in fits)} (e.g. --set TRAIN.IMS_PER_DEVICE {fits[-1]}), "
            f"or TRAIN.IMS_PER_BATCH to a multiple of {per_device}")
    return per_device, per_replica // per_device


def micro_batch(batch, k, per_device, accumulation):
    """Micro-batch k (a scalar tensor or int) of a replica's batch: images
    [k x per_device, (k + 1) x per_device) of every entry (each entry's
    first axis is the image). Static shapes: [per_device, ...]."""
    def part(v):
        split = tf.reshape(v, tf.concat([[accumulation, per_device], tf.shape(v)[1:]], 0))
        out = tf.gather(split, k)
        return tf.ensure_shape(out, [per_device] + v.shape[1:].as_list())
    return {key: part(v) for key, v in batch.items()}
