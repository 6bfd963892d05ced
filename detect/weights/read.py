"""One entry point for every weights format: ``read_state_dict(path)``."""
import os
import pickle

import numpy as np

from detect.weights.pickles import NumpyOnlyUnpickler, UnsafePickleError, plain_array
from detect.weights.safetensors import read_safetensors
from detect.weights.torch_zip import WeightsFileError, is_torch_zip, read_torch_zip

# torch.save's format before PyTorch 1.6 starts with this pickled number
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _flatten(obj, path):
    """{name: array} of nested dicts of arrays (iteratively: a dict that
    holds itself is an error, not a recursion); anything else is an error.
    Every array is checked and copied (pickles.plain_array)."""
    out, todo, seen = {}, [("", obj)], set()
    while todo:
        prefix, d = todo.pop()
        if id(d) in seen:
            raise WeightsFileError(f"{path}: dict {prefix or '(top)'} holds itself")
        seen.add(id(d))
        for k, v in d.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict):
                todo.append((name + ".", v))
            elif isinstance(v, np.ndarray):
                try:
                    out[name] = plain_array(v, f"entry {name}")
                except UnsafePickleError as e:
                    raise WeightsFileError(f"refusing to load {path}: {e}") from None
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[name] = np.asarray(v)
            else:
                raise WeightsFileError(f"{path}: entry {name} is a {type(v).__name__}, not an array")
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


def read_state_dict(path):
    """{name: NumPy array} of a weights file.

    Raises FileNotFoundError, or WeightsFileError naming the file (corrupt,
    truncated, of an unknown format, unreadable, or asking for code to run).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        return _read(path)
    except (OSError, OverflowError, MemoryError, RecursionError, TypeError, ValueError) as e:
        if isinstance(e, WeightsFileError):
            raise
        raise WeightsFileError(f"{path} cannot be read as weights ({type(e).__name__}: "
                               f"{str(e)[:200]})") from None


def _read(path):
    if is_torch_zip(path):
        return _state_of(read_torch_zip(path), path)
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:1] == b"\x80":  # a pickle (protocol 2 or later)
        try:
            with open(path, "rb") as f:
                obj = NumpyOnlyUnpickler(f, encoding="latin1").load()
        except UnsafePickleError as e:
            raise WeightsFileError(f"refusing to load {path}: {e}") from None
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError,
                AttributeError, MemoryError) as e:
            raise WeightsFileError(f"{path} is a corrupt or truncated pickle ({type(e).__name__}: "
                                   f"{e})") from None
        if isinstance(obj, int) and obj == _LEGACY_TORCH_MAGIC:
            raise WeightsFileError(f"{path} is in PyTorch's legacy (before 1.6) format; re-save it "
                                   "with torch.save(torch.load(f), g) in a recent PyTorch")
        return _state_of(obj, path)
    if len(head) >= 9 and head[8:9] == b"{":
        return read_safetensors(path)
    raise WeightsFileError(f"{path} is not a weights file this reads (PyTorch zip .pth, "
                           ".safetensors, or a detectron2 .pkl)")
