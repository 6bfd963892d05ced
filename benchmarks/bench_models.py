#!/usr/bin/env python
"""Times the detectors: training seconds per iteration and inference seconds
per image on one 600 x 1000 image, with peak memory, on the CPU.

Each (model, phase) runs in its own process, so its peak resident memory is
its own: random weights (no download), 21 classes (VOC), the model's
experiments/cfgs/*.yml, TensorFlow limited to --threads threads. The train
step is train_net.py's (SGD with momentum, weight decay, the config's frozen
layers), on one image with 3 objects. Inference runs the RPN
(RPN.POST_NMS_TOP_N_TEST proposals, --proposals) and the head, then per-class
NMS (100 detections at most). Mask R-CNN trains its mask branch on the
foreground RoIs of the 3 objects' masks, and at inference runs it on 100
detections (score threshold 0, as random weights score every class below
the usual 0.05) and pastes the masks into the image. With torch/torchvision
installed, torchvision's Faster R-CNN and Mask R-CNN R50-FPN are measured
too, in the same run, as in ../shared/bench/BASELINES.md (frozen BatchNorm,
3 trainable stages, SGD; 1000 proposals at test), and the ratios of each of
our models to its torchvision counterpart are printed.

    python benchmarks/bench_models.py [--threads 2] [--repeats 3] [--models a,b] [--onednn on,off]
                                      [--markdown]

--onednn on,off times our models with TensorFlow's oneDNN CPU kernels and
without (TF_ENABLE_ONEDNN_OPTS; see detect/tf_env.py), in the same run; by
default they run as the environment says, as train_net.py does.

Prints one JSON line per (model, phase), then one per ratio; --markdown adds
a table in the form of detectron2's model zoo.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.timing import timed  # noqa: E402

MODELS = {  # name: experiments/cfgs file
    "faster_rcnn_vgg16": "faster_rcnn_vgg16.yml",
    "faster_rcnn_res50": "faster_rcnn_res50.yml",
    "rfcn_res50": "rfcn_res50.yml",
    "faster_rcnn_res50_fpn": "faster_rcnn_res50_fpn.yml",
    "mask_rcnn_res50_fpn": "mask_rcnn_res50_fpn.yml",
}
TORCHVISION = "torchvision_faster_rcnn_r50_fpn"
TORCHVISION_MASK = "torchvision_maskrcnn_r50_fpn"
BASELINES = (TORCHVISION, TORCHVISION_MASK)
HEIGHT, WIDTH = 600, 1000
GT_BOXES = [[100.0, 120.0, 300.0, 420.0], [450.0, 80.0, 700.0, 300.0], [720.0, 300.0, 950.0, 580.0]]
GT_CLASSES = [15, 7, 12]


def baseline_of(model):
    """The torchvision model ours is compared with."""
    return TORCHVISION_MASK if model.startswith("mask_rcnn") else TORCHVISION


def _ellipse(box, height, width):
    """uint8 [height, width]: the ellipse inscribed in box (an object's mask)."""
    import numpy as np
    yy, xx = np.mgrid[:height, :width] + 0.5
    x1, y1, x2, y2 = box
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).astype(np.uint8)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_ours(name, phase, threads, repeats, proposals):
    from detect.tf_env import onednn_enabled, set_defaults
    set_defaults()  # TF_ENABLE_ONEDNN_OPTS, if any, comes from --onednn through the environment
    import tensorflow as tf

    import numpy as np

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets.pipeline import crop_masks
    from detect.engine.trainer import Trainer
    from detect.modeling.build import build_model
    from detect.modeling.postprocess import paste_masks

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", MODELS[name]))
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", "21", "MODEL.WEIGHTS", "", "TEST.DETECTIONS_PER_IMAGE", "100",
                          *(["RPN.POST_NMS_TOP_N_TEST", str(proposals)] if proposals else []),
                          *(["TEST.SCORE_THRESH", "0.0"] if cfg.MODEL.MASK_HEAD else [])])
    proposals = cfg.RPN.POST_NMS_TOP_N_TEST
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    image = tf.random.stateless_normal([1, HEIGHT, WIDTH, 3], [0, 1]) * 50.0
    sizes = tf.constant([[HEIGHT, WIDTH]])
    if phase == "inference":
        detect = tf.function(model.detect)
        paste = tf.function(paste_masks)

        def fn():
            out = detect(image, sizes)
            n = int(out["num_detections"][0])
            if "masks" in out:  # into the image, as torchvision's postprocess does
                out["masks"] = paste(out["masks"][0, :n], out["boxes"][0, :n], HEIGHT, WIDTH)
            return [t.numpy() for t in out.values()]
        median, times = timed(fn, repeats, 2)
        extra = {"proposals": proposals, "detections_max": 100}
    else:
        n = len(GT_BOXES)
        batch = {"image": image, "image_size": sizes,
                 "boxes": tf.constant([GT_BOXES]), "classes": tf.constant([GT_CLASSES]),
                 "difficult": tf.zeros([1, n], tf.bool), "crowd": tf.zeros([1, n], tf.bool),
                 "num_objects": tf.constant([n]), "source_id": tf.constant(["bench"])}
        if cfg.MODEL.MASK_HEAD:  # the pipeline's form: each mask cropped to its box
            full = np.stack([_ellipse(b, HEIGHT, WIDTH) for b in GT_BOXES])
            batch["masks"] = crop_masks(full, tf.constant(GT_BOXES), cfg.MODEL.MASK_GT_SIZE)[None]
        with tempfile.TemporaryDirectory() as out:
            trainer = Trainer(cfg, model, [batch], out)
            trainer.build(batch)
            step = trainer._train_step_fn()
            seed = tf.constant([0, 1], tf.int32)
            median, times = timed(lambda: float(step(batch, seed)[0]["total"]), repeats, 2)
        extra = {"roi_batch_size": cfg.TRAIN.ROI_BATCH_SIZE, "rpn_batch_size": cfg.RPN.BATCH_SIZE}
    frozen = len(model.trainable_variables) != len(model.variables)
    return dict(extra, median_s=median, times_s=times, frozen_layers=frozen, onednn=onednn_enabled(),
                pooler=cfg.MODEL.POOLER if cfg.MODEL.ARCH == "faster_rcnn" else "ps_roi_pool")


