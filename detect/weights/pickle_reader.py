"""A pickle reader for weights files that builds data, never objects.

``pickle.Unpickler`` runs the file's opcodes against real Python objects: a
file may call any global it is allowed to name, and even an allowed one
(``numpy.dtype``) can be given a crafted state that makes NumPy free or read
memory it does not own. This reader walks the opcodes itself
(``pickletools.genops`` decodes them) and keeps a stack of plain values:
dicts, lists, tuples, strings, bytes, numbers, None. A GLOBAL resolves only
to a builder of the caller's table (``Builder``), which REDUCE and BUILD
call with the file's arguments as data; nothing from the file constructs a
dtype or any other object. NumPy's pickled arrays go through
``numpy_builders()``: the dtype comes from a fixed table by its name, and
the array is made only after its shape, dtype and byte count agree.

Limits (``Limits``): the opcodes read, the memo's entries, the nesting of
containers, and the bytes of all arrays made (so that one memoized buffer
used a thousand times cannot fill the memory). Each breach, like every
malformed stream, is a ``UnsafePickleError`` or ``CorruptPickle`` that the
caller turns into its file's error.
"""
import abc
import dataclasses
import pickle
import pickletools

import numpy as np

from detect.weights.errors import WeightsFileError

# dtype names a NumPy pickle gives np.dtype(name, False, True), and ours
NUMPY_DTYPES = {"b1": np.bool_, "i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16,
                "f2": np.float16, "i4": np.int32, "u4": np.uint32, "f4": np.float32,
                "i8": np.int64, "u8": np.uint64, "f8": np.float64}
