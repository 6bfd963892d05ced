"""Reads weights files one after another in this process and says how each
ended, as JSON lines; tests/weights/test_hostile.py runs it in a subprocess
under a memory limit, so that a crash, a hang or a blow-up is seen and named.

    python -m tests.weights.fuzz_worker CASES.json   # [[name, path], ...]

For each case: {"case", "start"} before reading, then {"case", "outcome":
"accepted" | "WeightsFileError" | "<other exception>", "seconds",
"rss_mb"} (the peak resident memory of the process so far, peak_rss_mb).
"""
import json
import resource
import sys
import time


def peak_rss_mb():
    """This process's peak resident memory since it started (Linux's VmHWM:
    ru_maxrss would keep the peak of the process it was forked from)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
    with open(argv[0]) as f:
        cases = json.load(f)
    from detect.weights import WeightsFileError, read_state_dict

    for name, path in cases:
        print(json.dumps({"case": name, "start": True}), flush=True)
        t = time.perf_counter()
        try:
            if name == "__crash__":  # the harness's own checks: a real segfault,
                import ctypes
                ctypes.string_at(0)
            if name == "__hang__":  # a hang
                time.sleep(60)
            if name == "__memory__":  # and a blow-up
                _ = bytearray(600 << 20)
            read_state_dict(path)
            outcome, message = "accepted", ""
        except WeightsFileError as e:
            outcome, message = "WeightsFileError", str(e)[:300]
        except Exception as e:  # noqa: BLE001  any other ending is what the test looks for
            outcome, message = type(e).__name__, str(e)[:300]
        rss = peak_rss_mb()
        print(json.dumps({"case": name, "outcome": outcome, "message": message,
                          "seconds": round(time.perf_counter() - t, 3), "rss_mb": round(rss)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
