"""Argument handling shared by the RoI op wrappers."""
import tensorflow as tf

# float16 / bfloat16 (mixed precision) run in float32 and are cast back.
_UPCAST = (tf.float16, tf.bfloat16)


def pair(value, name):
    """(h, w) from an int or a pair of ints."""
    if isinstance(value, int):
        return value, value
    try:
        h, w = value
        return int(h), int(w)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair of ints (h, w), got {value!r}") from None


def prepare(features, rois):
    """Tensors for a kernel: features float32/float64, rois of the same dtype.

    Returns:
      (features, rois, out_dtype): out_dtype is the dtype the caller's output
      should be cast back to.
    """
    features = tf.convert_to_tensor(features)
    out_dtype = features.dtype
    if out_dtype in _UPCAST:
        features = tf.cast(features, tf.float32)
    elif out_dtype not in (tf.float32, tf.float64):
        raise TypeError(f"features must be a floating tensor, got {out_dtype.name}")
    rois = tf.cast(tf.convert_to_tensor(rois), features.dtype)
    return features, rois, out_dtype