BYTE_ORDERS = {"<": "<", ">": ">", "|": "<", "=": "="}
# np.save of a dict (TFFRCNN's .npy) pickles a 0-d object array holding it:
# that one case is read, as the container it holds (no object array is made)
OBJECT, OBJECT_FLAGS = "O8", 63


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something a weights file has no use for (a global
    outside the table, an opcode that makes objects, a limit passed)."""


class CorruptPickle(pickle.UnpicklingError):
    """The pickle is malformed or truncated."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """ops: opcodes read; memo: memo entries; depth: containers within
    containers; array_bytes: the bytes of all arrays made."""
    ops: int = 1_000_000
    memo: int = 1_000_000
    depth: int = 64
    array_bytes: int = 1 << 30


class Builder:
    """A global the table allows: ``call(reader, args)`` is its REDUCE (args:
    a tuple of plain values), returning a plain value or a ``Partial``."""

    def __init__(self, name, call):
        self.name, self.call = name, call

    def __repr__(self):
        return f"<{self.name}>"


class Partial(abc.ABC):
    """A value that a BUILD completes (a NumPy array or dtype rebuilt in two
    steps); ``build(reader, state)`` takes the state, ``value()`` gives the
    result and refuses when it never got one."""

    @abc.abstractmethod
    def build(self, reader, state):
        """Takes the BUILD state, or raises UnsafePickleError."""

    @abc.abstractmethod
    def value(self):
        """The completed value, or UnsafePickleError."""


_CONTAINERS = (dict, list, tuple)
_KEY_TYPES = (str, int, float, bytes, bool, type(None))


def brief(v):
    """A short description of a value from the file, without walking it
    (a repr of a deep or huge container would)."""
    if isinstance(v, (str, bytes)):
        return repr(v[:40]) + ("..." if len(v) > 40 else "")
    if isinstance(v, (int, float, bool, type(None))):
        return repr(v)[:40]
    if isinstance(v, (tuple, list, dict)):
        return f"a {type(v).__name__} of {len(v)}"
    return f"a {type(v).__name__}"


def plain_int(v, what):
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 62:
        raise UnsafePickleError(f"{what} is {brief(v)}, not an integer in [0, 2^62)")
    return v


class BoundedReader:
    """A binary file object whose read(n) never asks for more than the
    ``size`` bytes left (pickletools reads a length from the file, then
    that many bytes: a crafted length would otherwise allocate it)."""

    def __init__(self, file, size):
        self.file, self.left = file, size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.file.read(n)
        self.left -= len(data)
        return data

    def readline(self):
        line = self.file.readline(self.left)
        self.left -= len(line)
        return line


class PickleReader:
    """Reads one pickle from a binary file object.

    Args:
      file: the stream (its pickle ends at STOP).
      builders: {(module, name): Builder} (e.g. numpy_builders()).
      persistent_load: pid -> value, for PERSID / BINPERSID (PyTorch's
        storages), or None to refuse them.
      limits: Limits.
    """

    def __init__(self, file, builders, persistent_load=None, limits=Limits(), array_budget=None):
        self.file, self.builders, self.limits = file, builders, limits
        self.persistent_load = persistent_load
        # () -> the bytes the arrays may total now (default: limits.array_bytes;
        # PyTorch's reader: twice the storage bytes actually read so far)
        self.array_budget = array_budget or (lambda: limits.array_bytes)
        self.array_bytes = 0

    def count_array_bytes(self, n, what):
        """Adds an array's bytes to the total; refuses past the budget."""
        self.array_bytes += n
        budget = self.array_budget()
        if self.array_bytes > budget:
            raise UnsafePickleError(f"{what} brings its arrays to {self.array_bytes} bytes, past the "
                                    f"reader's limit of {budget} for this file (the same data used "
                                    "many times?)")

    def _pop_mark(self, stack, marks):
        if not marks:
            raise CorruptPickle("an opcode needs a MARK that is not there")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    def load(self):
        stack, marks, memo = [], [], {}
        try:
            ops = pickletools.genops(self.file)
            for count, (op, arg, _) in enumerate(ops):
                if count >= self.limits.ops:
                    raise UnsafePickleError(f"it runs past {self.limits.ops} opcodes")
                name = op.name
                if name == "STOP":
                    if len(stack) != 1 or marks:
                        raise CorruptPickle("the stack does not end with one value")
                    return resolve(stack[0], self.limits.depth)
                self._step(name, arg, stack, marks, memo)
        except (UnsafePickleError, CorruptPickle, WeightsFileError):
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, EOFError,
                UnicodeDecodeError, pickle.UnpicklingError, MemoryError, RecursionError) as e:
            raise CorruptPickle(f"{type(e).__name__}: {str(e)[:200]}") from None
        raise CorruptPickle("it ends before its STOP opcode (truncated)")

    def _step(self, name, arg, stack, marks, memo):
        if name in ("PROTO", "FRAME"):
            if name == "PROTO" and not 2 <= arg <= 5:
                raise CorruptPickle(f"protocol {arg}")
        elif name == "MARK":
            marks.append(len(stack))
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            obj = {"EMPTY_DICT": dict, "EMPTY_LIST": list, "EMPTY_TUPLE": tuple}[name]()
            stack.append(obj)
        elif name in ("TUPLE", "LIST", "DICT"):
            items = self._pop_mark(stack, marks)
            if name == "DICT":
                if len(items) % 2:
                    raise CorruptPickle("DICT with an odd number of items")
                obj = {}
                for k, v in zip(items[::2], items[1::2]):
                    self._setitem(obj, k, v)
            else:
                obj = tuple(items) if name == "TUPLE" else list(items)
            stack.append(obj)
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise CorruptPickle(f"{name} on a stack of {len(stack)}")
            obj = tuple(stack[-n:])
            del stack[-n:]
            stack.append(obj)
        elif name in ("APPEND", "APPENDS"):
            items = [stack.pop()] if name == "APPEND" else self._pop_mark(stack, marks)
            target = stack[-1]
            if not isinstance(target, list):
                raise UnsafePickleError(f"{name} on a {type(target).__name__}, not a list")
            target.extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            if name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                items = [key, value]
            else:
                items = self._pop_mark(stack, marks)
                if len(items) % 2:
                    raise CorruptPickle("SETITEMS with an odd number of items")
            target = stack[-1]
            if not isinstance(target, dict):
                raise UnsafePickleError(f"{name} on a {type(target).__name__}, not a dict")
            for k, v in zip(items[::2], items[1::2]):
                self._setitem(target, k, v)
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            self._pop_mark(stack, marks)
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            key = len(memo) if name == "MEMOIZE" else arg
            if key not in memo and len(memo) >= self.limits.memo:
                raise UnsafePickleError(f"its memo passes {self.limits.memo} entries")
            memo[key] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise CorruptPickle(f"memo entry {arg} is read before it is written")
            stack.append(memo[arg])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = arg.partition(" ")
            else:
                attr, module = stack.pop(), stack.pop()
                if not (isinstance(module, str) and isinstance(attr, str)):
                    raise CorruptPickle("STACK_GLOBAL of non-strings")
            builder = self.builders.get((module, attr))
            if builder is None:
                raise UnsafePickleError(f"it names {module[:80]}.{attr[:80]}, which a weights file has no "
                                    "use for and which could run code; only arrays in dicts are read")
            stack.append(builder)
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            if not isinstance(func, Builder) or not isinstance(args, tuple):
                raise UnsafePickleError(f"it calls a {type(func).__name__}, not an allowed builder")
            stack.append(func.call(self, args))
        elif name == "BUILD":
            state, target = stack.pop(), stack[-1]
            if isinstance(target, Partial):
                target.build(self, state)
            elif isinstance(target, dict) and isinstance(state, dict):
                pass  # an OrderedDict's attributes (PyTorch's _metadata): not weights
            else:
                raise UnsafePickleError(f"it sets the state of a {type(target).__name__.lstrip('_')}")
        elif name in ("PERSID", "BINPERSID"):
            if self.persistent_load is None:
                raise UnsafePickleError("it holds persistent ids, which a weights file has no use for")
            pid = arg if name == "PERSID" else stack.pop()
            stack.append(self.persistent_load(pid))
        elif name in _VALUES:
            stack.append(_VALUES[name](arg))
        else:
            raise UnsafePickleError(f"it uses the opcode {name}, which a weights file has no use for")

    def _setitem(self, target, key, value):
        if not isinstance(key, _KEY_TYPES):
            raise UnsafePickleError(f"a dict key is a {type(key).__name__}")
        target[key] = value


