"""SGD with momentum, linear warm-up, step or cosine decay, and L2 weight
decay (and the loss scale of mixed_float16)."""
import math

import keras
import tensorflow as tf

from detect.precision import uses_loss_scaling


class WarmupStepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """base_lr * gamma^(number of steps passed), ramped linearly from
    warmup_factor * that over the first warmup_iters iterations."""

    def __init__(self, base_lr, steps, gamma=0.1, warmup_iters=0, warmup_factor=0.001):
        self.base_lr, self.steps, self.gamma = float(base_lr), list(steps), float(gamma)
        self.warmup_iters, self.warmup_factor = int(warmup_iters), float(warmup_factor)

    def decayed(self, step):
        """The learning rate at ``step`` (float32) before the warm-up."""
        decays = tf.add_n([tf.cast(step >= s, tf.float32) for s in self.steps]) if self.steps else 0.0
        return self.base_lr * tf.pow(self.gamma, decays)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr = self.decayed(step)
        if self.warmup_iters > 0:
            alpha = tf.minimum(step / self.warmup_iters, 1.0)
            lr = lr * (self.warmup_factor * (1 - alpha) + alpha)
        return lr

    def get_config(self):
        return {"base_lr": self.base_lr, "steps": self.steps, "gamma": self.gamma,
                "warmup_iters": self.warmup_iters, "warmup_factor": self.warmup_factor}


class WarmupCosineSchedule(WarmupStepSchedule):
    """base_lr * 0.5 * (1 + cos(pi * step / max_iters)): from base_lr at the
    start to 0 at max_iters (SGDR, Loshchilov and Hutter 2017, without
    restarts; detectron2's WarmupCosineLR), with the same linear warm-up."""

    def __init__(self, base_lr, max_iters, warmup_iters=0, warmup_factor=0.001):
        super().__init__(base_lr, [], 1.0, warmup_iters, warmup_factor)
        self.max_iters = int(max_iters)

    def decayed(self, step):
        t = tf.minimum(step / float(max(self.max_iters, 1)), 1.0)
        return self.base_lr * 0.5 * (1.0 + tf.cos(math.pi * t))

    def get_config(self):
        return {"base_lr": self.base_lr, "max_iters": self.max_iters,
                "warmup_iters": self.warmup_iters, "warmup_factor": self.warmup_factor}


def build_optimizer(cfg):
    """(optimizer, schedule): SGD with momentum on the warm-up and step
    (TRAIN.LR_POLICY step: STEPS, GAMMA) or cosine (cosine: to 0 at
    MAX_ITERS) schedule; under TRAIN.PRECISION mixed_float16 wrapped in Keras'
    LossScaleOptimizer (dynamic loss scale, doubled after 2000 finite steps,
    halved on an overflow; precision.py)."""
    t = cfg.TRAIN
    if t.LR_POLICY == "cosine":
        schedule = WarmupCosineSchedule(t.LEARNING_RATE, t.MAX_ITERS, t.WARMUP_ITERS, t.WARMUP_FACTOR)
    else:
        schedule = WarmupStepSchedule(t.LEARNING_RATE, t.STEPS, t.GAMMA, t.WARMUP_ITERS,
                                      t.WARMUP_FACTOR)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=t.MOMENTUM)
    if uses_loss_scaling(t.PRECISION):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer, schedule


def decays(variable):
    """Whether weight decay applies to the variable: kernels only, not
    biases or norms (Caffe / py-faster-rcnn)."""
    return "kernel" in variable.path


def weight_decay_loss(variables, weight_decay):
    """0.5 * wd * sum of squared kernels (biases and norms excluded): the
    Caffe / py-faster-rcnn weight decay as a loss term."""
    kernels = [v for v in variables if decays(v)]
    if not kernels or weight_decay <= 0:
        return tf.constant(0.0)
    # l2_loss(v) = sum(v^2) / 2 in one pass (Square then Sum took twice the time)
    return weight_decay * tf.add_n([tf.nn.l2_loss(v) for v in kernels])


def add_weight_decay(grads, variables, weight_decay, scale=lambda x: x):
    """The gradients of loss + weight_decay_loss from those of the loss:
    g + scale(wd * v) for each kernel (g None, the loss not reaching v: the
    decay term alone). scale: what the loss was scaled by before its
    gradient (1 / replicas, the loss scale).

    Each term is computed once its gradient exists (a control dependency):
    taken through the tape, every wd * v, as large as the weights, would be
    computed at the start of the step and held through all of it (170 MB
    for R50-FPN).
    """
    out = []
    for g, v in zip(grads, variables):
        if weight_decay > 0 and decays(v):
            if g is None:
                g = scale(weight_decay * tf.convert_to_tensor(v))
            else:
                with tf.control_dependencies([g]):
                    g = g + tf.cast(scale(weight_decay * tf.convert_to_tensor(v)), g.dtype)
        out.append(g)
    return out
