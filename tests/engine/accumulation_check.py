"""Run as a script (its own process: the CPU must be split into logical
devices before TensorFlow starts): one training step of a toy detector on
the same 4 images, made as different splits of the global batch
(batching.py), from the same initial weights; prints one JSON line with,
per split, the largest relative differences from the first split of the
gradients (the momentum slots after one step: -lr x gradient), the updated
weights and the losses.

    python tests/engine/accumulation_check.py DATA_DIR CFG SPLIT [SPLIT ...] [-- KEY VALUE ...]

SPLIT: <strategy>:<TRAIN.IMS_PER_DEVICE>, e.g. default:4 (one step of 4),
default:1 (4 micro-steps of 1), mirrored:1 (2 replicas x 2 micro-steps of
1); "+unrolled" after the strategy runs the micro-steps as the Python loop
that synchronized BatchNorm needs. The tiny backbone's BatchNorm is frozen (micro-batches of a trainable
BatchNorm see their own statistics; batching.py says so).
"""
import json
import sys
import tempfile

import numpy as np


def main(data_dir, cfg_file, splits, overrides=()):
    from detect.engine.distribute import split_cpu
    split_cpu(2)
    import keras
    import tensorflow as tf

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets import get_dataset
    from detect.datasets.pipeline import build_pipeline
    from detect.engine.distribute import build_strategy, distribute_batch
    from detect.engine.trainer import Trainer
    from detect.modeling.build import build_model

    cfg = get_cfg()
    merge_from_file(cfg, cfg_file)
    merge_from_list(cfg, ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TRAIN.IMS_PER_BATCH", "4",
                          "TRAIN.WARMUP_ITERS", "0", "TRAIN.MEMORY_LIMIT_GB", "-1", *overrides])
    dataset = get_dataset(cfg.DATASETS.TRAIN, data_dir)
    cfg.MODEL.NUM_CLASSES = dataset.num_classes
    batch = next(iter(build_pipeline(dataset, training=True, batch_size=4, scales=(64,), max_size=96,
                                     seed=1, drop_empty=True, drop_remainder=True,
                                     normalization=cfg.MODEL.PIXEL_NORMALIZATION,
                                     with_masks=bool(cfg.MODEL.MASK_HEAD),
                                     mask_size=cfg.MODEL.MASK_GT_SIZE)))
    seed = tf.constant([cfg.TRAIN.SEED, 0], tf.int32)
    results = []
    for split in splits:
        name, per_device = split.split(":")
        name, unrolled = name.split("+")[0], name.endswith("+unrolled")
        cfg.TRAIN.IMS_PER_DEVICE = int(per_device)
        strategy = build_strategy(name)
        tf.keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build_model(cfg)
        layers = model._flatten_layers(include_self=False, recursive=True)  # pylint: disable=protected-access
        for layer in layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        trainer = Trainer(cfg, model, [batch], tempfile.mkdtemp(prefix="unused_"), strategy=strategy)
        trainer.build(batch)
        if unrolled:  # the micro-step loop of synchronized BatchNorm (trainer.py's unrolled)
            trainer.synchronized = 1
        initial = [v.numpy() for v in model.trainable_variables]
        losses, finite = trainer._train_step_fn()(distribute_batch(strategy, batch), seed)
        assert all(bool(v) for v in finite.values()), finite
        slots = [v for v in trainer.optimizer.variables if "momentum" in v.path]
        results.append({
            "split": split, "replicas": strategy.num_replicas_in_sync, "initial": initial,
            "grads": [v.numpy() for v in slots],
            "weights": [v.numpy() for v in model.trainable_variables],
            "losses": {k: float(v) for k, v in losses.items()}})

    def rel(a, b):
        assert len(a) == len(b) and a
        return max(float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12)) for x, y in zip(a, b))

    base = results[0]
    report = {"moved": max(float(np.abs(a - b).max()) for a, b in zip(base["initial"], base["weights"])),
              "losses": sorted(base["losses"]), "splits": []}
    for r in results:
        report["splits"].append({
            "split": r["split"], "replicas": r["replicas"],
            "initial": rel(base["initial"], r["initial"]), "grads": rel(base["grads"], r["grads"]),
            "weights": rel(base["weights"], r["weights"]),
            "losses": max(abs(base["losses"][k] - r["losses"][k]) / max(abs(base["losses"][k]), 1e-12)
                          for k in base["losses"])})
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    main(args[0], args[1], args[2:], extra)
