"""The training loop: a tf.function step, checkpoints, TensorBoard, a console
progress bar, and nothing lost on a crash or interrupt.

  * the objective is the sum of every loss the model's ``compute_losses``
    returns (an open dict of named losses) plus weight decay;
  * checkpoints every TRAIN.SNAPSHOT_ITERS iterations and at the end, keeping
    TRAIN.SNAPSHOT_KEEP (tf.train.CheckpointManager: the index is updated only
    after a checkpoint is fully written); leftovers of a killed save
    (``ckpt-N_temp/``, ``checkpoint.tmp*``) are removed when training starts;
    ``restore`` brings back the step, the weights and the optimizer state,
    and refuses a checkpoint that does not fit the model or holds NaN/inf;
  * nothing non-finite is applied or saved: inside the step, the update is
    applied only if the objective, every gradient and the BatchNorm
    statistics are finite (else those statistics are put back), and training
    stops with a message naming the loss, the iteration and the last good
    checkpoint; every variable (model and optimizer) is checked before each
    save;
  * Ctrl-C (KeyboardInterrupt) saves a checkpoint first, then stops;
  * TensorBoard: every loss, the learning rate and iterations per second, and
    now and then the first image of a batch with ground truth (green) and
    detections (red);
  * under any tf.distribute strategy (``strategy``; distribute.py): one step
    function for all, whose replicas each compute their share of the global
    batch's objective and gradients; the decision to apply the update is
    taken on every replica's finiteness flags together, so all replicas
    apply or skip as one; only the chief writes checkpoints and TensorBoard;
  * gradient accumulation (batching.py): a replica's share of the global
    batch runs as micro-steps of TRAIN.IMS_PER_DEVICE images, one after
    another in a tf.while_loop; their gradients are summed and applied as
    one update, so TRAIN.IMS_PER_BATCH, the learning rate and the schedule
    are the recipe's on any machine; finiteness and the loss scale apply to
    the summed gradient;
  * memory (memory_check.py): the first iteration is watched; if it takes
    more than 90% of the machine's memory training stops with a message
    naming the TRAIN.IMS_PER_DEVICE that fits, not the kernel's silent
    kill; a device out of memory later saves a checkpoint first;
  * mixed_float16 (precision.py): a step whose loss-scaled gradients
    overflow is skipped (nothing applied, BatchNorm statistics put back) and
    the loss scale halved; it still counts as an iteration. Training stops
    only if MAX_SKIPPED_STEPS steps in a row overflow;
  * ``profile=(start, stop)``: a TensorFlow profiler trace of those
    iterations (profiling.py);
  * ``evaluator`` / ``eval_period``: evaluation every eval_period
    iterations and at the end, after a checkpoint of that iteration, its
    figures in the same event files (periodic_eval.py).
"""
import contextlib
import glob
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from detect.boxes import box_ops
from detect.datasets.pipeline import denormalize
from detect.engine import batching, distribute
from detect.engine.checkpoint import (NonFiniteCheckpointError, NonFiniteError, list_checkpoints,
                                      non_finite_variables, restore_checkpoint)
from detect.engine.memory_check import MemoryCheck
from detect.engine.profiling import StepProfiler
from detect.engine.solver import add_weight_decay, build_optimizer, weight_decay_loss

CHECKPOINT_NAME = "ckpt"  # checkpoint files are <output>/checkpoints/ckpt-<iteration>.*
MAX_SKIPPED_STEPS = 20  # mixed_float16: loss-scale overflows in a row before training stops


class NonFiniteLossError(NonFiniteError):
    """A loss, a gradient or a BatchNorm statistic became NaN or inf; that
    step's update was not applied and training stopped."""


class NoTrainingDataError(ValueError):
    """The training data yielded no batch at all (every image skipped)."""


