"""One entry point for every weights format: ``read_state_dict(path)``."""
import lzma
import os
import struct
import zipfile
import zlib

import numpy as np

from detect.weights.pickles import CorruptPickle, UnsafePickleError, load_numpy_pickle, plain_array
from detect.weights.safetensors import is_safetensors, read_safetensors
from detect.weights.torch_zip import WeightsFileError, is_torch_zip, read_torch_zip

# nesting of dicts in a state dict ("model" -> "backbone" -> ...): a few levels
MAX_DEPTH = 32
MAX_NAME = 1024

# torch.save's format before PyTorch 1.6 starts with this pickled number
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _flatten(obj, path):
    """{name: array} of nested dicts of arrays, names joined with "."
    (iteratively, at most MAX_DEPTH levels; a dict that holds itself is an
    error, not a recursion); anything else is an error naming the entry.
    Numbers become 0-d arrays (int64 or float64)."""
    out, todo, seen = {}, [((), obj)], set()
    while todo:
        parts, d = todo.pop()
        if id(d) in seen:
            raise WeightsFileError(f"{path}: dict {'.'.join(parts) or '(top)'} appears twice (a dict that "
                                   "holds itself, or one shared by two names); a state dict has neither")
        if len(parts) > MAX_DEPTH:
            raise WeightsFileError(f"{path}: dicts nest deeper than {MAX_DEPTH} levels")
        seen.add(id(d))
        for k, v in d.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool) or len(str(k)) > MAX_NAME:
                raise WeightsFileError(f"{path}: a key under {'.'.join(parts) or '(top)'} is not a "
                                       f"name ({type(k).__name__})")
            here = parts + (str(k),)
            if isinstance(v, dict):
                todo.append((here, v))
                continue
            name = ".".join(here)
            if isinstance(v, np.ndarray):
                try:
                    out[name] = plain_array(v, f"entry {name}")
                except UnsafePickleError as e:
                    raise WeightsFileError(f"refusing to load {path}: {e}") from None
            elif isinstance(v, int) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63:
                out[name] = np.asarray(v, np.int64)
            elif isinstance(v, float):
                out[name] = np.asarray(v, np.float64)
            else:
                what = f"the integer {v}" if isinstance(v, int) else f"a {type(v).__name__}"
                raise WeightsFileError(f"{path}: entry {name} is {what:.80}, not an array")
    return out


def _state_of(obj, path):
    """The model's arrays of a loaded checkpoint object: a state dict, or a
    detectron2 / training checkpoint {"model": state dict, ...} (other keys,
    such as the optimizer, ``__author__`` and ``matching_heuristics``, are
    left out)."""
    if not isinstance(obj, dict):
        raise WeightsFileError(f"{path} holds a {type(obj).__name__}, not a dict of weights")
    if "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if "blobs" in obj and isinstance(obj["blobs"], dict):  # a Caffe2 / Detectron (v1) file
        obj = obj["blobs"]
    state = _flatten(obj, path)
    if not state:
        raise WeightsFileError(f"{path} holds no arrays")
    return state


# what reading a hostile file can raise, beyond our own errors: each becomes
# a WeightsFileError naming the file
READ_ERRORS = (OSError, EOFError, OverflowError, MemoryError, RecursionError, TypeError, ValueError,
               KeyError, IndexError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
               zipfile.LargeZipFile, zlib.error, lzma.LZMAError, struct.error)


def read_state_dict(path):
    """{name: NumPy array} of a weights file.

    Raises FileNotFoundError, or WeightsFileError naming the file (corrupt,
    truncated, of an unknown format, unreadable, past a reader's limit, or
    asking for code to run).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        return _read(path)
    except WeightsFileError:
        raise
    except READ_ERRORS as e:  # bz2's errors are OSError
        raise WeightsFileError(f"{path} cannot be read as weights ({type(e).__name__}: "
                               f"{str(e)[:200]})") from None


def _read(path):
    """The format is told by the file's structure, not its name."""
    if is_safetensors(path):
        return read_safetensors(path)
    if is_torch_zip(path):
        return _state_of(read_torch_zip(path), path)
    with open(path, "rb") as f:
        head = f.read(2)
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            f.seek(0)
            try:
                obj = load_numpy_pickle(f)
            except UnsafePickleError as e:
                raise WeightsFileError(f"refusing to load {path}: {e}") from None
            except CorruptPickle as e:
                raise WeightsFileError(f"{path} is a corrupt or truncated pickle ({e})") from None
            if isinstance(obj, int) and obj == _LEGACY_TORCH_MAGIC:
                raise WeightsFileError(f"{path} is in PyTorch's legacy (before 1.6) format; re-save it "
                                       "with torch.save(torch.load(f), g) in a recent PyTorch")
            return _state_of(obj, path)
        if head == b"PK":  # a zip's first local header, but no end-of-archive record
            raise WeightsFileError(f"{path} starts as a zip archive (a PyTorch .pth) but its end is "
                                   "missing: the file is truncated (an interrupted download?)")
    raise WeightsFileError(f"{path} is not a weights file this reads (PyTorch zip .pth, "
                           ".safetensors, or a detectron2 .pkl)")
