"""Evaluation while training (train_net.py --eval-period N).

Every N iterations and at the end, the model runs over DATASETS.TEST as
test_net.py runs it (engine/inference.py) and the results are evaluated
(evaluation/dispatch.py: box / mask AP, VOC AP or MR^-2). The figures go

  * to TensorBoard, ``eval/<metric>/<figure>`` (eval/coco/AP, eval/mr/Reasonable ...),
    in the run's event files beside the losses;
  * to ``<output>/eval_log.jsonl``, one JSON object per evaluation:
    {"iteration", "seconds", "main": {"name", "value"}, "figures": {...}};
  * and the best model so far by the main metric (the first metric's
    headline: box AP, VOC mAP, or MR^-2 of the Reasonable setup, where
    lower is better) is kept in ``<output>/best/ckpt-<iteration>`` with
    ``<output>/best/best.json``, beside the latest checkpoints
    (``test_net.py --checkpoint <output>/best`` evaluates it).

A resumed run reads best.json, so the best of the whole run is kept.
"""
import json
import math
import os
import time

import tensorflow as tf
from tqdm import tqdm

from detect.datasets.records import has_masks as records_have_masks
from detect.engine.inference import class_mapping, iter_inference
from detect.evaluation import default_metrics, evaluate, json_ready
from detect.weights.coco_classes import canonical_class

BEST_DIR = "best"
LOG_NAME = "eval_log.jsonl"


def eval_metrics(name, has_masks, dataset, datasets_file=None):
    """The dataset's default metrics, plus mask AP (coco_segm) after box AP
    when the model predicts masks and the dataset has them."""
    metrics = default_metrics(name, datasets_file)
    if has_masks and "coco" in metrics and records_have_masks(dataset.records):
        metrics.insert(metrics.index("coco") + 1, "coco_segm")
    return metrics


def main_figure(figures, metrics):
    """(name, value, higher_is_better) of the first metric's headline figure."""
    metric = metrics[0]
    r = figures[metric]
    if metric in ("voc07", "voc"):
        return f"{metric}/mAP", float(r["mAP"]), True
    if metric in ("coco", "coco_segm"):
        return f"{metric}/AP", float(r["stats"]["AP"]), True
    setup = "Reasonable" if "Reasonable" in r else next(iter(r))
    return f"mr/{setup}", float(r[setup]), False


def scalars(figures):
    """{"<metric>/<figure>": float} of an evaluate() result: VOC mAP, COCO's
    12 stats, each MR^-2 setup (per-class APs stay in the JSON log)."""
    out = {}
    for metric, r in figures.items():
        if metric in ("voc07", "voc"):
            out[f"{metric}/mAP"] = r["mAP"]
        elif metric in ("coco", "coco_segm"):
            out.update({f"{metric}/{k}": v for k, v in r["stats"].items()})
        elif metric == "mr":
            out.update({f"mr/{k}": v for k, v in r.items()})
    return {k: float(v) for k, v in out.items()}


def check_test_classes(train, test):
    """{model class id: test class id} (None: the same classes) for a model
    trained on ``train`` evaluated on ``test``; raises ValueError naming the
    sets when the test set has classes the model does not know (their AP
    would be 0, not a measurement)."""
    trained = {canonical_class(n) for n in train.class_names[1:]}
    unknown = [n for n in test.class_names[1:] if canonical_class(n) not in trained]
    if unknown:
        where = test.coco_json or test.name
        raise ValueError(
            f"the test set {test.name} ({where}) has classes the training set {train.name} does "
            f"not: {unknown[:8]}{f' and {len(unknown) - 8} more' if len(unknown) > 8 else ''}. "
            "Train and test sets must "
            "name the same classes: export both from one project (the same 'categories' in both "
            "JSON files; the same classes.txt for VOC folders), or evaluate on a set of the "
            "training classes")
    mapping = class_mapping(train.class_names, test.class_names)
    return mapping


class PeriodicEvaluator:
    """Evaluates a model on ``dataset`` and keeps the best checkpoint.

    Args:
      cfg: the training config (TEST.* settings for inference).
      model: the detector being trained.
      dataset: the evaluation Dataset.
      metrics: metric names (evaluation.METRICS); the first is the main one.
      output_dir: the run folder (best/, eval_log.jsonl).
      class_map: check_test_classes' mapping, or None.
      writer: a tf.summary writer (the trainer's), or None.
    """

    def __init__(self, cfg, model, dataset, metrics, output_dir, class_map=None, writer=None,
                 progress=True):
        self.cfg, self.model, self.dataset, self.metrics = cfg, model, dataset, list(metrics)
        self.class_map, self.writer, self.progress = class_map, writer, progress
        self.log_path = os.path.join(output_dir, LOG_NAME)
        self.best_dir = os.path.join(output_dir, BEST_DIR)
        self.best = self._read_best()
        self._manager = None

    def _read_best(self):
        try:
            with open(os.path.join(self.best_dir, "best.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _better(self, value, higher):
        if math.isnan(value):
            return False
        if self.best is None or math.isnan(self.best.get("value", float("nan"))):
            return True
        return value > self.best["value"] if higher else value < self.best["value"]

    def __call__(self, iteration):
        """Evaluates now; returns the log entry written (a dict)."""
        t0 = time.time()
        results, seen = [], 0
        runs = iter_inference(self.model, self.dataset, self.cfg, self.class_map)
        for _, dets, _ in tqdm(runs, total=len(self.dataset), desc=f"eval @ {iteration}", unit="img",
                               leave=False, disable=not self.progress):
            results += dets
            seen += 1
        if seen < len(self.dataset):
            print(f"\nwarning: eval @ {iteration}: {len(self.dataset) - seen} of {len(self.dataset)} "
                  f"images of {self.dataset.name} could not be read (listed above); they count as "
                  "images without detections")
        try:
            figures, _ = evaluate(self.dataset, results, self.metrics)
        except ValueError as e:  # no valid detection yet (an early model): said, not fatal
            entry = {"iteration": iteration, "seconds": round(time.time() - t0, 2),
                     "error": str(e)[:300]}
            print(f"\neval @ {iteration}: not evaluated ({str(e)[:200]})")
            self._append(entry)
            return entry
        name, value, higher = main_figure(figures, self.metrics)
        flat = scalars(figures)
        if self.writer is not None:
            with self.writer.as_default(step=iteration):
                for k, v in flat.items():
                    tf.summary.scalar(f"eval/{k}", v)
            self.writer.flush()
        entry = {"iteration": iteration, "seconds": round(time.time() - t0, 2),
                 "main": {"name": name, "value": value}, "figures": figures}
        if self._better(value, higher):
            entry["best"] = True
            self._save_best(iteration, name, value)
        self._append(entry)
        best = self.best  # None while every figure so far was NaN (e.g. no person in MR's range)
        print(f"\neval @ {iteration} on {self.dataset.name}: {name} {value:.4f}  "
              + (f"(best {best['value']:.4f} @ {best['iteration']}, {best['checkpoint']})" if best
                 else "(no best yet: the figure is not a number)"))
        return entry

    def _append(self, entry):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(json_ready(entry)) + "\n")

    def _save_best(self, iteration, name, value):
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=self.model),
                                                       self.best_dir, max_to_keep=1,
                                                       checkpoint_name="ckpt")
        path = os.path.abspath(self._manager.save(checkpoint_number=iteration))
        self.best = {"iteration": iteration, "metric": name, "value": value, "checkpoint": path}
        tmp = os.path.join(self.best_dir, "best.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.best, f, indent=2)
        os.replace(tmp, os.path.join(self.best_dir, "best.json"))
