"""Weights files read without PyTorch and without running code from them:
PyTorch zip checkpoints, detectron2 pickles, safetensors; each way a file
can be broken ends in a WeightsFileError naming it."""
import collections
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from detect.weights import WeightsFileError, read_state_dict
from tests.weights.torch_files import Global, Tensor, save_state_dict, tensors_of, write_torch_zip


def test_state_dict_round_trip(tmp_path):
    state = {"conv.weight": np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32),
             "bn.running_var": np.linspace(0.5, 2, 4).astype(np.float64),
             "half": np.array([1.5, -2.25, 65504.0], np.float16),
             "bn.num_batches_tracked": np.array(7, np.int64)}
    path = str(tmp_path / "m.pth")
    save_state_dict(path, state)
    got = read_state_dict(path)
    assert sorted(got) == sorted(state)
    for k, v in state.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)


def test_views_with_strides_and_offsets(tmp_path):
    """A transposed view and a slice at an offset share one storage."""
    base = np.arange(24, dtype=np.float32)
    t = Tensor(base, "0", 0, (4, 6), (1, 4))  # the transpose of a 6 x 4 matrix
    s = Tensor(base, "0", 5, (3,), (2,))  # elements 5, 7, 9
    path = str(tmp_path / "v.pth")
    write_torch_zip(path, collections.OrderedDict(t=t, s=s))
    got = read_state_dict(path)
    np.testing.assert_array_equal(got["t"], base.reshape(6, 4).T)
    np.testing.assert_array_equal(got["s"], [5.0, 7.0, 9.0])


