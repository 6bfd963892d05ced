"""Draws docs/images/architecture.png: how build_model composes a detector.

    python docs/images/make_architecture.py docs/images/architecture.png

Needs matplotlib (pip install matplotlib; not a dependency of detect).
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

MAIN, OPTIONAL, TRAIN, TEST = "#dbe8f6", "#eeeeee", "#fbe3d6", "#dff0d8"

# name: (x, y, text, colour, dashed border); x, y the box's centre
BOXES = {
    "image": (1.0, 4.0, "image\n[1, H, W, 3]", MAIN, False),
    "backbone": (3.3, 4.0, "backbone\nvgg16 | resnet50 | tiny\nc2 .. c5", MAIN, False),
    "fpn": (5.6, 4.0, "neck (optional)\nFPN: p2 .. p6", OPTIONAL, True),
    "rpn": (7.9, 4.0, "RPN\nanchors, objectness,\nbox deltas", MAIN, False),
    "proposals": (10.2, 4.0, "proposals\ndecode, clip, top-k,\nNMS", MAIN, False),
    "roiop": (10.2, 2.2, "RoI op (the pooler)\nRoIPool | PS-RoIPool |\nRoIAlign, per level", MAIN, False),
    "boxhead": (7.9, 2.2, "box head\nvgg16_fc | res5 | fc\n(R-FCN: none)", MAIN, False),
    "pred": (5.6, 2.2, "predictor\nclass scores,\nper-class boxes", MAIN, False),
    "mask": (7.9, 0.6, "mask head (optional)\nconvs, deconv,\n28 x 28 per class", OPTIONAL, True),
    "loss": (2.0, 2.9, "training: losses\nrpn_cls, rpn_box, rcnn_cls,\nrcnn_box, mask", TRAIN, False),
    "post": (2.0, 1.3, "inference: post-process\ndecode, clip, per-class NMS,\nrescale, paste masks", TEST, False),
}
ARROWS = [("image", "backbone"), ("backbone", "fpn"), ("fpn", "rpn"), ("rpn", "proposals"),
          ("proposals", "roiop"), ("roiop", "boxhead"), ("boxhead", "pred"), ("roiop", "mask"),
          ("pred", "loss"), ("pred", "post"), ("mask", "loss"), ("mask", "post")]
W, H = 1.9, 0.95


def edge(a, b, pad=0.08):
    """The point where the line from box a's centre to box b's leaves box a."""
    (xa, ya), (xb, yb) = a, b
    dx, dy = xb - xa, yb - ya
    t = min((W / 2 + pad) / abs(dx) if dx else 1e9, (H / 2 + pad) / abs(dy) if dy else 1e9)
    return xa + t * dx, ya + t * dy


def main(out):
    fig, ax = plt.subplots(figsize=(11, 4.9), dpi=90)
    for x, y, text, colour, dashed in BOXES.values():
        ax.add_patch(FancyBboxPatch((x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.04",
                                    facecolor=colour, edgecolor="#444444",
                                    linestyle="--" if dashed else "-", linewidth=1))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5)
    for a, b in ARROWS:
        ca, cb = BOXES[a][:2], BOXES[b][:2]
        ax.annotate("", xy=edge(cb, ca), xytext=edge(ca, cb),
                    arrowprops=dict(arrowstyle="-|>", color="#333333", shrinkA=0, shrinkB=0, lw=1))
    ax.annotate("", xy=(BOXES["rpn"][0], BOXES["rpn"][1] + H / 2 + 0.05),
                xytext=(BOXES["backbone"][0], BOXES["backbone"][1] + H / 2 + 0.05),
                arrowprops=dict(arrowstyle="-|>", color="#777777", lw=1, linestyle=":",
                                connectionstyle="arc3,rad=-0.25"))
    ax.text(5.6, 5.3, "without a neck the backbone's last level feeds the RPN and the RoI op",
            ha="center", fontsize=8, color="#555555")
    ax.set_xlim(-0.1, 11.3)
    ax.set_ylim(-0.1, 5.5)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1])
