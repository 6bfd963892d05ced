"""Hostile weights files for the readers, written without PyTorch: the
crafted cases found by hand (a dtype reset that made NumPy free a pointer
from the file, a dict nested a million deep, a buffer used three thousand
times, encrypted and odd zip members, malformed .safetensors headers, ...)
and a seeded, structure-aware fuzzer that mutates small valid .pth, .pkl
and .safetensors files: opcodes, integer and length arguments, memo
indices, nesting, zip headers and compression, header JSON and offsets.

    cases = crafted_cases(folder) + fuzz_cases(folder, count=300, seed=0)
    # [(name, path)]; tests/weights/fuzz_worker.py reads each in a subprocess
"""
import io
import json
import lzma
import os
import pickle
import pickletools
import queue
import random
import resource
import struct
import subprocess
import sys
import threading
import warnings
import zipfile
import zlib

import numpy as np

from tests.weights.torch_files import Tensor, save_state_dict, write_torch_zip

STATE = {"backbone.conv1.weight": np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 7,
         "backbone.bn1.running_mean": np.linspace(-1, 1, 2).astype(np.float32),
         "roi_heads.box_predictor.cls_score.bias": np.array([0.5, -0.5, 2.0], np.float32),
         "backbone.bn1.num_batches_tracked": np.array(3, np.int64)}


# ---- valid seeds ---------------------------------------------------------

def write_pth(path, state=STATE, compress=zipfile.ZIP_STORED):
    save_state_dict(path, state)
    if compress != zipfile.ZIP_STORED:  # the same members, recompressed
        with zipfile.ZipFile(path) as z:
            members = [(i.filename, z.read(i)) for i in z.infolist()]
        with zipfile.ZipFile(path, "w", compress) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def write_pkl(path, state=STATE):
    """detectron2's model-zoo layout: {"model": {name: array}, "__author__"}."""
    with open(path, "wb") as f:
        pickle.dump({"model": dict(state), "__author__": "Detectron2 Model Zoo"}, f, protocol=2)
    return path


def safetensors_bytes(state=STATE, pad=0, header_extra=None):
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in state.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header.update(header_extra or {})
    text = json.dumps(header).encode() + b" " * pad
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def write_safetensors(path, state=STATE, pad=0):
    with open(path, "wb") as f:
        f.write(safetensors_bytes(state, pad))
    return path


# ---- crafted cases -------------------------------------------------------

class _DType:
    def __init__(self, name="V8", state=(3, "|", None, None, None, 8, 1, 0)):
        self.name, self.state = name, state

    def __reduce__(self):
        return (np.dtype, (self.name, False, True), self.state)


class _Array:
    """Pickles as NumPy does: _reconstruct(ndarray, shape0, b"b"), then
    BUILD (1, shape, dtype, fortran, raw) unless ``state`` is None."""

    def __init__(self, dtype, raw, shape=(1,), start=(0,), state=True):
        self.dtype, self.raw, self.shape, self.start, self.state = dtype, raw, shape, start, state

    def __reduce__(self):
        recon = np.zeros(1).__reduce__()[0]
        if self.state is None:
            return (recon, (np.ndarray, self.start, b"b"))
        return (recon, (np.ndarray, self.start, b"b"), (1, self.shape, self.dtype, False, self.raw))


class _Raw:
    """Opcodes written as they are (one value onto the stack)."""

    def __init__(self, build):
        self.build = build  # (pickler) -> None, writes opcodes


class _Pickler(pickle._Pickler):
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Raw):
            return obj.build(self)
        return super().save(obj, save_persistent_id)


def _dumps(obj):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _reset_dtype_later(dtype, state):
    """GET the memoized dtype, then BUILD it again with ``state``."""
    def build(p):
        p.write(pickle.BINGET + bytes([p.memo[id(dtype)][0]]))
        p.save(state)
        p.write(pickle.BUILD)
    return _Raw(build)


