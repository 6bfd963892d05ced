"""Draws docs/images/loss_curve.png from a run's TensorBoard event files.

    python docs/images/make_loss_curve.py output/loss_curve docs/images/loss_curve.png

Reads the loss/* scalars that train_net.py writes to <run>/tensorboard (one
point every 20 iterations) and plots them, as TensorBoard's Scalars tab shows
them: faint, each point as logged; solid, smoothed by TensorBoard's default
exponential moving average (0.6). Needs matplotlib (pip install matplotlib; not a dependency of detect).
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def smooth(values, weight=0.6):
    """TensorBoard's smoothing: an exponential moving average, debiased."""
    out, last, n = [], 0.0, 0
    for v in values:
        n += 1
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** n))
    return out


def main(run, out):
    events = EventAccumulator(f"{run}/tensorboard", size_guidance={"tensors": 0})
    events.Reload()
    tags = sorted(t for t in events.Tags()["tensors"] if t.startswith("loss/"))
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for tag in tags:
        points = events.Tensors(tag)
        steps = [p.step for p in points]
        values = [float(tf.make_ndarray(p.tensor_proto)) for p in points]
        line, = ax.plot(steps, smooth(values), label=tag, linewidth=2.2 if tag == "loss/total" else 1.2)
        ax.plot(steps, values, color=line.get_color(), alpha=0.25, linewidth=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("TensorBoard scalars loss/* (smoothing 0.6)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
