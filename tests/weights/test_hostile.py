"""Hostile weights files: every crafted case of issue 31 and 300 fuzzed
mutants of small valid .pth, .pkl and .safetensors files, each read in a
subprocess under a memory limit (tests/weights/hostile.py). Each must end
within 10 s and 512 MB, accepted or with WeightsFileError: never a crash,
a hang, another exception or a blow-up. benchmarks/fuzz_weights.py runs
the same fuzzer longer."""
import numpy as np
import pytest

from detect.weights import WeightsFileError, read_state_dict
from detect.weights import zoo
from tests.weights.hostile import STATE, crafted_cases, fuzz_cases, run_cases, safetensors_bytes

# crafted files that a reader must refuse (the rest may be read or refused)
MUST_REFUSE = {"dtype_reset_object_field", "dtype_object_field", "dtype_refcount_flag", "dtype_f4_reset_later",
               "array_without_data", "array_huge_start", "array_never_built", "ndarray_new", "big_int",
               "deep_dict_pth", "deep_dict_stored_pth", "deep_dict_pkl", "one_buffer_600_times",
               "one_storage_600_views", "zip_encrypted", "zip_method_6", "zip_method_99", "zip_corrupt_deflate",
               "zip_corrupt_lzma", "zip_duplicate_storage", "zip_xdata_pkl", "zip_big_byteorder",
               "zip_pickle_bomb", "st_utf16", "st_overlap", "st_gap", "st_duplicate_key", "st_shape_object",
               "st_metadata_not_string", "st_empty_header", "one_storage_600_views_size_lie",
               "deep_list_by_appends", "zip_20000_members_one_twice", "st_20000_keys_one_twice", "zip_truncated"}


def _failures(results):
    return {k: f"{v['outcome']}: {v['message'][:200]}" for k, v in results.items() if not v["ok"]}


def test_crafted_files_end_in_an_error_naming_the_file(tmp_path):
    cases = crafted_cases(tmp_path)
    assert {name for name, _ in cases} >= MUST_REFUSE
    results = run_cases(cases, tmp_path)
    assert not _failures(results)
    accepted = sorted(n for n in MUST_REFUSE if results[n]["outcome"] != "WeightsFileError")
    assert not accepted, f"read without an error: {accepted}"
    assert "truncated" in results["zip_truncated"]["message"]
    assert "nest deeper than 64" in results["deep_list_by_appends"]["message"]
    assert results["zip_20000_members_one_twice"]["seconds"] < 2
    paths = dict(cases)
    unnamed = [n for n in MUST_REFUSE if paths[n] not in results[n]["message"]]
    assert not unnamed, f"errors that do not name the file: {unnamed}"


def test_fuzzed_files_end_in_a_value_or_an_error(tmp_path):
    results = run_cases(fuzz_cases(tmp_path, count=300, seed=0), tmp_path)
    assert len(results) == 300
    assert not _failures(results)
    outcomes = [v["outcome"] for v in results.values()]
    assert outcomes.count("WeightsFileError") > 200  # the mutations break most files


@pytest.mark.slow
def test_the_harness_sees_a_crash_a_hang_and_a_blow_up(tmp_path):
    ok = str(tmp_path / "ok.safetensors")
    with open(ok, "wb") as f:
        f.write(safetensors_bytes())
    cases = [("first", ok), ("__crash__", ok), ("after_crash", ok), ("__hang__", ok), ("__memory__", ok),
             ("last", ok)]
    results = run_cases(cases, tmp_path, memory_mb=256, timeout_s=2)
    assert results["__crash__"]["outcome"] == "crashed (signal 11)"
    assert results["__hang__"]["outcome"] == "hung"
    assert not results["__memory__"]["ok"] and "peak resident memory" in results["__memory__"]["message"]
    assert all(results[n]["ok"] for n in ("first", "after_crash", "last"))


@pytest.mark.parametrize("extra", [None, 0, 1])
def test_safetensors_whose_header_length_ends_in_0x80_are_read(tmp_path, extra):
    plain = int.from_bytes(safetensors_bytes()[:8], "little")
    pad = 0 if extra is None else (0x80 - plain) % 256 + 256 * extra
    data = safetensors_bytes(pad=pad)
    path = str(tmp_path / "m.safetensors")
    with open(path, "wb") as f:
        f.write(data)
    got = read_state_dict(path)
    assert set(got) == set(STATE)
    for k, v in STATE.items():
        np.testing.assert_array_equal(got[k], v)
    if extra is not None:  # 128, 384, ...: the first byte a pickle also starts with
        assert data[0] == 0x80


@pytest.mark.slow
def test_safetensors_package_agrees_on_what_we_read(tmp_path):
    """The safetensors package as the oracle: every file we read, it reads
    to the same arrays; every file it refuses, we refuse."""
    oracle = pytest.importorskip("safetensors.numpy")
    cases = [(n, p) for n, p in fuzz_cases(tmp_path, count=400, seed=3) if p.endswith(".safetensors")]
    cases += [(n, p) for n, p in crafted_cases(tmp_path) if p.endswith(".safetensors")]
    assert len(cases) > 80
    both = 0
    for name, path in cases:
        try:
            ours = read_state_dict(path)
        except WeightsFileError:
            ours = None
        try:
            theirs = oracle.load_file(path)
        except Exception:  # noqa: BLE001  the package's errors by case
            theirs = None
        if ours is None:
            continue
        assert theirs is not None, f"{name}: we read a file the safetensors package refuses"
        assert set(ours) == set(theirs), name
        for k in ours:
            np.testing.assert_array_equal(ours[k], theirs[k], err_msg=f"{name}: {k}")
        both += 1
    assert both >= 5  # some mutants stay valid (a reordered header, ...)


def test_a_tensor_of_another_rank_names_the_tensor_and_the_file():
    same = lambda s: {k: k for k in s}  # noqa: E731
    conv = {"fpn/fpn_lateral2/kernel": ("backbone.fpn.inner_blocks.0.weight", zoo.conv_kernel)}
    with pytest.raises(WeightsFileError, match=r"w\.pth: backbone\.fpn\.inner_blocks\.0\.weight has shape "
                                               r"\[256, 256\], which fpn/fpn_lateral2/kernel cannot take"):
        zoo.map_state({"backbone.fpn.inner_blocks.0.weight": np.ones((256, 256), np.float32)}, conv, "w.pth",
                      canonical=same)
    fc6 = {"roi_heads/fc_head/fc6/kernel": ("roi_heads.box_head.fc6.weight", zoo.flatten_dense_kernel(256, 7))}
    with pytest.raises(WeightsFileError, match=r"w\.pth: roi_heads\.box_head\.fc6\.weight has shape "
                                               r"\[1024, 100\], which roi_heads/fc_head/fc6/kernel cannot take"):
        zoo.map_state({"roi_heads.box_head.fc6.weight": np.ones((1024, 100), np.float32)}, fc6, "w.pth",
                      canonical=same)


def test_the_fuzz_cases_are_the_same_for_a_seed(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = fuzz_cases(tmp_path / "a", 20, seed=7), fuzz_cases(tmp_path / "b", 20, seed=7)
    assert [open(p, "rb").read() for _, p in a] == [open(p, "rb").read() for _, p in b]
