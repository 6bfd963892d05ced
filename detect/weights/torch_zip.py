"""PyTorch's zip checkpoint format (``torch.save`` since PyTorch 1.6), read
with NumPy alone: no PyTorch, and no code from the file runs.

The archive holds ``<root>/data.pkl``, a pickle of the saved object, and one
member ``<root>/data/<key>`` of raw little-endian bytes per storage. Tensors
appear in the pickle as ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, requires_grad, hooks)``, where ``storage`` is a persistent id
``("storage", torch.<Type>Storage, key, location, numel)``.

data.pkl is read by pickle_reader.py with ``torch_builders()``: exactly
the globals a state dict needs (the tensor and parameter rebuilds, the
storage types, ``collections.OrderedDict``), any other refused before it is
looked up, naming it. Each tensor becomes a NumPy array of its dtype
(bfloat16 widened to float32, exactly), shape, strides and offset, after
checking that it lies inside its storage and that the storage member holds
as many bytes as the pickle says. Every member is checked before it is
read (``_check_members``): no name twice, no encryption, stored or
deflated at a bounded ratio; data.pkl at most MAX_PICKLE_BYTES.
"""
import collections
import zipfile

import numpy as np

from detect.weights.errors import WeightsFileError
from detect.weights.pickle_reader import (BoundedReader, Builder, CorruptPickle, PickleReader,
                                          UnsafePickleError, brief, plain_int)


# torch.<Name>Storage -> NumPy dtype; bfloat16 has no NumPy dtype and is
# read as its uint16 bit pattern, then widened (``widen_bfloat16``).
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# data.pkl holds names and tensor layouts, not the tensors' bytes
MAX_PICKLE_BYTES = 64 << 20
# a deflated member may unpack to at most this many times its packed size;
# a storage (raw numbers, which deflate little) at most STORAGE_RATIO times
MAX_RATIO = 200
STORAGE_RATIO = 20
MAX_BYTEORDER_BYTES = 16


class _StorageType(Builder):
    """torch.<Name>Storage: named in persistent ids, never called."""

    def __init__(self, name):
        super().__init__(f"torch.{name}", self._refuse)
        self.storage = name

    @staticmethod
    def _refuse(reader, args):
        raise UnsafePickleError("a storage type is called")


class _Storage:
    """A storage's bytes as a flat array (read when the pickle names it)."""

    def __init__(self, array, key):
        self.array, self.key = array, key


def widen_bfloat16(bits):
    """bfloat16 bit patterns (uint16) -> the float32 values they stand for, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _check_ints(values, what):
    if not isinstance(values, tuple) or len(values) > 32:
        raise UnsafePickleError(f"a tensor's {what} is {brief(values)}, not a tuple of integers")
    for v in values:
        plain_int(v, f"a tensor's {what}")


def _rebuild_tensor(reader, args):
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...):
    a NumPy copy of the tensor's view, made after checking that it lies
    inside its storage."""
    if len(args) < 4:
        raise UnsafePickleError(f"_rebuild_tensor_v2 called with {len(args)} arguments")
    storage, offset, size, stride = args[:4]
    if not isinstance(storage, _Storage):
        raise UnsafePickleError("a tensor is built on something other than a storage")
    _check_ints(size, "size")
    _check_ints(stride, "stride")
    plain_int(offset, "a tensor's offset")
    if len(size) != len(stride):
        raise UnsafePickleError(f"a tensor has size {list(size)} and stride {list(stride)}")
    data = storage.array
    n = data.size
    count = 1
    for d in size:
        count *= d
    if count > n:  # an expanded (stride 0) view: more elements than its storage
        raise WeightsFileError(f"a tensor of size {list(size)} has more elements than its storage "
                               f"{storage.key} ({n}); state dicts hold no expanded tensors")
    if count:
        last = offset + sum((d - 1) * s for d, s in zip(size, stride))
        if last >= n:
            raise WeightsFileError(f"storage {storage.key} holds {n} elements, but a tensor of size "
                                   f"{list(size)} (stride {list(stride)}, offset {offset}) reaches "
                                   f"element {last}: the file is truncated or corrupt")
    elif offset > n:
        raise WeightsFileError(f"storage {storage.key}: offset {offset} is past its {n} elements")
    reader.count_array_bytes(count * data.itemsize, f"a tensor of size {list(size)} on storage "
                             f"{storage.key}")
    if not count:
        return np.zeros(size, data.dtype)
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                           strides=[s * data.itemsize for s in stride], writeable=False)
    return np.array(view)


def _rebuild_parameter(reader, args):
    if not args or not isinstance(args[0], np.ndarray):
        raise UnsafePickleError("_rebuild_parameter of something other than a tensor")
    return args[0]


def _ordered_dict(reader, args):
    if args not in ((), ([],)):
        raise UnsafePickleError(f"OrderedDict called with {brief(args)}")
    return {}


def torch_builders():
    """The globals a state dict's data.pkl names."""
    out = {("collections", "OrderedDict"): Builder("OrderedDict", _ordered_dict),
           ("torch._utils", "_rebuild_tensor_v2"): Builder("_rebuild_tensor_v2", _rebuild_tensor),
           ("torch._utils", "_rebuild_parameter"): Builder("_rebuild_parameter", _rebuild_parameter)}
    out.update({("torch", name): _StorageType(name) for name in STORAGE_DTYPES})
    return out