def run_torchvision(name, phase, threads, repeats):
    import torch  # before TensorFlow, if both were ever in one process
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN, MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3)
    masks = name == TORCHVISION_MASK
    if masks:  # score threshold 0: the mask head runs on 100 detections
        model = MaskRCNN(backbone, num_classes=91, min_size=HEIGHT, max_size=WIDTH, box_score_thresh=0.0)
    else:
        model = FasterRCNN(backbone, num_classes=91, min_size=HEIGHT, max_size=WIDTH)
    image = torch.randn(3, HEIGHT, WIDTH).clamp(-2, 2) * 0.25 + 0.5
    if phase == "inference":
        model.eval()

        def fn():
            with torch.no_grad():
                return model([image])
        median, times = timed(fn, repeats, 1)
        extra = {"proposals": 1000, "detections_max": 100}
    else:
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)
        target = {"boxes": torch.tensor(GT_BOXES), "labels": torch.tensor(GT_CLASSES)}
        if masks:
            import numpy as np
            target["masks"] = torch.from_numpy(np.stack([_ellipse(b, HEIGHT, WIDTH) for b in GT_BOXES]))

        def fn():
            losses = model([image], [target])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
        median, times = timed(fn, repeats, 1)
        extra = {"roi_batch_size": 512, "rpn_batch_size": 256}
    return dict(extra, median_s=median, times_s=times, frozen_layers=True, pooler="roi_align (FPN)")


def worker(a):
    if a.model in BASELINES:
        row = run_torchvision(a.model, a.phase, a.threads, a.repeats)
    else:
        row = run_ours(a.model, a.phase, a.threads, a.repeats, a.proposals)
    row = dict({"model": a.model, "phase": a.phase, "image": f"{HEIGHT}x{WIDTH}",
                "threads": a.threads, "peak_rss_mb": round(_peak_rss_mb(), 1)}, **row)
    print("RESULT " + json.dumps(row), flush=True)


