"""TensorFlow profiler traces of chosen training iterations, and a table of
the ops that take the time (``train_net.py --profile START,STOP``).

The trace goes where TensorBoard's profile plugin looks for it,
``<output>/tensorboard/plugins/profile/<run>/<host>.xplane.pb``; open it
with ``pip install tensorboard-plugin-profile`` and
``tensorboard --logdir <output>/tensorboard`` (tab "Profile"). The op table
is TensorFlow's own reading of that trace (its profiler's
``framework_op_stats`` tool, the one behind TensorBoard's "TensorFlow stats"
page; no further package): each op's self time summed over the profiled
iterations. "share" is that time per iteration over the mean wall time of
an iteration; on a CPU independent ops run at once on several threads, so
the shares can add up to more than 100%. On a GPU the table holds the
device's ops.
"""
import contextlib
import glob
import json
import os
import time

import tensorflow as tf

TOP_OPS = 10


class ProfileError(RuntimeError):
    """The trace could not be read into an op table."""


def parse_window(text):
    """"START,STOP" -> (start, stop): 1-based iterations, inclusive."""
    try:
        start, stop = (int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--profile takes START,STOP (two iteration numbers, e.g. 10,15), "
                         f"got {text!r}") from None
    if not 1 <= start <= stop:
        raise ValueError(f"--profile {text}: need 1 <= START <= STOP")
    return start, stop


def _trace_files(logdir, before):
    runs = set(glob.glob(os.path.join(logdir, "plugins", "profile", "*"))) - before
    return sorted(p for run in runs for p in glob.glob(os.path.join(run, "*.xplane.pb")))


def op_table(paths, steps, step_seconds, top=TOP_OPS):
    """The ``top`` ops with the most self time in the trace files
    (.xplane.pb) of ``steps`` iterations that took ``step_seconds`` in all.

    Returns a list of dicts: op (name), type, occurrences (the profiler's
    events of the op), ms_per_step, share (of an iteration's wall time),
    most expensive first.
    """
    try:
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    except ImportError as e:  # moved in a later TensorFlow
        raise ProfileError(f"this TensorFlow has no profiler plugin to read its traces ({e}); "
                           "open the trace in TensorBoard instead") from None
    if not paths:
        raise ProfileError("the profiler wrote no trace (.xplane.pb)")
    data, ok = plugin.xspace_to_tools_data(list(paths), "framework_op_stats", {})
    if not ok:
        raise ProfileError(f"the trace could not be read: {data[:300]!r}")
    tables = json.loads(data)
    cols = [c["id"] for c in tables[0]["cols"]]
    rows = [dict(zip(cols, [c.get("v") for c in r["c"]])) for r in tables[0]["rows"]]
    rows = [r for r in rows if r["type"] != "IDLE"]
    device = [r for r in rows if r["host_or_device"] == "Device"]
    rows = sorted(device or rows, key=lambda r: -r["total_self_time"])
    step = step_seconds / max(steps, 1)
    return [{"op": r["operation"], "type": r["type"], "occurrences": int(r["occurrences"]),
             "ms_per_step": r["total_self_time"] / 1000.0 / max(steps, 1),
             "share": r["total_self_time"] / 1e6 / max(steps, 1) / step if step > 0 else 0.0}
            for r in rows[:top]]


def format_table(table, steps, step_seconds):
    """The op table as printed lines."""
    lines = [f"most expensive ops over {steps} profiled iterations "
             f"({1000.0 * step_seconds / max(steps, 1):.1f} ms per iteration):",
             f"{'share':>7}  {'ms/iter':>8}  {'events':>6}  {'type':<30} op"]
    for r in table:
        lines.append(f"{100 * r['share']:6.1f}%  {r['ms_per_step']:8.2f}  {r['occurrences']:6d}  "
                     f"{r['type'][:30]:<30} {r['op']}")
    return "\n".join(lines)


class StepProfiler:
    """Profiles iterations window[0]..window[1] (1-based, inclusive) into
    logdir, then prints the op table.

        profiler = StepProfiler((10, 15), "<output>/tensorboard")
        for it in ...:
            with profiler.step(it):   # it: 1-based number of this iteration
                run the step (wait for its result inside)
        table = profiler.close()      # stops a trace left open (an error)
    """

    def __init__(self, window, logdir):
        self.start, self.stop = window
        self.logdir = logdir
        self.active, self.table = False, None
        self.times, self._before = [], set()

    @contextlib.contextmanager
    def step(self, iteration):
        if iteration == self.start and not self.active and self.table is None:
            self._before = set(glob.glob(os.path.join(self.logdir, "plugins", "profile", "*")))
            tf.profiler.experimental.start(self.logdir)
            self.active = True
        if not self.active:
            yield
            return
        t0 = time.perf_counter()
        with tf.profiler.experimental.Trace("train", step_num=iteration, _r=1):
            yield
        self.times.append(time.perf_counter() - t0)
        if iteration >= self.stop:
            self._finish()

    def _finish(self):
        tf.profiler.experimental.stop()
        self.active = False
        paths = _trace_files(self.logdir, self._before)
        steps, seconds = len(self.times), sum(self.times)
        print(f"profile of iterations {self.start}-{self.start + steps - 1}: "
              f"{', '.join(paths) or 'no trace written'}")
        try:
            self.table = op_table(paths, steps, seconds)
        except ProfileError as e:
            print(f"no op table: {e}")
            self.table = []
            return
        print(format_table(self.table, steps, seconds))
        print(f"open it: tensorboard --logdir {self.logdir} (tab Profile; pip install "
              "tensorboard-plugin-profile)")

    def close(self):
        """Stops a trace still running (training ended inside the window);
        returns the op table (None if the window was never reached)."""
        if self.active:
            self._finish()
        return self.table