def is_torch_zip(path):
    return zipfile.is_zipfile(path)


def _check_members(archive, path):
    """Every member readable as torch.save writes them: no name twice, no
    encryption, stored or deflated, and a deflated one at most MAX_RATIO
    times its packed size."""
    infos = archive.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        twice = sorted(n for n, c in collections.Counter(names).items() if c > 1)
        raise WeightsFileError(f"{path}: the archive holds {twice[0]} more than once")
    for info in infos:
        if info.flag_bits & 0x1:
            raise WeightsFileError(f"{path}: member {info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WeightsFileError(f"{path}: member {info.filename} uses compression method "
                                   f"{info.compress_type} (torch.save stores members uncompressed)")
        ratio = STORAGE_RATIO if "/data/" in info.filename else MAX_RATIO
        if info.compress_type == zipfile.ZIP_DEFLATED and \
                info.file_size > ratio * max(info.compress_size, 1):
            raise WeightsFileError(f"{path}: member {info.filename} unpacks to {info.file_size} bytes "
                                   f"from {info.compress_size}, more than {ratio} times")
    return {i.filename: i for i in infos}


def read_torch_zip(path):
    """The object ``torch.save`` wrote to ``path`` (a zip archive), with every
    tensor as a NumPy array.

    Raises WeightsFileError naming the file: not a zip, no data.pkl, a
    member that is missing, duplicated, encrypted, compressed past the
    limits, truncated or fails its CRC, a storage shorter than a tensor on
    it, tensors that total more than twice their storages, a big-endian
    file, or a pickle that names a global other than those a state dict
    needs.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise WeightsFileError(f"{path} is not a readable PyTorch zip checkpoint ({e})") from None
    with archive:
        infos = _check_members(archive, path)
        pickles = [n for n in infos if len(n.split("/")) == 2 and n.split("/")[1] == "data.pkl"]
        if len(pickles) != 1:
            raise WeightsFileError(f"{path} is a zip archive but not a PyTorch checkpoint (no "
                                   "single <name>/data.pkl member)")
        root = pickles[0].split("/")[0]
        order = infos.get(f"{root}/byteorder")
        if order is not None:
            if order.file_size > MAX_BYTEORDER_BYTES:
                raise WeightsFileError(f"{path}: its byteorder member has {order.file_size} bytes")
            if archive.read(order).strip() not in (b"little", b""):
                raise WeightsFileError(f"{path} was saved on a big-endian machine; re-save it on a "
                                       "little-endian one")
        info = infos[pickles[0]]
        if info.file_size > MAX_PICKLE_BYTES:
            raise WeightsFileError(f"{path}: data.pkl has {info.file_size} bytes; a state dict's "
                                   f"takes far less than {MAX_PICKLE_BYTES}")
        read_bytes = [0]  # the storages' bytes actually read (a header's sizes may lie)

        def read_storage(key, dtype, numel):
            member = f"{root}/data/{key}"
            if member not in infos:
                raise WeightsFileError(f"{path}: storage {key} is named in data.pkl but the archive "
                                       f"has no {member}")
            bits = np.uint16 if dtype == "bfloat16" else dtype
            itemsize = np.dtype(bits).itemsize
            size = infos[member].file_size
            if size < numel * itemsize:
                raise WeightsFileError(f"{path}: storage {key} has {size} bytes, the pickle "
                                       f"says {numel} x {itemsize}: the file is truncated or corrupt")
            with archive.open(infos[member]) as f:
                raw = f.read(numel * itemsize)  # what the member holds, whatever its header says
            if len(raw) < numel * itemsize:
                raise WeightsFileError(f"{path}: storage {key} has {len(raw)} bytes, the pickle says "
                                       f"{numel} x {itemsize}: the file is truncated or corrupt")
            read_bytes[0] += len(raw)
            array = np.frombuffer(raw, bits, count=numel)
            return widen_bfloat16(array) if dtype == "bfloat16" else array

        storages = {}

        def persistent_load(pid):
            if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                    or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                    or len(pid[2]) > 64):
                raise UnsafePickleError(f"it holds a persistent id {brief(pid)}, not a tensor storage")
            _, kind, key, _, numel = pid
            plain_int(numel, "a storage's size")
            if key not in storages:
                storages[key] = _Storage(read_storage(key, STORAGE_DTYPES[kind.storage], numel), key)
            return storages[key]

        try:
            with archive.open(info) as f:
                return PickleReader(BoundedReader(f, info.file_size), torch_builders(), persistent_load,
                                    array_budget=lambda: 2 * read_bytes[0] + (1 << 20)).load()
        except UnsafePickleError as e:
            raise WeightsFileError(f"refusing to load {path}: {e}") from None
        except WeightsFileError as e:
            raise WeightsFileError(f"{path}: {e}" if path not in str(e) else str(e)) from None
        except CorruptPickle as e:
            raise WeightsFileError(f"{path} is a corrupt PyTorch checkpoint ({e})") from None