def _py2_str(a):
    return a.decode("latin1") if isinstance(a, bytes) else a


_VALUES = {
    "NONE": lambda a: None, "NEWTRUE": lambda a: True, "NEWFALSE": lambda a: False,
    "INT": lambda a: a, "BININT": lambda a: a, "BININT1": lambda a: a, "BININT2": lambda a: a,
    "LONG": lambda a: a, "LONG1": lambda a: a, "LONG4": lambda a: a,
    "FLOAT": float, "BINFLOAT": float,
    "UNICODE": str, "SHORT_BINUNICODE": str, "BINUNICODE": str, "BINUNICODE8": str,
    "SHORT_BINBYTES": bytes, "BINBYTES": bytes, "BINBYTES8": bytes, "BYTEARRAY8": bytes,
    # Python 2 strings, read as latin-1 (what encoding="latin1" does): genops
    # gives STRING as str, the binary ones as bytes
    "STRING": str, "BINSTRING": _py2_str, "SHORT_BINSTRING": _py2_str,
}


def resolve(obj, max_depth):
    """``obj`` with every Partial inside dicts and lists replaced by its
    value (iteratively); a Partial inside a tuple, one never completed, or
    containers nested deeper than ``max_depth`` (by any path: a container
    reached again deeper is walked again, at most max_depth times) are
    refused."""
    if isinstance(obj, Partial):
        obj = obj.value()
    if not isinstance(obj, _CONTAINERS):
        return obj
    todo, reached = [(obj, 1)], {}
    while todo:
        node, depth = todo.pop()
        if depth <= reached.get(id(node), 0):
            continue
        reached[id(node)] = depth
        if depth > max_depth:
            raise UnsafePickleError(f"containers nest deeper than {max_depth} levels (or one holds itself)")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in list(items):
            if isinstance(v, Partial):
                if isinstance(node, tuple):
                    raise UnsafePickleError("an array inside a tuple; weights are arrays in dicts")
                node[k] = v = v.value()
            if isinstance(v, _CONTAINERS):
                todo.append((v, depth + 1))
    return obj


