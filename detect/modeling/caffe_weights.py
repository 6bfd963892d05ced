"""TFFRCNN's Caffe-converted VGG16 weights (``VGG_imagenet.npy``).

The file is a pickled dict saved with ``np.save``:
``{"conv1_1": {"weights": [3, 3, Cin, Cout], "biases": [Cout]}, ...,
"conv5_3": ..., "fc6": {"weights": [512 * 7 * 7, D], ...}, "fc7": ...}``
(``fc8``, the ImageNet classifier, is ignored). The convolutions expect BGR
input with the Caffe mean subtracted (MODEL.PIXEL_NORMALIZATION: caffe).
TFFRCNN flattens the pooled 7 x 7 x 512 RoI features channel-first (Caffe's
C, H, W order) before fc6; our head flattens them H, W, C, so fc6's rows are
reordered on load.

A pickle can name any function for the loader to call, so the file is never
given to ``np.load`` with pickles allowed: ``load_numpy_pickle``
(detect/weights/pickles.py) rebuilds dicts, lists, tuples, strings, numbers
and plain numeric NumPy arrays only and refuses every other name before
looking it up (data/README.md, "Pretrained backbone
weights").
"""
import os

import numpy as np

from detect.modeling.build_once import once
from detect.weights.pickles import UnsafePickleError, load_numpy_pickle, plain_array

VGG16_CONVS = [(b, i) for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)]


def _read_npy(path):
    """A .npy file's array, unpickling object arrays with load_numpy_pickle."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            dtype = fmt.read_array_header_1_0(f)[2]  # (shape, fortran_order, dtype)
        elif version == (2, 0):
            dtype = fmt.read_array_header_2_0(f)[2]
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        if dtype.hasobject:
            # np.save pickles object arrays after the header; Python 2 files
            # (TFFRCNN) need latin1 to read their byte strings.
            return load_numpy_pickle(f)
    return np.load(path, allow_pickle=False)


def read_npy_dict(path):
    """The {layer: {"weights", "biases"}} dict of a TFFRCNN .npy file (read
    once per build_model: the backbone and the box head share it;
    build_once.py).

    Raises:
      ValueError: the file is not a .npy file, holds anything but NumPy arrays
        in plain containers (named, and never executed), or is not a dict.
    """
    try:
        data = once(("npy", os.path.abspath(path)), lambda: _read_npy(path))
    except UnsafePickleError as e:
        raise ValueError(f"refusing to load {path}: {e} (see data/README.md, "
                         "'Pretrained backbone weights')") from e
    except Exception as e:  # ValueError / OSError / EOFError / UnpicklingError by case
        raise ValueError(f"{path} is not a readable .npy file ({type(e).__name__}: {e})") from e
    if isinstance(data, np.ndarray) and data.dtype == object and data.shape == ():
        data = data.item()
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a dict of layers (TFFRCNN's VGG_imagenet.npy), "
                         f"got {type(data).__name__}")
    return data


def _params(data, layer, path):
    entry = data.get(layer)
    if not isinstance(entry, dict) or "weights" not in entry or "biases" not in entry:
        raise ValueError(f"{path} has no weights/biases for layer {layer}; is it TFFRCNN's "
                         "VGG_imagenet.npy?")
    try:
        weights, biases = (plain_array(np.asarray(entry[k]), f"{layer} {k}") for k in ("weights", "biases"))
    except UnsafePickleError as e:
        raise ValueError(f"refusing to load {path}: {e}") from None
    return weights.astype(np.float32), biases.astype(np.float32)


def _assign(keras_layer, kernel, bias, layer, path):
    want = [tuple(v.shape) for v in keras_layer.weights]
    got = [kernel.shape, bias.shape]
    if want != got:
        raise ValueError(f"{path}: layer {layer} has shapes {got}, the model expects {want}")
    keras_layer.set_weights([kernel, bias])


def load_vgg16_npy_convs(path, trunk):
    """Loads conv1_1..conv5_3 into the vgg16 trunk (block{b}_conv{i}).
    Missing layers or wrong shapes raise ValueError naming the file and the
    layer. Returns the names of the layers loaded."""
    data = read_npy_dict(path)
    loaded = []
    for b, i in VGG16_CONVS:
        name = f"conv{b}_{i}"
        kernel, bias = _params(data, name, path)
        _assign(trunk.get_layer(f"block{b}_conv{i}"), kernel, bias, name, path)
        loaded.append(name)
    return loaded


def load_vgg16_npy_fc(path, head, channels=512, pooled_size=7):
    """Loads fc6 / fc7, when the file has them, into the vgg16_fc box head
    (on ``channels`` x pooled_size x pooled_size RoI features). Returns the
    names of the layers loaded."""
    data = read_npy_dict(path)
    loaded = []
    if "fc6" in data:
        kernel, bias = _params(data, "fc6", path)
        if kernel.shape[0] != channels * pooled_size * pooled_size:
            raise ValueError(f"{path}: fc6 has {kernel.shape[0]} inputs, the model expects "
                             f"{channels} x {pooled_size} x {pooled_size}")
        # rows in (C, H, W) order -> (H, W, C) order
        kernel = (kernel.reshape(channels, pooled_size, pooled_size, -1)
                  .transpose(1, 2, 0, 3).reshape(kernel.shape[0], -1))
        _assign(head.get_layer("fc6"), kernel, bias, "fc6", path)
        loaded.append("fc6")
    if "fc7" in data:
        kernel, bias = _params(data, "fc7", path)
        _assign(head.get_layer("fc7"), kernel, bias, "fc7", path)
        loaded.append("fc7")
    return loaded
