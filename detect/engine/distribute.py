"""tf.distribute for training (TRAIN.STRATEGY, ``train_net.py --strategy``).

  default       TensorFlow's default strategy: one device, the trainer as it
                always was.
  mirrored      MirroredStrategy over every local GPU; on a machine without
                one, over its CPU devices (``--cpu-devices N`` splits the CPU
                into N logical devices, to test N replicas on one machine).
  multi_worker  MultiWorkerMirroredStrategy over the machines listed in the
                TF_CONFIG environment variable, each with every local GPU
                (or its CPU); the same command runs on every worker.

How the trainer (trainer.py) uses a strategy:
  * batch: TRAIN.IMS_PER_BATCH is the global batch; each replica gets
    IMS_PER_BATCH / replicas images (``per_replica_batch``: an error if it
    does not divide); the learning rate is the config's, for the global batch;
  * reductions: a replica's objective (its losses, each a mean over its
    images, plus weight decay) is divided by the number of replicas, and the
    gradients are summed over the replicas (the optimizer's all-reduce): the
    gradient of the global batch's mean, with weight decay counted once.
    Losses normalized by a count that differs between images (the foreground
    RoIs of the mask loss; the RoIs of an image with fewer than
    TRAIN.ROI_BATCH_SIZE) are averaged per replica, as under detectron2's
    DistributedDataParallel;
  * sampling: image i of replica r samples its anchors and RoIs with the
    seed of index r x per-replica batch + i in the global batch, as on one
    device;
  * BatchNorm: frozen layers stay frozen (ResNet); trainable ones (the tiny
    backbone's) use the global batch's statistics (Keras' synchronized
    BatchNorm, ``sync_batchnorm``), so N replicas compute what one device
    does on the global batch;
  * input: ``strategy.distribute_datasets_from_function``; each worker reads
    its own share (``shard_source``: every n-th TFRecord file, or every n-th
    image of a Dataset), so each image is seen once per epoch across workers;
  * checkpoints and TensorBoard: the chief (worker 0) writes them; the other
    workers write into a temporary folder that is removed at the end; every
    worker resumes from the chief's checkpoints folder (``--output`` on a
    filesystem every worker sees), checked with ``same_on_every_worker``;
  * a worker that dies: TensorFlow's coordination service notices the
    missing heartbeats within seconds and fails the others' collectives
    (tf.errors.UnavailableError); a worker that hangs: every collective has a
    deadline (TRAIN.COLLECTIVE_TIMEOUT, tf.errors.DeadlineExceededError).
    train_net.py turns either into a message and exit code 4; restarting
    every worker with --resume continues from the last checkpoint.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import uuid

import keras
import numpy as np
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
# The errors a collective raises when a peer died, hung or cut the connection.
CLUSTER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                  tf.errors.AbortedError, tf.errors.CancelledError)


class DistributionError(ValueError):
    """Settings that cannot work under the strategy (a bad TF_CONFIG, a batch
    that does not divide, too few TFRecord files for the workers ...)."""


def split_cpu(count):
    """Splits the first CPU into ``count`` logical devices (mirrored training
    on one CPU, for tests). Must run before TensorFlow initializes its
    devices (before any op)."""
    if count < 1:
        raise DistributionError(f"--cpu-devices must be >= 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as e:
        raise DistributionError(f"--cpu-devices {count}: TensorFlow's devices are already initialized "
                                f"in this process ({e}); split the CPU before anything runs") from None


def read_tf_config():
    """The TF_CONFIG environment variable as a dict; a DistributionError if
    it is missing or not a cluster description."""
    text = os.environ.get("TF_CONFIG", "")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text.strip():
        raise DistributionError("--strategy multi_worker reads the cluster from the TF_CONFIG "
                                f"environment variable, which is not set; on each worker set e.g. "
                                f"{example} (index: that worker's place in the list; docs/training.md)")
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as e:
        raise DistributionError(f"TF_CONFIG is not valid JSON ({e}); expected e.g. {example}") from None
    cluster, task = (conf.get("cluster"), conf.get("task")) if isinstance(conf, dict) else (None, None)
    if not isinstance(cluster, dict) or not isinstance(task, dict) or not cluster:
        raise DistributionError(f"TF_CONFIG needs a \"cluster\" and a \"task\"; got {text!r}; "
                                f"expected e.g. {example}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise DistributionError(f"TF_CONFIG's task {task} is not in its cluster {cluster}")
    return conf


def build_strategy(name, collective_timeout=0):
    """The tf.distribute strategy ``name`` (one of STRATEGIES).

    collective_timeout: multi_worker only, seconds a cross-worker
    reduction may wait for its peers before it fails (0: no limit).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        conf = read_tf_config()
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=float(collective_timeout) if collective_timeout else None)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except (tf.errors.OpError, RuntimeError) as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DistributionError(f"could not start {conf['task']} of the cluster in TF_CONFIG "
                                    f"({reason[:300]}); is its address free and reachable?") from None
    raise DistributionError(f"TRAIN.STRATEGY must be one of {', '.join(STRATEGIES)}, got {name!r}")


