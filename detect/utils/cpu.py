"""What the CPU is: its name, its feature flags (/proc/cpuinfo), whether
oneDNN runs its AVX-512 kernels on it, and the class of vector unit
TensorFlow's CPU kernels get ("AVX-512", "AVX2" or "older"). Linux only;
elsewhere the flags are empty and the answers "unknown"."""
import functools
import os

# oneDNN's avx512_core ISA: AVX-512 F, BW, VL and DQ
AVX512_CORE_FLAGS = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})


def _cpuinfo_field(key):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=None)
def _cpu_flags():
    """The CPU's feature flags (/proc/cpuinfo; empty where there is none)."""
    return frozenset((_cpuinfo_field("flags") or "").split())


def cpu_name():
    """The CPU's model name ("AMD EPYC", ...), or "unknown CPU"."""
    return _cpuinfo_field("model name") or "unknown CPU"


def onednn_avx512(flags=None, environ=None):
    """Whether oneDNN runs its AVX-512 kernels here: the CPU has oneDNN's
    avx512_core (flags: /proc/cpuinfo's by default) and ONEDNN_MAX_CPU_ISA
    (or DNNL_MAX_CPU_ISA) does not cap it below that. Unknown CPUs: False."""
    environ = os.environ if environ is None else environ
    cap = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    if cap not in ("ALL", "DEFAULT") and not cap.startswith(("AVX512", "AVX10")):
        return False
    return AVX512_CORE_FLAGS <= (_cpu_flags() if flags is None else frozenset(flags))


def vector_class(flags=None, environ=None):
    """"AVX-512" where oneDNN runs its AVX-512 kernels (onednn_avx512),
    "AVX2" on a CPU with AVX2 and FMA (or AVX-512 capped by
    ONEDNN_MAX_CPU_ISA), "older" on one without, "unknown" without flags."""
    flags = _cpu_flags() if flags is None else frozenset(flags)
    if not flags:
        return "unknown"
    if onednn_avx512(flags, environ):
        return "AVX-512"
    return "AVX2" if {"avx2", "fma"} <= flags else "older"
