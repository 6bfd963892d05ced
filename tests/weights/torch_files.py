"""Writes files in PyTorch's zip checkpoint format without PyTorch, for the
tests: a pickle whose tensors are ``torch._utils._rebuild_tensor_v2`` over
persistent storages ``("storage", torch.<Type>Storage, key, "cpu", numel)``,
and one raw little-endian member per storage, as ``torch.save`` lays them
out (checked against torch.save's output by benchmarks/zoo_parity.py,
whose state dicts are torch.save's own)."""
import collections
import io
import pickle
import zipfile

import numpy as np

STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
            np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
            np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage",
            np.dtype(np.bool_): "BoolStorage"}


class Global:
    """Pickles as the global ``module.name`` without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle wants a callable; never called here
        raise TypeError(f"{self.module}.{self.name} is a stand-in")


class Tensor:
    """A tensor to write: a storage (flat array, key), offset, size, stride."""

    def __init__(self, storage, key, offset, size, stride, kind=None):
        self.storage, self.key, self.offset = storage, key, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.kind = kind or STORAGES[storage.dtype]


class _Pickler(pickle._Pickler):
    def save_global(self, obj, name=None):
        if isinstance(obj, Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def persistent_id(self, obj):
        if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "__storage__":
            t = obj[1]
            return ("storage", Global("torch", t.kind), t.key, "cpu", t.storage.size)
        return None


REBUILD = Global("torch._utils", "_rebuild_tensor_v2")


def _reduce_tensor(pickler, t):
    pickler.save_reduce(REBUILD, (("__storage__", t), t.offset, t.size, t.stride, False,
                                  collections.OrderedDict()), obj=t)


class _TensorPickler(_Pickler):
    dispatch = dict(_Pickler.dispatch)
    dispatch[Tensor] = _reduce_tensor
    dispatch[Global] = lambda self, obj: self.save_global(obj)


def tensors_of(state, key_start=0):
    """{name: Tensor} of {name: np.ndarray}: contiguous storages, one each."""
    out = {}
    for i, (name, a) in enumerate(state.items()):
        a = np.array(a, order="C")
        stride = tuple(s // a.itemsize for s in a.strides) if a.ndim else ()
        out[name] = Tensor(a.reshape(-1), str(key_start + i), 0, a.shape, stride)
    return out


def write_torch_zip(path, obj, root="archive", extra_members=None, truncate_storage=None):
    """Writes ``obj`` (dicts / OrderedDicts of Tensor, numbers, strings) as
    torch.save would. truncate_storage: a key whose bytes are cut in half."""
    buf = io.BytesIO()
    _TensorPickler(buf, protocol=2).dump(obj)
    storages = {}

    def collect(o):
        if isinstance(o, Tensor):
            storages[o.key] = o.storage
        elif isinstance(o, dict):
            for v in o.values():
                collect(v)
    collect(obj)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{root}/data.pkl", buf.getvalue())
        z.writestr(f"{root}/byteorder", "little")
        for key, data in storages.items():
            raw = data.astype(data.dtype.newbyteorder("<")).tobytes()
            if key == truncate_storage:
                raw = raw[: len(raw) // 2]
            z.writestr(f"{root}/data/{key}", raw)
        z.writestr(f"{root}/version", "3\n")
        for name, data in (extra_members or {}).items():
            z.writestr(name, data)


def save_state_dict(path, state, wrap=None):
    """A {name: array} state dict as torch.save(OrderedDict) writes it;
    wrap: e.g. "model" for detectron2's {"model": state_dict}."""
    obj = collections.OrderedDict(tensors_of(state))
    write_torch_zip(path, {wrap: obj, "iteration": 7} if wrap else obj)