def test_bfloat16_is_widened_exactly(tmp_path):
    values = np.array([1.0, -3.5, 0.15625, 2.0 ** 100], np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # exact in bfloat16
    path = str(tmp_path / "b.pth")
    write_torch_zip(path, collections.OrderedDict(w=Tensor(bits, "0", 0, (4,), (1,),
                                                           kind="BFloat16Storage")))
    np.testing.assert_array_equal(read_state_dict(path)["w"], values)


def test_detectron2_checkpoint_takes_its_model(tmp_path):
    path = str(tmp_path / "d2.pth")
    save_state_dict(path, {"backbone.stem.conv1.weight": np.ones((2, 3, 1, 1), np.float32)},
                    wrap="model")
    assert list(read_state_dict(path)) == ["backbone.stem.conv1.weight"]


def test_detectron2_model_zoo_pickle(tmp_path):
    path = str(tmp_path / "model_final.pkl")
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    with open(path, "wb") as f:
        pickle.dump({"model": {"roi_heads.box_predictor.cls_score.weight": w},
                     "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}, f, protocol=2)
    got = read_state_dict(path)
    assert list(got) == ["roi_heads.box_predictor.cls_score.weight"]
    np.testing.assert_array_equal(got["roi_heads.box_predictor.cls_score.weight"], w)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    path = str(tmp_path / "evil.pkl")
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": _Evil(marker)}}, f, protocol=2)
    with pytest.raises(WeightsFileError, match=r"refusing to load .*evil\.pkl.*(posix|os)\.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_torch_zip_whose_pickle_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = str(tmp_path / "evil.pth")
    obj = collections.OrderedDict(tensors_of({"w": np.zeros(2, np.float32)}))
    obj["x"] = _Evil(marker)
    write_torch_zip(path, obj)
    with pytest.raises(WeightsFileError, match=r"refusing to load .*evil\.pth.*system"):
        read_state_dict(path)
    assert not marker.exists()


def test_unknown_torch_global_is_named(tmp_path):
    path = str(tmp_path / "g.pth")
    write_torch_zip(path, {"f": Global("torch.nn.modules.conv", "Conv2d")})
    with pytest.raises(WeightsFileError, match="torch.nn.modules.conv.Conv2d"):
        read_state_dict(path)


def test_truncated_storage(tmp_path):
    path = str(tmp_path / "t.pth")
    write_torch_zip(path, collections.OrderedDict(tensors_of({"w": np.ones((8, 8), np.float32)})),
                    truncate_storage="0")
    with pytest.raises(WeightsFileError, match=r"t\.pth.*storage 0 has 128 bytes.*truncated"):
        read_state_dict(path)


def test_tensor_past_its_storage(tmp_path):
    path = str(tmp_path / "s.pth")
    write_torch_zip(path, {"w": Tensor(np.zeros(10, np.float32), "0", 4, (2, 4), (4, 1))})
    with pytest.raises(WeightsFileError, match=r"s\.pth.*storage 0 holds 10 elements.*reaches element 11"):
        read_state_dict(path)


def test_missing_storage_member(tmp_path):
    path = str(tmp_path / "m.pth")
    write_torch_zip(path, collections.OrderedDict(tensors_of({"w": np.ones(3, np.float32)})))
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if not n.endswith("/data/0")}
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(WeightsFileError, match=r"m\.pth: storage 0 .*no archive/data/0"):
        read_state_dict(path)


def test_cut_zip_file(tmp_path):
    path = str(tmp_path / "cut.pth")
    save_state_dict(path, {"w": np.ones((64, 64), np.float32)})
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(WeightsFileError, match="cut.pth"):
        read_state_dict(path)


def test_legacy_torch_format_says_how_to_convert(tmp_path):
    path = str(tmp_path / "old.pth")
    with open(path, "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
    with pytest.raises(WeightsFileError, match="legacy"):
        read_state_dict(path)


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(WeightsFileError, match="notes.txt is not a weights file"):
        read_state_dict(str(path))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_state_dict(str(tmp_path / "nope.pth"))


def _safetensors(path, tensors, header_extra=None, cut=0):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, array) in tensors.items():
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header.update(header_extra or {})
    text = json.dumps(header).encode()
    data = len(text).to_bytes(8, "little") + text + b"".join(blobs)
    with open(path, "wb") as f:
        f.write(data[: len(data) - cut])


def test_safetensors(tmp_path):
    path = str(tmp_path / "m.safetensors")
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    bf = (np.array([2.0, -0.5], np.float32).view(np.uint32) >> 16).astype(np.uint16)
    _safetensors(path, {"w": ("F32", w), "b": ("BF16", bf), "n": ("I64", np.array([5], np.int64))})
    got = read_state_dict(path)
    np.testing.assert_array_equal(got["w"], w)
    np.testing.assert_array_equal(got["b"], [2.0, -0.5])
    assert got["n"].dtype == np.int64


def test_safetensors_truncated_and_malformed(tmp_path):
    path = str(tmp_path / "t.safetensors")
    _safetensors(path, {"w": ("F32", np.ones((4, 4), np.float32))}, cut=8)
    with pytest.raises(WeightsFileError, match=r"t\.safetensors: the tensors take 64 bytes but the file holds 56 .*truncated"):
        read_state_dict(path)
    _safetensors(path, {"w": ("F32", np.ones(2, np.float32))}, {"v": {"dtype": "Q7", "shape": [1],
                                                                       "data_offsets": [0, 4]}})
    with pytest.raises(WeightsFileError, match="tensor v has dtype 'Q7'"):
        read_state_dict(path)


def _ops(value):
    """The opcodes that push ``value`` (a protocol-2 pickle without PROTO, STOP)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def test_a_pickle_cannot_rebuild_a_storage(tmp_path):
    """BUILD on a storage (to swap its array for a smaller one and read past
    it) is refused."""
    data = (b"\x80\x02(" + _ops("storage") + b"ctorch\nFloatStorage\n" + _ops("0") + _ops("cpu")
            + _ops(4) + b"tQ}" + _ops("array") + _ops(1) + b"sb.")
    path = str(tmp_path / "build.pth")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(WeightsFileError, match="refusing to load .*sets the state of a Storage"):
        read_state_dict(path)


def test_expanded_views_and_self_holding_dicts_are_refused(tmp_path):
    path = str(tmp_path / "expand.pth")  # a million elements on one stored float
    write_torch_zip(path, {"w": Tensor(np.zeros(1, np.float32), "0", 0, (1000, 1000), (0, 0))})
    with pytest.raises(WeightsFileError, match="more elements than its storage"):
        read_state_dict(path)
    loop = {}
    loop["model"] = {"a": np.zeros(2, np.float32), "self": loop}
    path = str(tmp_path / "loop.pkl")
    with open(path, "wb") as f:
        pickle.dump(loop, f, protocol=2)
    with pytest.raises(WeightsFileError, match=r"nest deeper than 64 levels \(or one holds itself\)"):
        read_state_dict(path)


def test_arrays_of_structured_dtypes_are_refused(tmp_path):
    """A dtype with fields (which a crafted pickle can point past the item)
    is not a weight."""
    path = str(tmp_path / "fields.pkl")
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": np.zeros(2, dtype=[("a", "<f4"), ("b", "<f4")])}}, f, protocol=2)
    with pytest.raises(WeightsFileError, match="refusing to load .*dtype 'V8', not a plain number type"):
        read_state_dict(path)


def test_safetensors_offsets_that_are_not_integers(tmp_path):
    path = str(tmp_path / "o.safetensors")
    _safetensors(path, {"w": ("F32", np.ones(2, np.float32))},
                 {"w": {"dtype": "F32", "shape": [2], "data_offsets": ["a", "b"]}})
    with pytest.raises(WeightsFileError, match=r"tensor w has the data_offsets \['a', 'b'\], not \[begin, end\]"):
        read_state_dict(path)
    _safetensors(path, {"w": ("F32", np.ones(2, np.float32))},
                 {"w": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 8]}})
    with pytest.raises(WeightsFileError, match="tensor w"):
        read_state_dict(path)