def cluster_error_reason(error):
    """The informative line of a collective's error (TensorFlow puts the
    reason after a Python stack): e.g. "cluster check alive failed,
    /job:worker/replica:0/task:1 is down"."""
    text = getattr(error, "message", None) or str(error)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for l in lines:
        if "aborted by:" in l:
            return l.split("aborted by:", 1)[1].strip()
    useful = [l for l in lines if not l.startswith(("[[", "File ", "Detected at node", "Graph execution"))
              and not l.endswith(":")]
    return (useful or lines or [type(error).__name__])[-1]


def describe(strategy, name):
    """One line: the strategy (``name``, one of STRATEGIES), its replicas and
    devices, and this worker's place in the cluster."""
    if name == "default":
        return "strategy: default (one device)"
    n = strategy.num_replicas_in_sync
    devices = ", ".join(strategy.extended.worker_devices)
    line = f"strategy: {name}, {n} replica{'s' if n > 1 else ''} ({devices})"
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.cluster_spec().as_dict():
        workers = strategy.extended._num_workers  # pylint: disable=protected-access
        role = "the chief" if is_chief(strategy) else "not the chief"
        line += f" on {workers} workers; this is {resolver.task_type} {resolver.task_id} ({role})"
    return line


def fingerprint(variables):
    """A short hash of the variables' values (every worker of a cluster
    prints the same one at the end of training)."""
    digest = hashlib.sha1()
    for v in variables:
        digest.update(np.ascontiguousarray(v.numpy()).tobytes())
    return digest.hexdigest()[:16]


def is_chief(strategy):
    """Whether this process writes the checkpoints and TensorBoard logs."""
    return bool(strategy.extended.should_checkpoint)


def worker_dir(strategy, output_dir):
    """Where this process writes: output_dir on the chief; on any other
    worker a temporary folder of its own (a path; created by the first
    write, removed with ``remove_worker_dir``)."""
    if is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    name = f"detect_{resolver.task_type}{resolver.task_id}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    return os.path.join(tempfile.gettempdir(), name)


def remove_worker_dir(strategy, path, output_dir):
    """Removes a non-chief worker's temporary folder (never output_dir)."""
    if os.path.abspath(path) != os.path.abspath(output_dir):
        shutil.rmtree(path, ignore_errors=True)


def per_replica_batch(global_batch, strategy, strategy_name="mirrored"):
    """Images per replica; a DistributionError if TRAIN.IMS_PER_BATCH does
    not divide among the replicas."""
    n = strategy.num_replicas_in_sync
    if global_batch % n:
        up = -(-global_batch // n) * n
        raise DistributionError(f"TRAIN.IMS_PER_BATCH {global_batch} is the global batch and must "
                                f"divide among the {n} replicas of --strategy {strategy_name}; set it "
                                f"to a multiple of {n} (e.g. --set TRAIN.IMS_PER_BATCH {up})")
    return global_batch // n


def shard_source(source, num_shards, index):
    """This input pipeline's share of the training data.

    source: a list of TFRecord files (each pipeline reads every
    num_shards-th file, from ``index``) or a Dataset (every num_shards-th
    image). One shard: the source as it is.
    """
    if num_shards <= 1:
        return source
    if isinstance(source, (list, tuple)):
        files = sorted(source)
        if len(files) < num_shards:
            raise DistributionError(f"{len(files)} TFRecord files for {num_shards} workers: each worker "
                                    f"reads whole files; write at least {num_shards} shards "
                                    f"(tools/convert_*.py --shards {num_shards})")
        return files[index::num_shards]
    shard = source.records[index::num_shards]
    if not shard:
        raise DistributionError(f"{source.name} has {len(source.records)} images, fewer than the "
                                f"{num_shards} workers")
    return dataclasses.replace(source, records=shard)


def sync_batchnorm(model):
    """Makes every trainable BatchNorm layer of model use the statistics of
    the global batch (Keras' synchronized BatchNorm); frozen ones are left
    alone. Returns how many layers it changed."""
    changed = 0
    layers = model._flatten_layers(include_self=False, recursive=True)  # pylint: disable=protected-access
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            layer.synchronized = True
            changed += 1
    return changed


def local_values(strategy, structure):
    """The first local replica's part of a (possibly distributed) structure."""
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], structure)


def distribute_batch(strategy, batch):
    """A global batch (dict of tensors, images along axis 0) split into
    consecutive per-replica slices: replica r gets images
    [r * B / N, (r + 1) * B / N) of this worker's batch. For tests and
    benchmarks on one worker; training reads through
    distribute_datasets_from_function."""
    n = strategy.num_replicas_in_sync
    if n == 1:
        return batch
    size = int(batch["image"].shape[0])
    if size % n:
        raise DistributionError(f"a batch of {size} images does not split among {n} replicas")
    k = size // n

    def part(context):
        r = context.replica_id_in_sync_group
        return {key: v[r * k:(r + 1) * k] for key, v in batch.items()}
    return strategy.experimental_distribute_values_from_function(part)


def same_on_every_worker(strategy, value):
    """Whether a number is the same in every replica (e.g. the iteration a
    worker resumed from); a collective: every worker must call it."""
    if strategy.num_replicas_in_sync == 1:
        return True
    x = tf.constant(float(value), tf.float64)

    @tf.function
    def sums():
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.stack([x, x * x])),
                               axis=None)
    total = sums().numpy()
    n = strategy.num_replicas_in_sync
    return bool(abs(total[0] - n * float(value)) < 0.5 and abs(total[1] - n * float(value) ** 2) < 0.5)
