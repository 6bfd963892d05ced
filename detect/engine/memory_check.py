"""The memory check of the first training iteration: a clear stop instead
of the kernel's out-of-memory kill after minutes of loading.

A step that does not fit is killed by the kernel (exit 137, no message) or
fails on a GPU with ResourceExhaustedError. So during the first iteration
of a run (or of a resumed run) a watch thread reads this process's
resident memory every 50 ms, and after it the process's peak (and a GPU's,
from TensorFlow's allocator) is compared with what the machine lets this
process have. Above 90% of it, training stops (``MemoryBudgetError``, or
from the watch thread at once, before the kernel's kill) with a message
naming the measured peak, the memory there is and the TRAIN.IMS_PER_DEVICE
that would fit. Nothing is lost: no checkpoint is written before the
check, and a resumed run's checkpoints are left as they are.

"What the machine lets this process have": TRAIN.MEMORY_LIMIT_GB when it is
set (> 0; it stands in for the machine's memory, e.g. to test this check or
to leave room for other jobs), else the smallest of the cgroup's limit
(containers) and the memory in use by this process at the start plus the
memory the kernel reports available then (MemAvailable). -1 turns the
check off. Linux only (``/proc``); elsewhere the check is skipped.
"""
import os
import re
import resource
import subprocess
import sys
import threading

from detect.engine.batching import dividing

FRACTION = 0.9  # a step may take this share of the memory there is
GB = 1024 ** 3


class MemoryBudgetError(RuntimeError):
    """The first iteration took more than FRACTION of the memory there is."""


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def resident_bytes():
    """This process's resident memory now (bytes; None without /proc)."""
    text = _read("/proc/self/statm")
    return int(text.split()[1]) * os.sysconf("SC_PAGE_SIZE") if text else None


def peak_resident_bytes():
    """The process's peak resident memory so far (bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def machine_memory():
    """(bytes this process can have, how that was found), or (None, why
    not): the cgroup's limit and MemAvailable + this process's resident
    memory, the smaller one."""
    meminfo = _read("/proc/meminfo")
    own = resident_bytes()
    if not meminfo or own is None:
        return None, "no /proc on this system"
    found = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, re.M)
    total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    options = []
    if found:
        options.append((own + int(found.group(1)) * 1024,
                        f"available to this process ({int(total.group(1)) * 1024 / GB:.1f} GB installed)"
                        if total else "available to this process"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = (_read(path) or "").strip()
        if text.isdigit() and int(text) < 2 ** 60:
            options.append((int(text), f"the container's limit ({path})"))
            break
    return min(options) if options else (None, "MemAvailable not in /proc/meminfo")


def gpu_memory():
    """[(device, peak bytes, total bytes)] of the GPUs TensorFlow used
    (total from nvidia-smi); [] without a GPU or without nvidia-smi."""
    import tensorflow as tf
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for i, device in enumerate(gpus):
        if i < len(out) and out[i].isdigit():
            peak = tf.config.experimental.get_memory_info(device.name.replace("/device:", ""))["peak"]
            found.append((device.name, peak, int(out[i]) * 1024 ** 2))
    return found


def advice(peak, start, limit, per_device, per_replica, where="this machine"):
    """The sentence naming the TRAIN.IMS_PER_DEVICE that fits: the step's
    own memory (peak - start) is taken as proportional to its images."""
    budget = FRACTION * limit
    per_image = max(peak - start, 1) / per_device
    fit = int((budget - start) // per_image)
    choices = dividing(per_replica, fit)
    if choices and choices[-1] < per_device:
        d = choices[-1]
        return (f"about {per_image / GB:.1f} GB per image: set --set TRAIN.IMS_PER_DEVICE {d} "
                f"({per_replica // d} accumulation steps per iteration; the recipe's batch, learning rate "
                "and schedule are unchanged)")
    return (f"about {per_image / GB:.1f} GB per image, and even one image per step does not fit {where}: "
            "train on smaller images (TRAIN.SCALES, TRAIN.MAX_SIZE; the recipe's figures then no longer "
            "apply) or on a machine with more memory")


class MemoryCheck:
    """Watches the first iteration. Use: ``check = MemoryCheck(limit_gb,
    per_device, per_replica)``; ``check.start()`` before the first
    iteration, ``check.finish()`` after it (raises MemoryBudgetError)."""

    def __init__(self, limit_gb, per_device, per_replica, interval=0.05):
        self.per_device, self.per_replica, self.interval = per_device, per_replica, interval
        self.enabled = limit_gb >= 0 and resident_bytes() is not None
        if limit_gb > 0:
            self.limit, self.source = int(limit_gb * GB), "TRAIN.MEMORY_LIMIT_GB"
        elif self.enabled:
            self.limit, self.source = machine_memory()
            self.enabled = self.limit is not None
        self._stop = threading.Event()
        self._thread = None
        self.start_bytes = self.peak = 0

    def message(self, peak, during):
        budget = FRACTION * self.limit
        return (f"this process {during} {peak / GB:.1f} GB of memory, more than "
                f"{FRACTION:.0%} ({budget / GB:.1f} GB) of the {self.limit / GB:.1f} GB there is "
                f"({self.source}), with TRAIN.IMS_PER_DEVICE {self.per_device} "
                f"({self.start_bytes / GB:.1f} GB in use before it); "
                + advice(peak, self.start_bytes, self.limit, self.per_device, self.per_replica)
                + ". TRAIN.MEMORY_LIMIT_GB -1 skips this check.")

    def start(self):
        if not self.enabled:
            return
        self.start_bytes = resident_bytes()
        self._thread = threading.Thread(target=self._watch, name="memory-check", daemon=True)
        self._thread.start()

    def _watch(self):
        budget = FRACTION * self.limit
        while not self._stop.wait(self.interval):
            now = resident_bytes() or 0
            self.peak = max(self.peak, now)
            if now > budget:
                # The kernel's kill may be a moment away and TensorFlow's
                # step cannot be interrupted: say why and leave now. Nothing
                # is being written during the first iteration.
                text = self.message(now, "reached, during the first training iteration,")
                print(f"\nerror: {text}", file=sys.stderr, flush=True)
                os._exit(2)

    def stop(self):
        """Stops watching (no check); True if it was watching."""
        if self._thread is None:
            return False
        self._stop.set()
        self._thread.join()
        self._thread = None
        return True

    def finish(self):
        """Stops watching; raises MemoryBudgetError if the iteration took
        more than FRACTION of the memory (or of a GPU's). Once; then a
        no-op."""
        if not self.stop():
            return
        peak = max(self.peak, peak_resident_bytes())
        if peak > FRACTION * self.limit:
            raise MemoryBudgetError(
                self.message(peak, "peaked, by the end of the first training iteration, at"))
        for device, gpu_peak, total in gpu_memory():
            if gpu_peak > FRACTION * total:
                raise MemoryBudgetError(
                    f"the first training iteration peaked at {gpu_peak / GB:.1f} GB of {device}'s "
                    f"{total / GB:.1f} GB (more than {FRACTION:.0%}), with TRAIN.IMS_PER_DEVICE "
                    f"{self.per_device}; "
                    + advice(gpu_peak, 0, total, self.per_device, self.per_replica, device)
                    + ". TRAIN.MEMORY_LIMIT_GB -1 skips this check.")