class _DType(Partial):
    """np.dtype(name, False, True), then BUILD (3, order, None, None, None,
    -1, -1, 0): a plain number type from NUMPY_DTYPES, of either byte order."""

    def __init__(self, name):
        if name not in NUMPY_DTYPES and name != OBJECT:
            raise UnsafePickleError(f"an array has dtype {brief(name)}, not a plain number type")
        self.name, self.order = name, None

    def build(self, reader, state):
        if self.order is not None:
            raise UnsafePickleError("a dtype's state is set twice")
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
                and state[1] in BYTE_ORDERS and state[2:5] == (None, None, None)
                and state[5:7] in ((-1, -1), (self.itemsize(), 1))
                and state[7] == (OBJECT_FLAGS if self.name == OBJECT else 0)):
            raise UnsafePickleError(f"a {self.name} dtype has the state {brief(state)}, which only a "
                                "structured or object dtype has")
        self.order = BYTE_ORDERS[state[1]]

    def itemsize(self):
        return 8 if self.name == OBJECT else np.dtype(NUMPY_DTYPES[self.name]).itemsize

    def dtype(self):
        if self.name == OBJECT:
            raise UnsafePickleError("an object array other than the one np.save makes of a dict")
        if self.order is None:
            raise UnsafePickleError(f"a {self.name} dtype without its byte order")
        return np.dtype(NUMPY_DTYPES[self.name]).newbyteorder(self.order)

    def value(self):
        raise UnsafePickleError("a dtype outside an array")


class _Array(Partial):
    """numpy's _reconstruct(ndarray, (0,), b'b'), then BUILD (1, shape,
    dtype, is_fortran, raw bytes): the array is made from the raw bytes
    only when shape x itemsize is exactly their length. (A 0-d object array
    of one dict or list gives that container.)"""

    def __init__(self):
        self.array = None

    def build(self, reader, state):
        if self.array is not None:
            raise UnsafePickleError("an array's state is set twice")
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnsafePickleError(f"an array has the state {brief(state)}")
        _, shape, dtype, fortran, raw = state
        if not isinstance(shape, tuple) or len(shape) > 32:
            raise UnsafePickleError(f"an array has the shape {brief(shape)}")
        for s in shape:
            plain_int(s, "an array's dimension")
        if not isinstance(dtype, _DType) or not isinstance(fortran, bool):
            raise UnsafePickleError("an array's dtype is not a plain number type")
        if dtype.name == OBJECT:
            if shape != () or not (isinstance(raw, list) and len(raw) == 1
                                   and isinstance(raw[0], (dict, list))):
                raise UnsafePickleError("an object array other than the one np.save makes of a dict")
            self.array = raw[0]
            return
        if isinstance(raw, str):  # Python 2's str, or _codecs.encode's argument
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes):
            raise UnsafePickleError(f"an array's data is a {type(raw).__name__} (an object array?)")
        dt = dtype.dtype()
        count = 1
        for s in shape:
            count *= s
        if count * dt.itemsize != len(raw):
            raise UnsafePickleError(f"an array of shape {list(shape)} and dtype {dtype.name} needs "
                                f"{count * dt.itemsize} bytes and has {len(raw)}")
        reader.count_array_bytes(len(raw), f"an array of shape {list(shape)}")
        array = np.frombuffer(raw, dt).reshape(shape, order="F" if fortran else "C")
        self.array = np.ascontiguousarray(array, dt.newbyteorder("="))

    def value(self):
        if self.array is None:
            raise UnsafePickleError("an array without its data (the pickle never sets it)")
        return self.array


def _reconstruct(reader, args):
    if len(args) != 3 or args[0] is not _NDARRAY or args[1] != (0,) or args[2] not in (b"b", "b"):
        raise UnsafePickleError(f"numpy's _reconstruct called with {brief(args)}")
    return _Array()


def _dtype(reader, args):
    if len(args) != 3 or not isinstance(args[0], str) or args[1:] != (False, True):
        raise UnsafePickleError(f"numpy.dtype called with {brief(args)}")
    return _DType(args[0])


def _codecs_encode(reader, args):
    """_codecs.encode(str, "latin1"): how protocol 2 writes bytes."""
    if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode called with {brief(args)}")
    return args[0].encode("latin1")


def _no_call(reader, args):
    raise UnsafePickleError("numpy.ndarray is called directly")


_NDARRAY = Builder("numpy.ndarray", _no_call)


def numpy_builders():
    """The globals a pickled dict of NumPy arrays names (NumPy 1 and 2,
    Python 2 and 3 pickles)."""
    reconstruct = Builder("numpy _reconstruct", _reconstruct)
    dtype = Builder("numpy.dtype", _dtype)
    return {("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): dtype,
            ("_codecs", "encode"): Builder("_codecs.encode", _codecs_encode)}
