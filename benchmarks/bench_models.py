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
                                      [--precision float32,mixed_bfloat16] [--replicas 1,2]
                                      [--markdown]

--onednn on,off times our models with TensorFlow's oneDNN CPU kernels and
without (TF_ENABLE_ONEDNN_OPTS; see detect/tf_env.py), in the same run; by
default they run as the environment says, as train_net.py does.

--precision times our models under each TRAIN.PRECISION (Keras dtype
policy: float32, mixed_float16, mixed_bfloat16; detect/precision.py)
and prints the ratios to float32. --replicas 1,2 times the train step under
MirroredStrategy with that many replicas, one image per replica (the global
batch grows with them): over the first N GPUs where there are GPUs, else
over N logical devices of the CPU (its threads shared among them), and
prints images/s and the speed-up over one replica.

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

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # detect/precision.py

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


def _strategy(replicas):
    """(strategy, devices): MirroredStrategy over the first ``replicas``
    GPUs, or over as many logical CPU devices (split before TensorFlow
    starts); the default strategy for one replica."""
    import tensorflow as tf

    from detect.engine.distribute import split_cpu
    gpus = tf.config.list_physical_devices("GPU")
    if replicas == 1:
        return tf.distribute.get_strategy(), "GPU:0" if gpus else "CPU:0"
    if len(gpus) >= replicas:
        names = [f"/gpu:{i}" for i in range(replicas)]
    else:
        split_cpu(replicas)
        names = [f"/cpu:{i}" for i in range(replicas)]
    return tf.distribute.MirroredStrategy(names), ",".join(n.lstrip("/").upper() for n in names)


def run_ours(name, phase, threads, repeats, proposals, precision="float32", replicas=1):
    from detect.tf_env import onednn_enabled, set_defaults
    set_defaults()  # TF_ENABLE_ONEDNN_OPTS, if any, comes from --onednn through the environment
    import tensorflow as tf

    import numpy as np

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets.pipeline import crop_masks
    from detect.engine.distribute import distribute_batch
    from detect.engine.trainer import Trainer
    from detect.modeling.build import build_model
    from detect.modeling.postprocess import paste_masks

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    strategy, devices = _strategy(replicas)  # before any op
    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", MODELS[name]))
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", "21", "MODEL.WEIGHTS", "", "TEST.DETECTIONS_PER_IMAGE", "100",
                          *(["RPN.POST_NMS_TOP_N_TEST", str(proposals)] if proposals else []),
                          *(["TEST.SCORE_THRESH", "0.0"] if cfg.MODEL.MASK_HEAD else []),
                          "TRAIN.PRECISION", precision])
    proposals = cfg.RPN.POST_NMS_TOP_N_TEST
    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
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
            trainer = Trainer(cfg, model, [batch], out, strategy=strategy)
            trainer.build(batch)
            step = trainer._train_step_fn()
            seed = tf.constant([0, 1], tf.int32)
            # one image per replica: the global batch is the image, once per replica
            inputs = distribute_batch(strategy, {k: tf.concat([v] * replicas, 0) for k, v in batch.items()})
            median, times = timed(lambda: float(step(inputs, seed)[0]["total"]), repeats, 2)
        extra = {"roi_batch_size": cfg.TRAIN.ROI_BATCH_SIZE, "rpn_batch_size": cfg.RPN.BATCH_SIZE,
                 "replicas": replicas, "devices": devices, "images_per_s": round(replicas / median, 4)}
    frozen = len(model.trainable_variables) != len(model.variables)
    return dict(extra, median_s=median, times_s=times, frozen_layers=frozen, onednn=onednn_enabled(),
                precision=precision,
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
        row = run_ours(a.model, a.phase, a.threads, a.repeats, a.proposals, a.precision,
                       int(a.replicas))
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
    p.add_argument("--precision", default="float32",
                   help="TRAIN.PRECISION of our models, comma-separated: float32, mixed_float16, "
                        "mixed_bfloat16 (ratios to float32 are printed)")
    p.add_argument("--replicas", default="1",
                   help="train step under MirroredStrategy with N replicas (one image each), "
                        "comma-separated, e.g. 1,2: GPUs if there are, else N logical CPU devices")
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
    precisions = a.precision.split(",")
    if any(x not in PRECISIONS for x in precisions):
        print(f"--precision takes {', '.join(PRECISIONS)} (comma-separated); got {a.precision!r}",
              file=sys.stderr)
        return 2
    try:
        replica_counts = [int(x) for x in a.replicas.split(",")]
    except ValueError:
        replica_counts = [0]
    if any(n < 1 for n in replica_counts):
        print(f"--replicas takes counts >= 1, comma-separated; got {a.replicas!r}", file=sys.stderr)
        return 2
    rows = []
    for model in a.models.split(","):
        if model not in MODELS and model not in BASELINES:
            print(f"unknown model {model}; choose from {', '.join(list(MODELS) + list(BASELINES))}",
                  file=sys.stderr)
            return 2
        for phase in a.phases.split(","):
            ours = model not in BASELINES
            variants = [(o, p, n) for o in (settings if ours else ["-"])
                        for p in (precisions if ours else ["float32"])
                        for n in (replica_counts if ours and phase == "train" else [1])]
            for onednn, precision, replicas in variants:
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", model, phase,
                       "--threads", str(a.threads), "--repeats", str(a.repeats),
                       "--proposals", str(a.proposals), "--precision", precision,
                       "--replicas", str(replicas)]
                env = dict(os.environ)
                if onednn in ("on", "off"):
                    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn == "on" else "0"
                out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                found = [l[len("RESULT "):] for l in out.stdout.splitlines() if l.startswith("RESULT ")]
                if out.returncode or not found:
                    reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
                    row = {"model": model, "phase": phase, "precision": precision,
                           "replicas": replicas, "skipped": reason}
                else:
                    row = json.loads(found[-1])
                    if len(settings) > 1 and onednn == "off":
                        row["model"] += " (oneDNN off)"
                    if precision != "float32":
                        row["model"] += f" ({precision})"
                    if replicas > 1:
                        row["model"] += f" ({replicas} replicas)"
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
    for (model, phase), r in by.items():
        for tag in [f" ({p})" for p in PRECISIONS[1:]] + [f" ({n} replicas)" for n in replica_counts]:
            base = by.get((model.replace(tag, ""), phase))
            if tag in model and base and model.replace(tag, "") != model:
                ratio = {"ratio": f"{model} / {model.replace(tag, '')}", "phase": phase,
                         "time": round(r["median_s"] / base["median_s"], 3)}
                if "images_per_s" in r and "images_per_s" in base:
                    ratio["images_per_s_speedup"] = round(r["images_per_s"] / base["images_per_s"], 3)
                print(json.dumps(ratio))
    if a.markdown:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
