"""Tiny train_net.py-style output folders (config.yml, classes.json,
checkpoints/ckpt-1) without training, and in-process access to the tools."""
import importlib.util
import json
import os

import tensorflow as tf

from detect.config import cfg_to_yaml, get_cfg, merge_from_file, merge_from_list
from detect.datasets.toy import TOY_CLASSES
from detect.modeling.build import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96", "MODEL.NUM_CLASSES", "4"]


def make_run(out, overrides=(), poison=False, config="toy_quickstart.yml"):
    """An output folder with a randomly initialized toy model's checkpoint
    (config: a file in experiments/cfgs); poison=True puts a NaN into one
    weight before saving."""
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", config))
    merge_from_list(cfg, TINY + list(overrides))
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    if poison:
        v = model.trainable_variables[0]
        v.assign(tf.fill(tf.shape(v), float("nan")))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yml"), "w") as f:
        f.write(cfg_to_yaml(cfg))
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(["__background__"] + list(TOY_CLASSES), f)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                         os.path.join(out, "checkpoints"), max_to_keep=2,
                                         checkpoint_name="ckpt")
    return manager.save(checkpoint_number=1)


def tool(name):
    """The module behind tools/<name>.py (detect/cli/<name>.py): its main(argv)
    runs in-process, and its names can be patched."""
    return importlib.import_module(f"detect.cli.{name}")
