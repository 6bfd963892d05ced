"""Mixed precision (TRAIN.PRECISION): Keras dtype policies.

  float32         everything in float32 (the default).
  mixed_float16   layers compute in float16, variables stay float32; the
                  optimizer is wrapped in Keras' LossScaleOptimizer (dynamic
                  loss scale, detect/engine/solver.py), and the trainer skips
                  a step whose scaled gradients overflow (halving the scale)
                  instead of stopping.
  mixed_bfloat16  layers compute in bfloat16 (float32's range: no loss
                  scaling), variables stay float32.

Under either mixed policy the RPN and RoI heads cast their logits, box deltas
and mask logits to float32 (detect/modeling/rpn.py, roi_heads.py), so anchor and RoI
targets, the losses and the post-processing run in float32, and our RoI ops
run their float32 kernels (detect/ops/_common.py casts float16 / bfloat16
features up and their output back). The policy applies while the model is
built (detect/modeling/build.py), so a model for inference (test_net, demo, export)
computes under the policy it was trained with; checkpoints hold float32
variables whatever the policy.
"""
import contextlib

import keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@contextlib.contextmanager
def precision_policy(name):
    """Layers created inside compute under Keras dtype policy ``name`` (one
    of PRECISIONS); the global policy is put back afterwards."""
    if name not in PRECISIONS:
        raise ValueError(f"TRAIN.PRECISION must be one of {', '.join(PRECISIONS)}, got {name!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def uses_loss_scaling(name):
    """Whether TRAIN.PRECISION ``name`` trains with a dynamic loss scale."""
    return name == "mixed_float16"
