"""TFFRCNN's VGG_imagenet.npy is read without running code from the file."""
import io
import os
import pickle
import struct

import numpy as np
import pytest

from detect.modeling.caffe_weights import read_npy_dict


class _MakesDir:
    """Unpickling this runs os.mkdir(path): a stand-in for os.system."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _layers(rng):
    return {"conv1_1": {"weights": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
                        "biases": rng.normal(size=4).astype(np.float32)},
            "fc7": {"weights": rng.normal(size=(6, 5)).astype(np.float32),
                    "biases": np.zeros(5, np.float32)}}


def _assert_same(got, want):
    assert sorted(got) == sorted(want)
    for layer, params in want.items():
        assert sorted(got[layer]) == sorted(params)
        for key, value in params.items():
            assert got[layer][key].dtype == value.dtype
            np.testing.assert_array_equal(got[layer][key], value)


def test_dict_saved_by_np_save_loads(tmp_path):
    path = str(tmp_path / "VGG_imagenet.npy")
    want = _layers(np.random.default_rng(0))
    np.save(path, want, allow_pickle=True)
    _assert_same(read_npy_dict(path), want)


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as TFFRCNN's file does."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def test_python2_pickle_as_in_tffrcnn_loads(tmp_path):
    # TFFRCNN's VGG_imagenet.npy was written by Python 2 and NumPy 1: array
    # data in latin-1 byte strings, _reconstruct named at numpy.core.
    want = _layers(np.random.default_rng(1))
    out = io.BytesIO()
    _Py2Pickler(out, protocol=2).dump(np.array(want, dtype=object))
    payload = out.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in payload
    path = str(tmp_path / "py2.npy")
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(payload)
    _assert_same(read_npy_dict(path), want)


@pytest.mark.parametrize("where", ["top", "inside_a_layer"])
def test_crafted_pickle_is_refused_and_never_runs(tmp_path, where):
    marker = str(tmp_path / f"ran_{where}")
    evil = _MakesDir(marker)
    data = evil if where == "top" else {"conv1_1": {"weights": evil, "biases": np.zeros(2)}}
    path = str(tmp_path / "evil.npy")
    np.save(path, np.array(data, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"refusing to load .*evil\.npy: it names "
                                         r"(posix|nt|os)\.mkdir"):
        read_npy_dict(path)
    assert not os.path.exists(marker)


def test_plain_and_broken_files_are_clear_errors(tmp_path):
    plain = str(tmp_path / "plain.npy")
    np.save(plain, np.zeros(3))
    with pytest.raises(ValueError, match="must hold a dict of layers"):
        read_npy_dict(plain)
    cut = str(tmp_path / "cut.npy")
    np.save(cut, _layers(np.random.default_rng(2)), allow_pickle=True)
    with open(cut, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npy is not a readable .npy file"):
        read_npy_dict(cut)
    text = str(tmp_path / "text.npy")
    with open(text, "w") as f:
        f.write("not numpy")
    with pytest.raises(ValueError, match="text.npy is not a readable .npy file"):
        read_npy_dict(text)