def _all_finite(tensors):
    """A scalar bool tensor: every element of every tensor is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(t.values if isinstance(t, tf.IndexedSlices) else t))
             for t in tensors]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


class Trainer:
    """Args:
      model: built under ``strategy.scope()`` (its variables are created
        there, on the first call).
      dataset: an iterable of batches (a tf.data.Dataset), or a function
        (tf.distribute.InputContext -> tf.data.Dataset of per-replica
        batches) for ``strategy.distribute_datasets_from_function``.
      strategy: a tf.distribute strategy (None: the default, one device).
    """

    def __init__(self, cfg, model, dataset, output_dir, log_every=20, image_every=500, strategy=None):
        self.cfg, self.model = cfg, model
        self.strategy = strategy or tf.distribute.get_strategy()
        if callable(dataset) and not isinstance(dataset, tf.data.Dataset):
            dataset = self.strategy.distribute_datasets_from_function(dataset)
        self.dataset = dataset
        self.output_dir = output_dir
        self.chief = distribute.is_chief(self.strategy)
        # where this process writes: output_dir, or a temporary folder on a worker that is not the chief
        self.write_dir = distribute.worker_dir(self.strategy, output_dir)
        self.checkpoint_dir = os.path.join(output_dir, "checkpoints")  # every worker resumes from it
        self.log_every, self.image_every = log_every, image_every
        with self.strategy.scope():
            self.optimizer, self.schedule = build_optimizer(cfg)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.loss_scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        # trainable BatchNorm layers made synchronized (a collective in the step)
        self.synchronized = distribute.sync_batchnorm(model) if self.strategy.num_replicas_in_sync > 1 else 0
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(self.checkpoint,
                                                  os.path.join(self.write_dir, "checkpoints"),
                                                  max_to_keep=cfg.TRAIN.SNAPSHOT_KEEP,
                                                  checkpoint_name=CHECKPOINT_NAME)
        self.writer = None  # created when training starts: a failed resume adds no file to the run
        self.skipped = 0  # mixed_float16 steps skipped for a loss-scale overflow
        self.profile_table = None  # the op table of a profile=(start, stop) run
        # evaluation while training: a callable (iteration -> None) run every
        # eval_period iterations and at the end, by the chief (periodic_eval.py)
        self.evaluator, self.eval_period = None, 0
        self.loss_names = None  # the model's losses, by name (set by build)

    def build(self, batch=None):
        """Creates the model's and the optimizer's variables (outside any
        tf.function), so that checkpoints restore into existing variables,
        and learns the names of the model's losses (``loss_names``)."""
        if self.model.built and self.optimizer.built and self.loss_names:
            return
        batch = batch if batch is not None else next(iter(self.dataset))
        batch = distribute.local_values(self.strategy, batch)
        seed = tf.constant([self.cfg.TRAIN.SEED, 0], tf.int32)
        with self.strategy.scope():
            # training=False: no BatchNorm statistics change (each worker
            # would have put its own batch's there)
            def losses(b):
                return self.model.compute_losses(b, seed, training=False)

            if self.strategy.num_replicas_in_sync == 1:
                # Traced, not run: the first trace creates the variables and
                # nothing is computed. Run eagerly, a Keras functional
                # backbone holds all its activations at once (1.9 GB for
                # R50-FPN on 600 x 1000, more than a training step). Mirrored
                # variables cannot be created in a trace (their replicas'
                # initial values read the first replica's).
                names = tf.function(losses).get_concrete_function(batch).structured_outputs
            else:
                names = losses(batch)
            self.loss_names = sorted(names)
            self.model.built = True
            if not self.optimizer.built:
                self.optimizer.build(self.model.trainable_variables)

    def _saved_variables(self):
        return list(self.model.variables) + list(self.optimizer.variables)

    def restore(self):
        """Restores the latest checkpoint, if any; returns its path or None.

        Raises (engine/checkpoint.restore_checkpoint) CheckpointMismatchError
        if it does not fit the model (another backbone, anchors, classes ...),
        NonFiniteCheckpointError if it holds NaN or inf, CheckpointError if
        it cannot be read. Either way the files on disk are left as they are.
        """
        existing = list_checkpoints(self.checkpoint_dir)
        if not existing:
            return None
        path = existing[-1]
        self.build()
        older = [os.path.basename(p) for p in existing[:-1]]
        with self.strategy.scope():
            restore_checkpoint(
                self.checkpoint, path, self._saved_variables(),
                if_non_finite=f"refusing to resume from it. Delete its files ({path}.index, "
                              f"{path}.data-*) to resume from the one before"
                              f"{' (' + ', '.join(older) + ')' if older else ' (there is none)'}, or "
                              "start a new --output.")
        return path

    def remove_temporaries(self):
        """Removes what a killed save left in this run's checkpoints folder
        (``ckpt-N_temp/`` shards, ``checkpoint.tmp*`` index files); returns
        the removed paths."""
        d = self.manager.directory
        found = sorted(glob.glob(os.path.join(d, f"{CHECKPOINT_NAME}-*_temp"))
                       + glob.glob(os.path.join(d, "checkpoint.tmp*")))
        for p in found:
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        return found

    def _train_step_fn(self, batch_spec=None):
        """The tf.function of one step. batch_spec: the batches' TypeSpec
        (the dataset's element_spec: any image size), traced once; None
        traces for the first batch's shapes, then once more for any size."""
        model, optimizer, wd = self.model, self.optimizer, self.cfg.TRAIN.WEIGHT_DECAY
        strategy, replicas, loss_scaled = self.strategy, self.strategy.num_replicas_in_sync, self.loss_scaled
        trained = []  # the variables with a gradient, in the order of the gradients (set when traced)

        def state_variables():
            # Statistics the forward pass updates (BatchNorm moving mean and
            # variance): kept, to be put back if this step is not applied.
            # Frozen weights never change in a step: not copied every step.
            return [v for v in model.non_trainable_variables
                    if v.path.endswith(("moving_mean", "moving_variance"))]

        def micro_step(batch, seed, offset, divisor):
            """One micro-batch: its losses, and the gradients (None where
            the loss does not reach a variable) of its objective divided
            by divisor (replicas x accumulation steps) and loss-scaled."""
            with tf.GradientTape() as tape:
                losses = model.compute_losses(batch, seed, image_offset=offset)
                if not losses or {"total", "weight_decay"} & set(losses):
                    raise ValueError("compute_losses must return a non-empty dict of named losses, "
                                     f"none named 'total' or 'weight_decay'; got {sorted(losses)}")
                total = tf.add_n([losses[k] for k in sorted(losses)])  # every loss counts
                scaled = total / divisor if divisor > 1 else total
                scaled = optimizer.scale_loss(scaled) if loss_scaled else scaled
            return dict(losses, total=total), tape.gradient(scaled, model.trainable_variables)

        def accumulate(batch, seed, offset):
            """The micro-steps of a replica's batch, one after another
            (batching.py): the mean of their losses and the sum of their
            gradients (None where no micro-step's loss reaches a variable)."""
            per_device, accumulation = batching.split_share(batch["image"].shape[0],
                                                            self.cfg.TRAIN.IMS_PER_DEVICE)
            if accumulation == 1:
                return micro_step(batch, seed, offset, replicas)
            if self.synchronized:
                return unrolled(batch, seed, offset, per_device, accumulation)
            variables = model.trainable_variables
            reached = []  # per variable: does the loss reach it? (set when the body is traced)

            def body(k, sums, grads):
                part = batching.micro_batch(batch, k, per_device, accumulation)
                losses, g = micro_step(part, seed, offset + k * per_device, replicas * accumulation)
                reached[:] = [x is not None for x in g]
                g = [tf.zeros_like(v) if x is None else tf.convert_to_tensor(x)
                     for x, v in zip(g, variables)]
                sums = [total + tf.cast(losses[name], tf.float32) / accumulation
                        for total, name in zip(sums, names)]
                return k + 1, sums, [a + b for a, b in zip(grads, g)]

            names = sorted(self.loss_names) + ["total"]
            _, sums, grads = tf.while_loop(
                lambda k, *_: k < accumulation, body,
                (tf.constant(0), [tf.constant(0.0)] * len(names), [tf.zeros_like(v) for v in variables]),
                parallel_iterations=1)  # one micro-batch in memory at a time
            return dict(zip(names, sums)), [g if r else None for g, r in zip(grads, reached)]

        def unrolled(batch, seed, offset, per_device, accumulation):
            """The micro-steps as a Python loop, each started after the one
            before has its gradients (control dependencies): synchronized
            BatchNorm's cross-replica reduction cannot sit inside a
            tf.while_loop under a MirroredStrategy. Only for the small models
            whose BatchNorm trains (the tiny backbone); the graph holds one
            copy of the step per micro-step."""
            sums, grads, done = {}, [None] * len(model.trainable_variables), []
            for k in range(accumulation):
                with tf.control_dependencies(done):
                    part = batching.micro_batch(batch, k, per_device, accumulation)
                losses, g = micro_step(part, seed, offset + k * per_device, replicas * accumulation)
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + tf.cast(value, tf.float32) / accumulation
                grads = [a if b is None else tf.convert_to_tensor(b) if a is None
                         else a + tf.convert_to_tensor(b) for a, b in zip(grads, g)]
                done = [tf.group([x for x in grads if x is not None])]
            return sums, grads

        def forward_backward(batch, seed):
            """One replica: its losses, its gradients (of every micro-step
            together), and 1.0 where its objective, gradients, BatchNorm
            statistics are not finite."""
            context = tf.distribute.get_replica_context()
            offset = tf.cast(context.replica_id_in_sync_group, tf.int32) * batch["image"].shape[0]

            def scale(x):
                # The weight decay's share of this replica (added once to the
                # accumulated gradient): summed over the replicas by the
                # all-reduce it counts once; loss-scaled as the losses.
                x = x / replicas if replicas > 1 else x
                return optimizer.scale_loss(x) if loss_scaled else x

            losses, grads = accumulate(batch, seed, offset)
            # The weight decay's gradient is added to the loss's, not taken
            # through the tape (add_weight_decay says why).
            reg = weight_decay_loss(model.trainable_variables, wd)
            objective = losses["total"] + reg
            variables = model.trainable_variables
            pairs = [(g, v) for g, v in zip(add_weight_decay(grads, variables, wd, scale), variables)
                     if g is not None]
            trained[:] = [v for _, v in pairs]
            grads = [g for g, _ in pairs]
            bad = tf.cast(tf.logical_not(tf.stack([tf.math.is_finite(objective), _all_finite(grads),
                                                   _all_finite(state_variables())])), tf.float32)
            out = dict(losses, weight_decay=reg)
            return {k: v / replicas for k, v in out.items()} if replicas > 1 else out, grads, bad

        # Image sizes differ between batches: one generalized trace, not one per size.
        signature = None if batch_spec is None else [batch_spec, tf.TensorSpec([2], tf.int32)]

        @tf.function(reduce_retracing=True, input_signature=signature)
        def train_step(batch, seed):
            """-> (losses + total + weight_decay, each the global batch's;
            {"loss", "grads", "state"}: finite on every replica?). The
            update is applied only when all three are True."""
            state = state_variables()
            before = [tf.identity(v) for v in state]
            losses, grads, bad = strategy.run(forward_backward, (batch, seed))
            bad = strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None)  # replicas with NaN/inf
            losses = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in losses.items()}
            finite = {"loss": bad[0] == 0, "grads": bad[1] == 0, "state": bad[2] == 0}

            def apply():
                strategy.run(lambda g: optimizer.apply_gradients(zip(g, trained)), (grads,))
                return tf.constant(True)

            def undo():
                for v, b in zip(state, before):
                    v.assign(b)
                if loss_scaled:  # as LossScaleOptimizer does on an overflow; the iteration counts
                    optimizer.dynamic_scale.assign(optimizer.dynamic_scale * 0.5)
                    optimizer.step_counter.assign(0)
                    optimizer.iterations.assign_add(1)
                return tf.constant(False)

            tf.cond(finite["loss"] & finite["grads"] & finite["state"], apply, undo)
            return losses, finite

        return train_step

    def save(self):
        """Writes checkpoint ckpt-<step>, after checking every variable (model
        and optimizer) is finite; raises NonFiniteCheckpointError if not."""
        bad = non_finite_variables(self._saved_variables())
        if bad:
            raise NonFiniteCheckpointError(
                f"not saving iteration {int(self.step.numpy())}: {len(bad)} variables hold NaN or inf "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}). Last good checkpoint: "
                f"{self.last_checkpoint() or 'none saved yet'}.")
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def train(self, max_iters, progress=True, profile=None):
        """Trains up to max_iters (counting restored iterations).

        profile: None, or (start, stop): a TensorFlow profiler trace of
        iterations start..stop (1-based, inclusive) into
        <output>/tensorboard/plugins/profile, and a table of the most
        expensive ops printed (profiling.py; the chief only).
        """
        try:
            return self._train(max_iters, progress, profile)
        finally:
            distribute.remove_worker_dir(self.strategy, self.write_dir, self.output_dir)

    def _train(self, max_iters, progress, profile):
        train_step = self._train_step_fn(getattr(self.dataset, "element_spec", None))
        seed_base = self.cfg.TRAIN.SEED
        start = int(self.step.numpy())
        self._evaluate_missed(start, max_iters)
        if start >= max_iters:
            return {}
        for p in self.remove_temporaries():
            print(f"removed {p}: left by an interrupted checkpoint save")
        self._open_writer()
        bar = tqdm(total=max_iters, initial=start, desc="train", unit="it", disable=not progress,
                   dynamic_ncols=True)
        losses, t_last, it_last = {}, time.time(), start
        data = iter(self.dataset)
        first = next(data, None)
        if first is None:
            raise NoTrainingDataError("the training data yielded no batch: no readable image with a "
                             "non-crowd object (see the skipped files above)")
        self.build(first)
        if not distribute.same_on_every_worker(self.strategy, start):
            raise distribute.DistributionError(
                f"this worker starts at iteration {start} and another one does not: every worker "
                f"must see the chief's checkpoints ({self.checkpoint_dir}); put --output on a "
                "filesystem that every worker shares")
        pending = [first]
        profiler = StepProfiler(profile, os.path.join(self.write_dir, "tensorboard")) \
            if profile and self.chief else None
        overflows = 0  # mixed_float16 steps skipped in a row
        share = int(distribute.local_values(self.strategy, first)["image"].shape[0])
        per_device, _ = batching.split_share(share, self.cfg.TRAIN.IMS_PER_DEVICE)
        memory = MemoryCheck(self.cfg.TRAIN.MEMORY_LIMIT_GB, per_device, share)
        memory.start()  # the first iteration is watched (memory_check.py)
        try:
            while int(self.step.numpy()) < max_iters:
                it = int(self.step.numpy())
                batch = pending.pop() if pending else next(data)
                with profiler.step(it + 1) if profiler else contextlib.nullcontext():
                    out, finite = train_step(batch, tf.constant([seed_base, it], tf.int32))
                    losses = {k: float(v) for k, v in out.items()}
                memory.finish()
                finite = {k: bool(v) for k, v in finite.items()}
                overflow = (self.loss_scaled and finite["loss"] and finite["state"]
                            and not finite["grads"])
                overflows = overflows + 1 if overflow else 0
                self.skipped += int(overflow)
                if not all(finite.values()) and (not overflow or overflows >= MAX_SKIPPED_STEPS):
                    self._stop_non_finite(it + 1, losses, finite, overflows)
                self.step.assign_add(1)
                it += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items() if k != "weight_decay"},
                                refresh=False)
                if it % self.log_every == 0 or it == max_iters:
                    now = time.time()
                    self._log_scalars(it, losses, (it - it_last) / max(now - t_last, 1e-9))
                    t_last, it_last = now, it
                if self.image_every and it % self.image_every == 0:
                    self._log_image(it, batch)
                if it % self.cfg.TRAIN.SNAPSHOT_ITERS == 0:
                    self.save()
                if self.evaluator and self.chief and (it % self.eval_period == 0 or it == max_iters):
                    self._evaluate(it)
        except KeyboardInterrupt:
            path = self.save()
            bar.close()
            print(f"\ninterrupted at iteration {int(self.step.numpy())}: saved {path}; "
                  "resume with --resume")
            raise
        except tf.errors.ResourceExhaustedError:
            # A device out of memory (a larger image than before): that step
            # was not applied; what was trained so far is kept.
            if int(self.step.numpy()) > start:
                path = self.save()
                print(f"\nout of memory at iteration {int(self.step.numpy()) + 1}: saved {path}")
            raise
        finally:
            memory.stop()
            bar.close()
            self.writer.flush()
            if profiler:
                self.profile_table = profiler.close()
        last = self.last_checkpoint() if self.evaluator else None
        if not (last and last.endswith(f"-{int(self.step.numpy())}")):  # saved for the evaluation
            self.save()
        return losses

    def _evaluate(self, it):
        """Saves a checkpoint of this iteration (a run killed later resumes
        from the last evaluated model, and eval_log.jsonl never holds an
        iteration twice), then runs the evaluator; an error in it goes on
        with the model saved (an interrupt saves in train())."""
        saved = self.last_checkpoint()
        if not saved or not saved.endswith(f"-{it}"):
            saved = self.save()
        self.evaluator.writer = self.writer
        try:
            self.evaluator(it)
        except Exception:
            print(f"\nthe evaluation at iteration {it} failed; the model is saved in {saved} "
                  "(resume with --resume)")
            raise

    def _open_writer(self):
        """The run's TensorBoard writer, made on first use (a failed resume
        adds no file to the run)."""
        if self.writer is None:
            self.writer = tf.summary.create_file_writer(os.path.join(self.write_dir, "tensorboard"))

    def _evaluate_missed(self, start, max_iters):
        """On resume: the evaluation due at the restored iteration, when the
        run stopped before it was logged (killed while evaluating, or at
        max_iters before the final one)."""
        if not (self.evaluator and self.chief and start > 0):
            return
        due = start % self.eval_period == 0 or start == max_iters
        if due and start not in self.evaluator.logged_iterations():
            print(f"evaluating iteration {start}, which the stopped run had not finished evaluating")
            self._open_writer()
            self._evaluate(start)
            self.writer.flush()

    def last_checkpoint(self):
        """The chief's latest checkpoint (the one to resume from), or None."""
        existing = list_checkpoints(self.checkpoint_dir)
        return existing[-1] if existing else None

    def _stop_non_finite(self, iteration, losses, finite, overflows=0):
        bad = [k for k, v in losses.items() if k not in ("total", "weight_decay") and not np.isfinite(v)]
        if overflows:
            what = (f"the loss-scaled gradients overflowed in {overflows} steps in a row (loss scale "
                    f"now {float(self.optimizer.dynamic_scale.numpy()):g}; each was skipped)")
        elif bad:
            what = f"loss {', '.join(bad)} became {losses[bad[0]]}"
        elif not np.isfinite(losses["weight_decay"]):
            what = f"the weight-decay term became {losses['weight_decay']} (weights too large)"
        elif not finite["loss"]:
            what = "the sum of the losses became NaN or inf"
        elif not finite["grads"]:
            what = "a gradient became NaN or inf (the losses are finite)"
        else:
            what = "a BatchNorm statistic became NaN or inf (the losses are finite)"
        last = self.last_checkpoint() or "none saved yet"
        raise NonFiniteLossError(
            f"{what} at iteration {iteration}; that update was not applied and training stopped "
            f"without saving. Last good checkpoint: {last}. Try a lower TRAIN.LEARNING_RATE or a "
            "longer TRAIN.WARMUP_ITERS.")

    def _log_scalars(self, it, losses, its_per_sec):
        with self.writer.as_default(step=it):
            for k, v in losses.items():
                tf.summary.scalar(f"loss/{k}", v)
            tf.summary.scalar("learning_rate", float(self.schedule(it)))
            tf.summary.scalar("speed/iterations_per_second", its_per_sec)
            if self.loss_scaled:
                tf.summary.scalar("loss_scale", float(self.optimizer.dynamic_scale.numpy()))
                tf.summary.scalar("skipped_steps", self.skipped)

    def _log_image(self, it, batch):
        if not self.chief:  # its writer's folder is thrown away
            return
        batch = distribute.local_values(self.strategy, batch)
        image = denormalize(batch["image"][:1], self.cfg.MODEL.PIXEL_NORMALIZATION)
        image = tf.clip_by_value(image, 0, 255) / 255.0
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        out = self.model.detect(batch["image"][:1], batch["image_size"][:1])
        boxes, scores, valid = out["boxes"], out["scores"], out["num_detections"]
        dets = boxes[0, : int(valid[0])][scores[0, : int(valid[0])] > 0.5]
        n = int(batch["num_objects"][0])
        gt = box_ops.to_tf_image_boxes(batch["boxes"][0, :n], h, w)
        drawn = tf.image.draw_bounding_boxes(image, gt[None], tf.constant([[0.0, 1.0, 0.0, 1.0]]))
        drawn = tf.image.draw_bounding_boxes(drawn, box_ops.to_tf_image_boxes(dets, h, w)[None],
                                             tf.constant([[1.0, 0.0, 0.0, 1.0]]))
        with self.writer.as_default(step=it):
            tf.summary.image("train/gt_green_detections_red", drawn)
