"""``.safetensors`` files (Hugging Face's format), read with NumPy alone.

Layout: an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{...}}``, then the tensors' bytes, offsets relative to the end of the
header. The format is a few lines to read, and reading it here keeps
bfloat16 (widened to float32) and the errors ours: a header that is not
JSON, an unknown dtype, or a tensor whose bytes do not match its shape or
lie past the end of the file names the file and the tensor.
"""
import json
import os

import numpy as np

from detect.weights.torch_zip import WeightsFileError, _widen_bfloat16

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": "bfloat16",
          "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
          "BOOL": np.bool_}


def read_safetensors(path):
    """{name: NumPy array} of a .safetensors file. Raises WeightsFileError."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsFileError(f"{path} is not a safetensors file (shorter than its header length)")
        n = int.from_bytes(head, "little")
        if n > size - 8 or n > 100_000_000:
            raise WeightsFileError(f"{path} is not a safetensors file or is truncated (header of "
                                   f"{n} bytes in a file of {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WeightsFileError(f"{path}: the safetensors header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise WeightsFileError(f"{path}: the safetensors header is not a JSON object")
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = DTYPES[info["dtype"]], info["shape"], info["data_offsets"]
            ints = list(shape) + [begin, end]
            if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 62
                       for x in ints):
                raise ValueError("shape and offsets must be integers in [0, 2^62)")
            shape = tuple(shape)
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsFileError(f"{path}: tensor {name} has a malformed entry {info!r:.120} "
                                   f"({type(e).__name__}: {e})") from None
        bits = np.uint16 if dtype == "bfloat16" else dtype
        count = 1
        for s in shape:  # Python integers: no wrap-around
            count *= s
        if not (0 <= begin <= end <= len(data)) or end - begin != count * np.dtype(bits).itemsize:
            raise WeightsFileError(f"{path}: tensor {name} ({info['dtype']} {list(shape)}) has bytes "
                                   f"[{begin}, {end}) of {len(data)}: the file is truncated or corrupt")
        array = np.frombuffer(data, bits, count=count, offset=begin).reshape(shape)
        out[name] = _widen_bfloat16(array) if dtype == "bfloat16" else array.copy()
    return out
