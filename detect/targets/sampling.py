"""Seeded, in-graph subsampling shared by the anchor and RoI samplers."""
import tensorflow as tf


def random_subset(mask, max_count, seed):
    """Bool [N]: at most ``max_count`` of the True entries of ``mask``, chosen
    uniformly at random by a stateless function of ``seed`` (int32 [2])."""
    noise = tf.random.stateless_uniform(tf.shape(mask), seed)
    # True entries get keys in [0, 1), the rest 2: the first max_count
    # smallest keys are a uniform random subset of the True entries.
    keys = tf.where(mask, noise, 2.0)
    order = tf.argsort(keys)
    rank = tf.scatter_nd(order[:, None], tf.range(tf.size(mask)), tf.shape(mask))
    return tf.logical_and(mask, rank < tf.cast(max_count, tf.int32))


def sub_seed(seed, salt):
    """A different stateless seed for each use of one base seed."""
    return tf.stack([tf.cast(seed[0], tf.int32), tf.cast(seed[1], tf.int32) * 7919 + salt])