def markdown(rows):
    by = {(r["model"], r["phase"]): r for r in rows}
    lines = ["| Name | pooler | train time (s/iter) | inference time (s/im) | train mem (GB) "
             "| inference mem (GB) |", "|---|---|---:|---:|---:|---:|"]
    for model in dict.fromkeys(r["model"] for r in rows):
        t, i = by.get((model, "train"), {}), by.get((model, "inference"), {})
        cell = lambda r, k, f: f.format(r[k]) if k in r else "-"  # noqa: E731
        mem = lambda r: f"{r['peak_rss_mb'] / 1024:.2f}" if r else "-"  # noqa: E731
        lines.append(f"| {model} | {(t or i).get('pooler', '-')} | {cell(t, 'median_s', '{:.2f}')} "
                     f"| {cell(i, 'median_s', '{:.2f}')} | {mem(t)} | {mem(i)} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--proposals", type=int, default=0,
                   help="RPN proposals at test (ours; default: the config's, 300 or FPN's 1000)")
    p.add_argument("--models", default=",".join(list(MODELS) + list(BASELINES)))
    p.add_argument("--phases", default="train,inference")
    p.add_argument("--markdown", action="store_true", help="also print a model-zoo style table")
    p.add_argument("--onednn", default="env", help="TF_ENABLE_ONEDNN_OPTS for our models: env (as "
                   "set, or TensorFlow's default), on, off, or on,off to time both and print the "
                   "ratios off / on")
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "PHASE"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        a.model, a.phase = a.worker
        worker(a)
        return 0
    settings = a.onednn.split(",")
    if not settings or any(o not in ("env", "on", "off") for o in settings):
        print(f"--onednn takes env, on, off or on,off; got {a.onednn!r}", file=sys.stderr)
        return 2
    rows = []
    for model in a.models.split(","):
        if model not in MODELS and model not in BASELINES:
            print(f"unknown model {model}; choose from {', '.join(list(MODELS) + list(BASELINES))}",
                  file=sys.stderr)
            return 2
        for phase in a.phases.split(","):
            for onednn in settings if model not in BASELINES else ["-"]:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", model, phase,
                       "--threads", str(a.threads), "--repeats", str(a.repeats),
                       "--proposals", str(a.proposals)]
                env = dict(os.environ)
                if onednn in ("on", "off"):
                    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn == "on" else "0"
                out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                found = [l[len("RESULT "):] for l in out.stdout.splitlines() if l.startswith("RESULT ")]
                if out.returncode or not found:
                    reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
                    row = {"model": model, "phase": phase, "skipped": reason}
                else:
                    row = json.loads(found[-1])
                    if len(settings) > 1 and onednn == "off":
                        row["model"] += " (oneDNN off)"
                    rows.append(row)
                print(json.dumps(row), flush=True)
    base = {(r["model"], r["phase"]): r for r in rows if r["model"] in BASELINES}
    for r in rows:
        name = baseline_of(r["model"])
        if r["model"] not in BASELINES and (name, r["phase"]) in base:
            b = base[(name, r["phase"])]
            print(json.dumps({"ratio": f"{r['model']} / {name}", "phase": r["phase"],
                              "time": round(r["median_s"] / b["median_s"], 3),
                              "peak_rss": round(r["peak_rss_mb"] / b["peak_rss_mb"], 3)}))
    by = {(r["model"], r["phase"]): r for r in rows}
    for (model, phase), r in by.items():
        on = by.get((model.replace(" (oneDNN off)", ""), phase))
        if model.endswith(" (oneDNN off)") and on:
            print(json.dumps({"ratio": f"{model} / oneDNN on", "phase": phase,
                              "time": round(r["median_s"] / on["median_s"], 3),
                              "peak_rss": round(r["peak_rss_mb"] / on["peak_rss_mb"], 3)}))
    if a.markdown:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
