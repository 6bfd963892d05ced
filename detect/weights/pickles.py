"""Restricted unpicklers: pickled weights files are read without running
code from them.

A pickle can name any importable function for the loader to call (``os.system``
through ``__reduce__``), so weights files are never given to ``pickle.load``,
``np.load(allow_pickle=True)`` or ``torch.load``. ``NumpyOnlyUnpickler``
rebuilds dicts, lists, tuples, strings, numbers and NumPy arrays only
(TFFRCNN's ``.npy``, detectron2's model-zoo ``.pkl``) and refuses every other
global before looking it up.
"""
import pickle

import numpy as np

# The only globals that a pickled dict of arrays names. ndarray's pickle
# calls multiarray._reconstruct, at numpy.core (NumPy 1, and Python 2 files
# such as TFFRCNN's) or numpy._core (NumPy 2); both map to the function
# itself, so nothing is imported by name.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
def _latin1_bytes(text, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles of Python 3 use it for bytes
    (an array's raw data): str -> bytes in latin-1, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode called with {type(text).__name__}, {encoding!r}")
    return text.encode("latin1")


_ALLOWED_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


def plain_array(a, name="an array"):
    """A copy of ``a`` with a plain numeric dtype (bool, int, uint, float;
    no fields, no sub-arrays), or UnsafePickleError. A pickle can give an
    allowed dtype a crafted state (fields at offsets past the item) that
    makes NumPy read outside the array; such a dtype is refused here, and
    the bytes are copied under a dtype made afresh from its type string."""
    dt = a.dtype
    if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None \
            or dt.itemsize not in (1, 2, 4, 8):
        raise UnsafePickleError(f"{name} has dtype {dt!r}, not a plain number type")
    fresh = np.dtype(dt.str)
    if fresh.itemsize != dt.itemsize:
        raise UnsafePickleError(f"{name} has an inconsistent dtype {dt!r}")
    return np.frombuffer(np.ascontiguousarray(a).tobytes(), fresh).reshape(a.shape).copy()


class UnsafePickleError(pickle.UnpicklingError):
    """A weights file asks for something other than NumPy arrays and containers."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler for dicts of NumPy arrays that never runs code from the file.

    Plain containers and scalars need no globals; every global other than
    the array and dtype constructors above raises UnsafePickleError before
    it is imported, so a crafted ``__reduce__`` (os.system, eval, ...) is refused.
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"it names {module}.{name}, which a weights file has no use for and which "
                "could run code; only NumPy arrays in dicts and lists are loaded") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("it holds persistent ids, which a weights file has no use for")