def _deep_dict_pickle(depth):
    """{"a": {"a": ... {"w": 1.0}}} nested ``depth`` deep, without recursion."""
    key = pickle.SHORT_BINUNICODE + b"\x01a"
    return (b"\x80\x02" + (pickle.EMPTY_DICT + key) * depth + pickle.EMPTY_DICT
            + pickle.SHORT_BINUNICODE + b"\x01w" + pickle.BINFLOAT + struct.pack(">d", 1.0)
            + pickle.SETITEM + pickle.SETITEM * depth + pickle.STOP)


def _zip(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def _pth_members(state=STATE):
    buf = io.BytesIO()
    save_state_dict(buf, state)
    with zipfile.ZipFile(buf) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _patch_zip(data, member_index, field, value):
    """A zip's bytes with a field of one member's local and central headers
    changed: "flags" (2 bytes) or "method" (2 bytes)."""
    out = bytearray(data)
    offsets = {"flags": (6, 8), "method": (8, 10)}
    local, central = offsets[field]
    # local headers: PK\3\4, central: PK\1\2 (fields 2 bytes further on)
    for sig, off in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        starts, at = [], out.find(sig)
        while at >= 0:
            starts.append(at)
            at = out.find(sig, at + 4)
        if member_index < len(starts):
            struct.pack_into("<H", out, starts[member_index] + off, value)
    return bytes(out)


def crafted_cases(folder):
    """[(name, path)] of the hand-found hostile files (issue 31)."""
    with warnings.catch_warnings():  # zipfile warns of the duplicated members it is asked to write
        warnings.simplefilter("ignore", UserWarning)
        return _crafted_cases(folder)


def _crafted_cases(folder):
    folder = str(folder)
    cases = []

    def add(name, data, suffix):
        path = f"{folder}/{name}{suffix}"
        with open(path, "wb") as f:
            f.write(data)
        cases.append((name, path))

    dt = _DType()
    object_field = (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0x3F)
    # 1. a dtype whose state is reset after its array exists: NumPy frees
    #    the array's 8 bytes as a PyObject* (a segfault on the old reader)
    add("dtype_reset_object_field",
        _dumps({"model": {"w": _Array(dt, b"\x41" * 8), "x": _reset_dtype_later(dt, object_field)}}), ".pkl")
    add("dtype_object_field", _dumps({"model": {"w": _Array(_DType("V8", object_field), [None])}}), ".pkl")
    add("dtype_refcount_flag", _dumps({"w": _Array(_DType("V8", (3, "|", None, None, None, 8, 1, 1)),
                                                   b"\x41" * 8)}), ".pkl")
    f4 = _DType("f4", (3, "<", None, None, None, -1, -1, 0))
    add("dtype_f4_reset_later", _dumps({"w": _Array(f4, b"\x41" * 8, shape=(2,)),
                                        "x": _reset_dtype_later(f4, object_field)}), ".pkl")
    # 2. arrays without data, or made bigger than the file
    add("array_without_data", _dumps({"w": _Array(None, None, start=(64,), state=None)}), ".pkl")
    add("array_huge_start", _dumps({"w": _Array(None, None, start=(500_000_000,), state=None)}), ".pkl")
    add("array_never_built", _dumps({"w": _Array(None, None, state=None)}), ".pkl")
    newobj = (b"\x80\x02}X\x01\x00\x00\x00wcnumpy\nndarray\n(J\x00\xca\x9a;\x85tR\x81s.")
    add("ndarray_new", newobj, ".pkl")
    add("big_int", _dumps({"w": 2 ** 100}), ".pkl")
    # 3. memo and nesting
    memo = _dumps({"w": np.ones(2, np.float32)}).replace(pickle.BINPUT + b"\x00",
                                                        pickle.LONG_BINPUT + b"\xff\xff\xff\x0f", 1)
    add("memo_huge_index", memo, ".pkl")
    deep = _deep_dict_pickle(1_000_000)
    add("deep_dict_pth", _zip_bytes([("archive/data.pkl", deep), ("archive/byteorder", b"little")],
                                    zipfile.ZIP_DEFLATED), ".pth")
    add("deep_dict_stored_pth", _zip_bytes([("archive/data.pkl", deep), ("archive/byteorder", b"little")]),
        ".pth")
    add("deep_dict_pkl", deep, ".pkl")
    # 4. one buffer used many times: 600 arrays of one memoized MiB, and
    #    600 whole views of one stored MiB
    raw = np.ones(256 * 1024, np.float32).tobytes()
    arrays = {f"w{i}": _Array(f4, raw, shape=(len(raw) // 4,)) for i in range(600)}
    add("one_buffer_600_times", _dumps(arrays), ".pkl")
    storage = np.ones(256 * 1024, np.float32)
    path = f"{folder}/one_storage_600_views.pth"
    write_torch_zip(path, {f"w{i}": Tensor(storage, "0", 0, storage.shape, (1,)) for i in range(600)})
    cases.append(("one_storage_600_views", path))
    # ... and the same views, the storage's size in the central directory
    #    claiming 4 GB (a budget from declared sizes would let them through)
    data = bytearray(open(path, "rb").read())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + name_len]) == b"archive/data/0":
            struct.pack_into("<I", data, at + 24, 0xFFFFFFF0)
        at = data.find(b"PK\x01\x02", at + 4)
    add("one_storage_600_views_size_lie", bytes(data), ".pth")
    # lists nested deeper than the limit by appending to lists already held
    n = 200
    chain = b"\x80\x02" + b"".join(b"]r" + struct.pack("<I", i) + b"0" for i in range(n))
    chain += b"".join(b"j" + struct.pack("<I", i) + b"j" + struct.pack("<I", i + 1) + b"a0" for i in range(n - 1))
    chain += b"}X\x01\x00\x00\x00w]" + b"(" + b"".join(b"j" + struct.pack("<I", i) for i in range(0, n, 50))
    add("deep_list_by_appends", chain + b"es.", ".pkl")
    # many names, one twice (a quadratic check of duplicates would hang)
    many = [(f"archive/data/{i}", b"") for i in range(20000)]
    add("zip_20000_members_one_twice", _zip_bytes(_pth_members() + many + many[:1]), ".pth")
    keys = ", ".join(f'"k{i}": {{"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}' for i in range(20000))
    add("st_20000_keys_one_twice", _st_raw(("{" + keys + ', "k0": {"dtype": "F32", "shape": [0], '
                                            '"data_offsets": [0, 0]}}').encode(), {}), ".safetensors")
    packed = _zip_bytes(_pth_members(), zipfile.ZIP_DEFLATED)
    add("zip_truncated", packed[: len(packed) // 2], ".pth")
    # 5. zip members the reader must refuse cleanly
    members = _pth_members()
    good = _zip_bytes(members, zipfile.ZIP_DEFLATED)
    add("zip_encrypted", _patch_zip(good, 0, "flags", 0x1), ".pth")
    add("zip_method_6", _patch_zip(good, 0, "method", 6), ".pth")
    add("zip_method_99", _patch_zip(good, 0, "method", 99), ".pth")
    add("zip_method_lzma_on_deflate", _patch_zip(good, 0, "method", 14), ".pth")
    add("zip_corrupt_deflate", _corrupt_first_member(good), ".pth")
    add("zip_corrupt_lzma", _corrupt_first_member(_zip_bytes(members, zipfile.ZIP_LZMA)), ".pth")
    add("zip_bzip2", _zip_bytes(members, zipfile.ZIP_BZIP2), ".pth")
    add("zip_duplicate_storage", _zip_bytes(members + [m for m in members if "/data/0" in m[0]]), ".pth")
    add("zip_xdata_pkl", _zip_bytes([("archive/xdata.pkl" if n.endswith("data.pkl") else n, d)
                                     for n, d in members]), ".pth")
    add("zip_big_byteorder", _zip_bytes([(n, d if not n.endswith("/byteorder") else b"little" + b" " * (64 << 20))
                                         for n, d in members], zipfile.ZIP_DEFLATED), ".pth")
    bomb = b"\x80\x02" + b"N0" * (100 << 20) + b"}."
    add("zip_pickle_bomb", _zip_bytes([("archive/data.pkl", bomb)], zipfile.ZIP_DEFLATED), ".pth")
    # 6. .safetensors headers against the specification
    st = {"w": np.ones(4, np.float32), "b": np.zeros(2, np.float32)}
    add("st_utf16", _st_raw(json.dumps(_st_header(st)).encode("utf-16"), st), ".safetensors")
    add("st_overlap", _st_raw(json.dumps(_st_header(st, {"b": [0, 8]})).encode(), st), ".safetensors")
    add("st_gap", _st_raw(json.dumps(_st_header(st, {"b": [20, 28]})).encode(), st, extra=b"\0" * 4),
        ".safetensors")
    header = json.dumps(_st_header(st)).encode()
    add("st_duplicate_key", _st_raw(header[:-1] + b', "w": ' + json.dumps(_st_header(st)["w"]).encode() + b"}",
                                    st), ".safetensors")
    h = _st_header(st)
    h["w"]["shape"] = {}
    add("st_shape_object", _st_raw(json.dumps(h).encode(), st), ".safetensors")
    h = _st_header(st)
    h["__metadata__"] = {"format": 1}
    add("st_metadata_not_string", _st_raw(json.dumps(h).encode(), st), ".safetensors")
    add("st_empty_header", _st_raw(b"{}", {}), ".safetensors")
    return cases


def _corrupt_first_member(data):
    """A zip's bytes with the middle of its first member's packed stream
    overwritten (the headers stay intact)."""
    out = bytearray(data)
    name_len, extra_len = struct.unpack_from("<HH", out, 26)
    packed = struct.unpack_from("<I", out, 18)[0]
    start = 30 + name_len + extra_len
    mid = start + packed // 2
    out[mid:mid + 8] = b"\xa5" * 8
    return bytes(out)


def _zip_bytes(members, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def _st_header(state, offsets=None):
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for name, a in state.items():
        n = a.nbytes
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": (offsets or {}).get(name, [at, at + n])}
        at += n
    return header


def _st_raw(header, state, extra=b""):
    return len(header).to_bytes(8, "little") + header + b"".join(a.tobytes() for a in state.values()) + extra


# ---- the fuzzer ----------------------------------------------------------

BOUNDARY = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x0FFFFFFF]
INT_ARGS = {"BININT1": "<B", "BININT2": "<H", "BININT": "<i", "BINPUT": "<B", "BINGET": "<B",
            "LONG_BINPUT": "<I", "LONG_BINGET": "<I"}
LEN_ARGS = {"SHORT_BINUNICODE": "<B", "BINUNICODE": "<I", "SHORT_BINBYTES": "<B", "BINBYTES": "<I",
            "SHORT_BINSTRING": "<B", "BINSTRING": "<i"}
SNIPPETS = [b"cos\nsystem\n", b"cnumpy\ndtype\n", b"cnumpy\nndarray\n", b"cbuiltins\neval\n",
            b"\x81", b"R", b"b", b"s", b"0", b"(", b"t", b"}", b"]", b"a", b"e", b"u", b"2", b"Q",
            b"\x8c\x05numpy\x8c\x05dtype\x93", b"\x82\x01", b"\x94", b"h\x00", b"j\xff\xff\xff\x0f"]


def _opcodes(data):
    """[(name, position, length)] of a pickle's opcodes (up to an error)."""
    out = []
    try:
        ops = list(pickletools.genops(data))
    except Exception:
        return out
    for i, (op, _, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        out.append((op.name, pos, end - pos))
    return out


def mutate_pickle(data, rng):
    """One structure-aware change to a pickle's bytes."""
    ops = _opcodes(data)
    if not ops:
        return data[: rng.randrange(len(data) + 1)]
    name, pos, length = ops[rng.randrange(len(ops))]
    kind = rng.randrange(8)
    if kind == 0:  # another opcode byte
        return data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
    if kind == 1 and name in INT_ARGS:  # a boundary integer argument
        fmt = INT_ARGS[name]
        value = rng.choice(BOUNDARY) & ((1 << (8 * struct.calcsize(fmt))) - 1)
        if fmt == "<i" and value >= 1 << 31:
            value -= 1 << 32
        return data[:pos + 1] + struct.pack(fmt, value) + data[pos + 1 + struct.calcsize(fmt):]
    if kind == 2 and name in LEN_ARGS:  # a length past the data
        fmt = LEN_ARGS[name]
        value = rng.choice(BOUNDARY) & ((1 << (8 * struct.calcsize(fmt))) - 1)
        if fmt == "<i" and value >= 1 << 31:
            value -= 1 << 32
        return data[:pos + 1] + struct.pack(fmt, value) + data[pos + 1 + struct.calcsize(fmt):]
    if kind == 3:  # a snippet inserted
        return data[:pos] + rng.choice(SNIPPETS) + data[pos:]
    if kind == 4:  # an opcode removed
        return data[:pos] + data[pos + length:]
    if kind == 5:  # a stretch repeated (nesting, memo reuse)
        other = ops[rng.randrange(len(ops))][1]
        a, b = sorted((pos, other))
        return data[:b] + data[a:b] * rng.randrange(1, 4) + data[b:]
    if kind == 6:  # truncated at an opcode
        return data[:pos]
    i = rng.randrange(len(data))  # a random byte
    return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]


def mutate_zip(data, rng):
    """One change to a zip: a member's pickle, its bytes, a header field,
    its compression, or a duplicated or renamed member."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(i.filename, z.read(i), i.compress_type) for i in z.infolist()]
    kind = rng.randrange(7)
    if kind == 0:
        members = [(n, mutate_pickle(d, rng) if n.endswith("data.pkl") else d, c) for n, d, c in members]
    elif kind == 1:
        n, d, c = members[rng.randrange(len(members))]
        members.append((n, d[: rng.randrange(len(d) + 1)], c))
    elif kind == 2:
        members = [(n.replace("data.pkl", rng.choice(["xdata.pkl", "data.pkl/", "a/data.pkl"])), d, c)
                   for n, d, c in members]
    elif kind == 3:
        i = rng.randrange(len(members))
        n, d, c = members[i]
        members[i] = (n, d[: rng.randrange(len(d) + 1)], c)
    if kind in (0, 1, 2, 3):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, d, c in members:
                z.writestr(zipfile.ZipInfo(n), d, compress_type=c)
        return buf.getvalue()
    if kind == 4:  # a header field
        field = rng.choice(["flags", "method"])
        value = rng.choice([1, 6, 8, 9, 12, 14, 93, 95, 98, 99]) if field == "method" else rng.choice([1, 8, 64])
        return _patch_zip(data, rng.randrange(len(members)), field, value)
    if kind == 5:  # recompressed, then a byte of a member's stream changed
        compress = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
        out = bytearray(_zip_bytes([(n, d) for n, d, _ in members], compress))
        i = rng.randrange(30, max(31, len(out) // 2))
        out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    out = bytearray(data)  # a random byte of the archive
    i = rng.randrange(len(out))
    out[i] = rng.randrange(256)
    return bytes(out)


def mutate_safetensors(data, rng):
    """One change to a .safetensors file: its header's JSON (offsets,
    shapes, dtypes, keys, encoding), its length field, or its data."""
    n = int.from_bytes(data[:8], "little")
    header, body = json.loads(data[8:8 + n]), data[8 + n:]
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    kind = rng.randrange(9)
    if kind == 0:
        header[name]["data_offsets"][rng.randrange(2)] += rng.choice([-4, -1, 1, 4, 1 << 40])
    elif kind == 1:
        header[name]["shape"] = rng.choice([[], [-1], [2 ** 63], {}, "3", [1.5], [True], [1] * 40])
    elif kind == 2:
        header[name]["dtype"] = rng.choice(["F8", "Q7", "", 3, "F32 ", "BF16", "BOOL", "U64"])
    elif kind == 3:
        header[name][rng.choice(["extra", "dtype", "shape"])] = None
    elif kind == 4:
        header["__metadata__"] = rng.choice([{"a": 1}, [], "x", {"a": {"b": "c"}}])
    elif kind == 5:
        text = json.dumps(header).encode(rng.choice(["utf-16", "utf-32", "latin1"]))
        return len(text).to_bytes(8, "little") + text + body
    elif kind == 6:
        delta = rng.choice([-9, -1, 1, 7, 1 << 20, 1 << 62])
        return (max(n + delta, 0) % (1 << 64)).to_bytes(8, "little") + data[8:]
    elif kind == 7:
        return data[: rng.randrange(len(data) + 1)]
    else:
        header = dict(list(header.items())[::-1])
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def fuzz_cases(folder, count, seed=0):
    """[(name, path)]: ``count`` mutants of the valid seeds, one to three
    mutations each, by a fixed seed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _fuzz_cases(folder, count, seed)


def _fuzz_cases(folder, count, seed):
    folder = str(folder)
    seeds = {".pth": open(write_pth(f"{folder}/seed.pth"), "rb").read(),
             ".pthz": open(write_pth(f"{folder}/seedz.pth", compress=zipfile.ZIP_DEFLATED), "rb").read(),
             ".pkl": open(write_pkl(f"{folder}/seed.pkl"), "rb").read(),
             ".safetensors": safetensors_bytes()}
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.choice(sorted(seeds))
        data = seeds[kind]
        for _ in range(rng.randrange(1, 4)):
            try:
                if kind in (".pth", ".pthz"):
                    data = mutate_zip(data, rng)
                elif kind == ".pkl":
                    data = mutate_pickle(data, rng)
                else:
                    data = mutate_safetensors(data, rng)
            except (zipfile.BadZipFile, ValueError, KeyError, IndexError, EOFError, zlib.error,
                    json.JSONDecodeError, UnicodeDecodeError, OSError, TypeError, AttributeError,
                    NotImplementedError, RuntimeError, lzma.LZMAError):
                break  # an earlier mutation left nothing this kind of change can parse
        suffix = ".pth" if kind.startswith(".pth") else kind
        path = f"{folder}/fuzz{i:05d}{suffix}"
        with open(path, "wb") as f:
            f.write(data)
        out.append((f"fuzz{i:05d}", path))
    return out


# ---- running cases in a subprocess -----------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cases(cases, folder, memory_mb=512, address_space_mb=3072, timeout_s=10.0):
    """{name: result} of reading each case in tests/weights/fuzz_worker.py's
    process, under an address-space limit. result: {"outcome", "message",
    "seconds", "rss_mb", "ok"}; ok when it ended accepted or with
    WeightsFileError, within timeout_s, and with the worker's peak resident
    memory at most memory_mb above its peak after the first case. A crash,
    a hang or a blow-up ends the worker; the cases after it go to a fresh one."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (address_space_mb << 20, address_space_mb << 20))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    results, todo, base = {}, list(cases), None
    while todo:
        spec = os.path.join(str(folder), "cases.json")
        with open(spec, "w") as f:
            json.dump(todo, f)
        proc = subprocess.Popen([sys.executable, "-m", "tests.weights.fuzz_worker", spec], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=limit)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        current, verdict = None, None
        while True:
            try:
                line = lines.get(timeout=timeout_s + 1 if current else 120)
            except queue.Empty:
                verdict = ("hung", f"no end after {timeout_s} s")
                break
            if line is None:
                break
            msg = json.loads(line)
            if "start" in msg:
                current = msg["case"]
                continue
            base = msg["rss_mb"] if base is None else base
            msg["ok"] = msg["outcome"] in ("accepted", "WeightsFileError") and msg["seconds"] <= timeout_s
            blown = msg["rss_mb"] > base + memory_mb
            if blown:
                msg["ok"] = False
                msg["message"] = f"peak resident memory {msg['rss_mb']} MB (start {base}): {msg['message']}"
            results[msg["case"]] = msg
            current = None
            if blown:  # the peak stays: later cases need a fresh process
                break
        proc.kill()
        proc.wait()
        if current is not None:
            code = proc.returncode
            outcome = verdict or ((f"crashed (signal {-code})" if code < 0 else f"exit {code}"), "")
            results[current] = {"outcome": outcome[0], "message": outcome[1], "ok": False}
        left = [c for c in todo if c[0] not in results]
        if len(left) == len(todo):  # the worker read nothing: do not loop
            for name, _ in left:
                results[name] = {"outcome": f"worker exit {proc.returncode}", "message": "", "ok": False}
            left = []
        todo = left
    return results
