"""Wall-clock timing shared by the benchmarks."""
import statistics
import time


def timed(fn, repeats, warmup=2):
    """Calls fn warmup times, then repeats times; returns (median seconds,
    list of each call's seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times
