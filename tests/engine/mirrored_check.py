"""Run as a script (its own process: the CPU must be split into logical
devices before TensorFlow starts): one training step of the toy detector on
a batch of 2 images, on one device and under MirroredStrategy over 2
logical CPU devices; prints one JSON line with the largest relative
differences of the gradients (the momentum slots after one step: -lr x
gradient), the updated weights, the BatchNorm statistics and the losses.

    python tests/engine/mirrored_check.py DATA_DIR [KEY VALUE ...]   (config overrides)
"""
import json
import os
import sys
import tempfile

import numpy as np


def main(data_dir, overrides=()):
    from detect.engine.distribute import split_cpu
    split_cpu(2)
    import tensorflow as tf

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets import get_dataset
    from detect.datasets.pipeline import build_pipeline
    from detect.engine.distribute import build_strategy, distribute_batch
    from detect.engine.trainer import Trainer
    from detect.modeling.build import build_model

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(root, "experiments", "cfgs", "toy_quickstart.yml"))
    merge_from_list(cfg, ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TRAIN.IMS_PER_BATCH", "2",
                          "MODEL.NUM_CLASSES", "4", "TRAIN.WARMUP_ITERS", "0", *overrides])
    batch = next(iter(build_pipeline(get_dataset("toy_train", data_dir), training=True, batch_size=2,
                                     scales=(64,), max_size=96, seed=1, drop_empty=True,
                                     drop_remainder=True, normalization="torch")))
    seed = tf.constant([cfg.TRAIN.SEED, 0], tf.int32)
    results = {}
    for name in ("default", "mirrored"):
        strategy = build_strategy(name)
        tf.keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build_model(cfg)
        trainer = Trainer(cfg, model, [batch], tempfile.mkdtemp(prefix=f"unused_{name}_"), strategy=strategy)
        trainer.build(batch)
        initial = [v.numpy() for v in model.trainable_variables]
        losses, finite = trainer._train_step_fn()(distribute_batch(strategy, batch), seed)
        assert all(bool(v) for v in finite.values()), finite
        slots = [v for v in trainer.optimizer.variables if "momentum" in v.path]
        results[name] = {
            "replicas": strategy.num_replicas_in_sync, "initial": initial,
            "grads": [v.numpy() for v in slots],
            "weights": [v.numpy() for v in model.trainable_variables],
            "stats": [v.numpy() for v in model.non_trainable_variables if "moving" in v.path],
            "losses": {k: float(v) for k, v in losses.items()}}

    def rel(key):
        a, b = results["default"][key], results["mirrored"][key]
        assert len(a) == len(b) and a, key
        return max(float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12)) for x, y in zip(a, b))

    one, two = results["default"], results["mirrored"]
    print("RESULT " + json.dumps({
        "replicas": [one["replicas"], two["replicas"]],
        "initial": rel("initial"), "grads": rel("grads"), "weights": rel("weights"),
        "stats": rel("stats"), "moved": max(float(np.abs(a - b).max())
                                             for a, b in zip(one["initial"], one["weights"])),
        "losses": max(abs(one["losses"][k] - two["losses"][k]) / max(abs(one["losses"][k]), 1e-12)
                      for k in one["losses"])}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
