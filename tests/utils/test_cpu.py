"""The CPU's vector class (detect/utils/cpu.py), from given flags and caps."""
from detect.utils.cpu import cpu_name, onednn_avx512, vector_class

AVX512 = ["fpu", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]


def test_vector_class_reads_the_flags_and_onednns_cap():
    assert vector_class(AVX512, {}) == "AVX-512"
    assert vector_class(AVX512, {"ONEDNN_MAX_CPU_ISA": "AVX2"}) == "AVX2"
    assert vector_class(AVX512, {"ONEDNN_MAX_CPU_ISA": "avx512_core_amx"}) == "AVX-512"
    assert vector_class(["fpu", "avx2", "fma"], {}) == "AVX2"
    assert vector_class(["fpu", "avx", "sse4_2"], {}) == "older"
    assert vector_class([], {}) == "unknown"
    assert onednn_avx512(AVX512, {}) and not onednn_avx512(AVX512[:4], {})


def test_this_machine_has_an_answer():
    assert vector_class() in ("AVX-512", "AVX2", "older", "unknown")
    assert isinstance(cpu_name(), str) and cpu_name()
