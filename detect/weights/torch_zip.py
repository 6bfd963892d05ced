"""PyTorch's zip checkpoint format (``torch.save`` since PyTorch 1.6), read
with NumPy alone: no PyTorch, and no code from the file runs.

The archive holds ``<root>/data.pkl``, a pickle of the saved object, and one
member ``<root>/data/<key>`` of raw little-endian bytes per storage. Tensors
appear in the pickle as ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, requires_grad, hooks)``, where ``storage`` is a persistent id
``("storage", torch.<Type>Storage, key, location, numel)``.

``TorchUnpickler`` allows exactly the globals a state dict needs (the tensor
and parameter rebuilds, the storage types, ``collections.OrderedDict``) and
refuses any other before looking it up, naming it. Each tensor becomes a
NumPy array of its dtype (bfloat16 widened to float32, exactly), shape,
strides and offset, after checking that it lies inside its storage and that
the storage member holds as many bytes as the pickle says.
"""
import collections
import pickle
import zipfile

import numpy as np

from detect.weights.pickles import UnsafePickleError


class WeightsFileError(ValueError):
    """A weights file that cannot be read: corrupt, truncated, of another
    format, or asking for something a weights file has no use for."""


# torch.<Name>Storage -> NumPy dtype; bfloat16 has no NumPy dtype and is
# read as its uint16 bit pattern, then widened (``_widen_bfloat16``).
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Sealed:
    """An object the pickle may not change: BUILD on it is refused (it would
    otherwise set attributes, e.g. swap a storage's array)."""

    def __setstate__(self, state):
        raise UnsafePickleError(f"it sets the state of a {type(self).__name__.strip('_')}")


class _StorageType(_Sealed):
    def __init__(self, name):
        self.name = name


class _Storage(_Sealed):
    """A storage's bytes as a flat array (read when the pickle names it)."""

    def __init__(self, array, key):
        self.array, self.key = array, key


def _widen_bfloat16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _check_ints(values, what):
    if not isinstance(values, tuple) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                for v in values):
        raise UnsafePickleError(f"a tensor's {what} is {values!r}, not a tuple of integers")


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """torch._utils._rebuild_tensor_v2: a NumPy copy of the tensor's view."""
    if not isinstance(storage, _Storage) or not (isinstance(storage.array, np.ndarray)
                                                 and storage.array.ndim == 1):
        raise UnsafePickleError("a tensor is built on something other than a storage")
    _check_ints(size, "size")
    _check_ints(stride, "stride")
    if not isinstance(offset, int) or offset < 0 or len(size) != len(stride):
        raise UnsafePickleError(f"a tensor has offset {offset!r}, size {size} and stride {stride}")
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise UnsafePickleError(f"a tensor has a negative size or stride ({size}, {stride})")
    data = storage.array
    n = data.size
    count = 1
    for d in size:
        count *= d
    if count > n:  # an expanded (stride 0) view: more elements than its storage
        raise WeightsFileError(f"a tensor of size {list(size)} has more elements than its storage "
                               f"{storage.key} ({n}); state dicts hold no expanded tensors")
    if all(size):
        last = offset + sum((d - 1) * s for d, s in zip(size, stride))
        if last >= n:
            raise WeightsFileError(f"storage {storage.key} holds {n} elements, but a tensor of size "
                                   f"{list(size)} (stride {list(stride)}, offset {offset}) reaches "
                                   f"element {last}: the file is truncated or corrupt")
    elif offset > n:
        raise WeightsFileError(f"storage {storage.key}: offset {offset} is past its {n} elements")
    if not all(size):
        return np.zeros(size, data.dtype)
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                           strides=[s * data.itemsize for s in stride], writeable=False)
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


class TorchUnpickler(pickle.Unpickler):
    """Unpickles a ``data.pkl`` of a PyTorch zip checkpoint into NumPy arrays.

    Args:
      file: the pickle stream; read_storage: (key, dtype, numel) -> flat array.
    """

    _GLOBALS = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, read_storage):
        super().__init__(file)
        self._read_storage = read_storage
        self._storages = {}

    def find_class(self, module, name):
        if (module, name) in self._GLOBALS:
            return self._GLOBALS[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"it names {module}.{name}, which a state dict has no use for and "
                                "which could run code; only tensors in dicts are loaded")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[4], int) or pid[4] < 0):
            raise UnsafePickleError(f"it holds a persistent id {pid!r:.80}, not a tensor storage")
        _, kind, key, _, numel = pid
        if key not in self._storages:
            self._storages[key] = _Storage(self._read_storage(key, STORAGE_DTYPES[kind.name], numel), key)
        return self._storages[key]


def is_torch_zip(path):
    return zipfile.is_zipfile(path)


def read_torch_zip(path):
    """The object ``torch.save`` wrote to ``path`` (a zip archive), with every
    tensor as a NumPy array.

    Raises WeightsFileError naming the file: not a zip, no data.pkl, a
    member that is missing, truncated or fails its CRC, a storage shorter
    than a tensor on it, a big-endian file, or a pickle that names a
    global other than those a state dict needs.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise WeightsFileError(f"{path} is not a readable PyTorch zip checkpoint ({e})") from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise WeightsFileError(f"{path} is a zip archive but not a PyTorch checkpoint (no "
                                   "<name>/data.pkl member)")
        root = pickles[0].split("/")[0]
        order = f"{root}/byteorder"
        if order in names and archive.read(order).strip() not in (b"little", b""):
            raise WeightsFileError(f"{path} was saved on a big-endian machine; re-save it on a "
                                   "little-endian one")

        def read_storage(key, dtype, numel):
            member = f"{root}/data/{key}"
            if member not in names:
                raise WeightsFileError(f"{path}: storage {key} is named in data.pkl but the archive "
                                       f"has no {member}")
            bits = np.uint16 if dtype == "bfloat16" else dtype
            itemsize = np.dtype(bits).itemsize
            info = archive.getinfo(member)
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > 20 * max(info.compress_size, 1):
                raise WeightsFileError(f"{path}: storage {key} unpacks to {info.file_size} bytes from "
                                       f"{info.compress_size} (torch.save stores them uncompressed)")
            if info.file_size < numel * itemsize:
                raise WeightsFileError(f"{path}: storage {key} has {info.file_size} bytes, the pickle "
                                       f"says {numel} x {itemsize}: the file is truncated or corrupt")
            raw = archive.read(member)
            if len(raw) < numel * itemsize:
                raise WeightsFileError(f"{path}: storage {key} has {len(raw)} bytes, the pickle says "
                                       f"{numel} x {itemsize}: the file is truncated or corrupt")
            array = np.frombuffer(raw, bits, count=numel)
            return _widen_bfloat16(array) if dtype == "bfloat16" else array

        try:
            with archive.open(pickles[0]) as f:
                return TorchUnpickler(f, read_storage).load()
        except UnsafePickleError as e:
            raise WeightsFileError(f"refusing to load {path}: {e}") from None
        except WeightsFileError as e:
            raise WeightsFileError(f"{path}: {e}" if path not in str(e) else str(e)) from None
        except (zipfile.BadZipFile, OSError, EOFError, pickle.UnpicklingError, ValueError,
                TypeError, KeyError, IndexError, AttributeError, OverflowError, MemoryError,
                RecursionError) as e:
            raise WeightsFileError(f"{path} is a corrupt PyTorch checkpoint ({type(e).__name__}: "
                                   f"{e})") from None
