#!/usr/bin/env python
"""A longer run of the weights-file fuzzer of tests/weights/test_hostile.py:
seeded, structure-aware mutants of small valid .pth, .pkl and .safetensors
files (tests/weights/hostile.py), and the hand-crafted hostile files, each
read by detect.weights.read_state_dict in a subprocess under a memory limit.

    python benchmarks/fuzz_weights.py [--cases 20000] [--seed 1] [--memory-mb 512] [--timeout 10]

Prints one JSON line per failing case (a crash, a hang, an exception other
than WeightsFileError, or more than --memory-mb of resident memory), then a
summary line: cases, outcomes by kind, failures, the slowest case and the
run's seconds. Exit 1 when any case failed.
"""
import argparse
import collections
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.weights.hostile import crafted_cases, fuzz_cases, run_cases  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20000, help="fuzzed files (plus the crafted ones)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--memory-mb", type=int, default=512, help="resident memory a case may add")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a case may take")
    a = p.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        cases = crafted_cases(folder) + fuzz_cases(folder, a.cases, a.seed)
        results = {}
        for i in range(0, len(cases), 2000):  # a few thousand files on disk at a time
            results.update(run_cases(cases[i:i + 2000], folder, a.memory_mb, timeout_s=a.timeout))
            for name, path in cases[i:i + 2000]:
                os.remove(path)
    failed = {k: v for k, v in results.items() if not v["ok"]}
    for name, r in sorted(failed.items()):
        print(json.dumps({"case": name, **r}))
    slowest = max(results.items(), key=lambda kv: kv[1].get("seconds") or 0)
    print(json.dumps({"cases": len(results), "seed": a.seed,
                      "outcomes": dict(collections.Counter(r["outcome"] for r in results.values())),
                      "failures": len(failed), "slowest": [slowest[0], slowest[1].get("seconds")],
                      "seconds": round(time.perf_counter() - start, 1)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
