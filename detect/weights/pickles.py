"""Pickled dicts of NumPy arrays (detectron2's model-zoo ``.pkl``, TFFRCNN's
``.npy``), read without running code from them.

A pickle can name any importable function for the loader to call (``os.system``
through ``__reduce__``), and even NumPy's own constructors can be given a
crafted state, so weights files are never given to ``pickle.load``,
``np.load(allow_pickle=True)`` or ``torch.load``. ``load_numpy_pickle``
reads them with pickle_reader.py: dicts, lists, tuples, strings, numbers
and plain numeric NumPy arrays only, every other global refused before
anything is looked up.
"""
import os

import numpy as np

from detect.weights.pickle_reader import (BoundedReader, CorruptPickle, Limits, PickleReader,
                                          UnsafePickleError, numpy_builders)

__all__ = ["load_numpy_pickle", "plain_array", "UnsafePickleError", "CorruptPickle"]


def load_numpy_pickle(file, size=None):
    """The object pickled in the binary file ``file`` from its position on
    (``size`` bytes at most; None: to the end of the file), with NumPy
    arrays rebuilt from a fixed table of number types. The arrays may total
    at most twice the pickle's size (one buffer used many times is refused).

    Raises UnsafePickleError (it asks for more than data) or CorruptPickle.
    """
    if size is None:
        size = os.fstat(file.fileno()).st_size - file.tell()
    limits = Limits(array_bytes=2 * size + (1 << 20))
    return PickleReader(BoundedReader(file, size), numpy_builders(), limits=limits).load()


def plain_array(a, name="an array"):
    """``a`` if it is an array of a plain number type (bool, int, uint,
    float; no fields, no sub-arrays, native byte order), else
    UnsafePickleError naming it."""
    if not isinstance(a, np.ndarray):
        raise UnsafePickleError(f"{name} is a {type(a).__name__}, not an array")
    dt = a.dtype
    if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None \
            or dt.itemsize not in (1, 2, 4, 8) or not dt.isnative:
        raise UnsafePickleError(f"{name} has dtype {dt.str}, not a plain number type")
    return a
