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

A second table sums every op's self time by the part of the model it
belongs to (``part_table``): the outermost name scope of the op (the
Keras layer: tiny_backbone, fpn, rpn, roi_heads, mask_head, ...), forward
and backward (ops under gradient_tape/) apart, and "input" for the input
pipeline's own work. Ops outside any layer (targets, losses, NMS, the
optimizer, and control flow whose branches lose their layer's scope, such
as BoundedConv2D's forward plan) are "other", and so are parts under 2% of
the self time.
"""
import collections
import contextlib
import glob
import json
import os
import re
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
    """The ``top`` ops (None: all) with the most self time in the trace files
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
            for r in (rows if top is None else rows[:top])]


def part_of(op, op_type=""):
    """(part, backward) of an op named by its scope: "gradient_tape/
    mask_head_1/mask_fcn1_1/Conv2D" -> ("mask_head", True); input pipeline
    work -> ("input", False); ops outside a layer -> ("other", ...)."""
    if op.startswith("Iterator::") or op_type in ("Dataset", "PyFunc"):
        return "input", False
    backward = op.startswith("gradient_tape/")
    if backward:
        op = op[len("gradient_tape/"):]
    if "/" not in op:
        return "other", backward
    scope = re.sub(r"_\d+$", "", op.split("/", 1)[0])
    if re.fullmatch(r"cond|switch_case|while|gradients?|Adam|SGD|StatefulPartitionedCall", scope):
        return "other", backward
    return scope, backward


def part_table(rows, least=0.02):
    """{part: (forward ms, backward ms)} per iteration from op_table's rows
    (all of them: op_table(..., top=None)); parts under ``least`` of the
    whole self time (unscoped ops named by what they are: argsort, ...)
    go to "other", which comes last."""
    parts = collections.defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        part, backward = part_of(r["op"], r["type"])
        parts[part][int(backward)] += r["ms_per_step"]
    total = sum(sum(v) for v in parts.values())
    for part in [k for k, v in parts.items() if k != "other" and sum(v) < least * total]:
        fwd, bwd = parts.pop(part)
        parts["other"][0] += fwd
        parts["other"][1] += bwd
    order = sorted((k for k in parts if k != "other"), key=lambda k: -sum(parts[k]))
    return {k: tuple(parts[k]) for k in order + (["other"] if "other" in parts else [])}


def format_parts(parts):
    """The part table as printed lines."""
    total = sum(sum(v) for v in parts.values()) or 1.0
    lines = ["self time by model part (ms per iteration; backward: ops under gradient_tape/):",
             f"{'part':<16} {'forward':>8} {'backward':>9} {'total':>8}  share of all self time"]
    for part, (fwd, bwd) in parts.items():
        lines.append(f"{part:<16} {fwd:8.2f} {bwd:9.2f} {fwd + bwd:8.2f}  {100 * (fwd + bwd) / total:5.1f}%")
    return "\n".join(lines)


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
            rows = op_table(paths, steps, seconds, top=None)
        except ProfileError as e:
            print(f"no op table: {e}")
            self.table = []
            return
        self.table = rows[:TOP_OPS]
        print(format_table(self.table, steps, seconds))
        print(format_parts(part_table(rows)))
        print(f"open it: tensorboard --logdir {self.logdir} (tab Profile; pip install "
              "tensorboard-plugin-profile)")

    def close(self):
        """Stops a trace still running (training ended inside the window);
        returns the op table (None if the window was never reached)."""
        if self.active:
            self._finish()
        return self.table
