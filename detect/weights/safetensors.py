"""``.safetensors`` files (Hugging Face's format), read with NumPy alone, to
the format's specification.

Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{str: str}}`` (which may end in spaces), then the tensors' bytes, offsets
relative to the end of the header. The header has no key twice; every
tensor's entry has exactly those three keys, a dtype of the table, a shape
of non-negative integers whose product times the dtype's size is its byte
count; and the tensors' byte ranges, in order, cover the data exactly, with
no gap and no overlap. Any other file is a WeightsFileError naming the file
and, where there is one, the tensor. bfloat16 is widened to float32.
"""
import collections
import json
import os

import numpy as np

from detect.weights.errors import WeightsFileError
from detect.weights.torch_zip import widen_bfloat16

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "|i1", "U8": "|u1", "BOOL": "|b1"}  # little-endian, as the format is
# the safetensors package refuses a header over 100,000,000 bytes
MAX_HEADER = 100_000_000
ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


def is_safetensors(path):
    """True when the file starts as a .safetensors file does: an 8-byte
    little-endian length that fits in the file, then ``{``."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= min(size - 8, MAX_HEADER)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted(k for k, c in collections.Counter(keys).items() if c > 1)
        raise ValueError(f"the key {twice[0][:80]!r} appears twice")
    return dict(pairs)


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 62


def read_header(path):
    """(the header's tensor entries {name: (dtype code, shape, begin, end)},
    in the order of their bytes, and where the data starts)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsFileError(f"{path} is not a safetensors file (shorter than its header length)")
        n = int.from_bytes(head, "little")
        if n > size - 8 or n > MAX_HEADER:
            raise WeightsFileError(f"{path} is not a safetensors file or is truncated (header of "
                                   f"{n} bytes in a file of {size})")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WeightsFileError(f"{path}: the safetensors header is not UTF-8 JSON without "
                               f"repeated keys ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(header, dict) or not text.startswith(b"{"):
        raise WeightsFileError(f"{path}: the safetensors header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise WeightsFileError(f"{path}: the safetensors __metadata__ is not a map of strings")
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != ENTRY_KEYS:
            raise WeightsFileError(f"{path}: tensor {name[:80]} has an entry with keys "
                                   f"{sorted(info)[:5] if isinstance(info, dict) else type(info).__name__}, "
                                   f"not {sorted(ENTRY_KEYS)}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in DTYPES:
            raise WeightsFileError(f"{path}: tensor {name[:80]} has dtype {str(code)[:20]!r}, "
                                   f"not one of {sorted(DTYPES)}")
        if not (isinstance(shape, list) and len(shape) <= 32 and all(_is_count(s) for s in shape)):
            raise WeightsFileError(f"{path}: tensor {name[:80]} has the shape {str(shape)[:80]}, not "
                                   "a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise WeightsFileError(f"{path}: tensor {name[:80]} has the data_offsets "
                                   f"{str(offsets)[:80]}, not [begin, end]")
        entries[name] = (code, tuple(shape), offsets[0], offsets[1])
    if not entries:
        raise WeightsFileError(f"{path} holds no tensors")
    data_size = size - 8 - n
    at = 0
    ordered = sorted(entries.items(), key=lambda e: (e[1][2], e[1][3]))
    for name, (code, shape, begin, end) in ordered:
        count = 1
        for s in shape:  # Python integers: no wrap-around
            count *= s
        itemsize = 2 if code == "BF16" else np.dtype(DTYPES[code]).itemsize
        if begin != at or end < begin or end - begin != count * itemsize:
            raise WeightsFileError(f"{path}: tensor {name[:80]} ({code} {list(shape)}) has bytes "
                                   f"[{begin}, {end}), but the tensors' bytes must follow one another "
                                   f"from 0 (here {at}) with {count * itemsize} bytes for this one: "
                                   "the file is corrupt")
        at = end
    if at != data_size:
        raise WeightsFileError(f"{path}: the tensors take {at} bytes but the file holds {data_size} "
                               "after its header: the file is truncated or corrupt")
    return dict(ordered), 8 + n


def read_safetensors(path):
    """{name: NumPy array} of a .safetensors file. Raises WeightsFileError."""
    entries, start = read_header(path)
    out = {}
    with open(path, "rb") as f:
        f.seek(start)
        for name, (code, shape, begin, end) in entries.items():
            raw = f.read(end - begin)
            if len(raw) != end - begin:
                raise WeightsFileError(f"{path}: tensor {name[:80]} is cut short: the file is truncated")
            dtype = DTYPES[code]
            bits = np.frombuffer(raw, "<u2" if dtype == "bfloat16" else dtype).reshape(shape)
            out[name] = widen_bfloat16(bits) if dtype == "bfloat16" else bits.astype(bits.dtype.newbyteorder("="))
    return out
