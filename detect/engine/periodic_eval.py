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

A resumed run reads best.json, so the best of the whole run is kept (when
it ranks by the same metric on the same set); best/ and best.json agree
whatever moment a run is killed at (``_save_best``), and an evaluation a
kill cut short runs on resume (engine/trainer.py).
"""
import json
import math
import os
import time

import tensorflow as tf
from tqdm import tqdm

from detect.datasets.records import has_masks as records_have_masks
from detect.engine.checkpoint import BEST_JSON, read_best, remove_checkpoints
from detect.engine.inference import class_mapping, iter_inference
from detect.evaluation import default_metrics, evaluate, json_ready
from detect.utils.atomic import write_json_atomic
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
        """best.json, when it names a checkpoint that is there; checkpoints
        in best/ that it does not name (a save cut short) are removed."""
        best = read_best(self.best_dir)
        if best is not None:
            remove_checkpoints(self.best_dir, keep=best["checkpoint"])
        return best

    def logged_iterations(self):
        """The iterations eval_log.jsonl has an entry for."""
        try:
            with open(self.log_path) as f:
                lines = f.readlines()
        except OSError:
            return set()
        out = set()
        for line in lines:
            try:
                out.add(int(json.loads(line)["iteration"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
        return out

    def _better(self, name, value, higher):
        if math.isnan(value):
            return False
        best = self.best
        # best.json of an earlier version has no "dataset": the metric alone decides
        if best is not None and (best.get("metric") != name
                                 or best.get("dataset", self.dataset.name) != self.dataset.name):
            print(f"\nnote: best/ holds the best by {best.get('metric')} on {best.get('dataset', '?')}; "
                  f"this run ranks by {name} on {self.dataset.name}, so its first evaluation replaces it")
            self.best = best = None
        if best is None or math.isnan(best.get("value", float("nan"))):
            return True
        return value > best["value"] if higher else value < best["value"]

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
        if self._better(name, value, higher):
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
        """best/ckpt-<iteration>, then best.json naming it (written aside and
        renamed: the commit), then the old best's files removed. A run
        killed at any moment leaves best.json naming a whole checkpoint,
        and resolve_checkpoint(best/) follows best.json."""
        os.makedirs(self.best_dir, exist_ok=True)
        prefix = os.path.abspath(os.path.join(self.best_dir, f"ckpt-{iteration}"))
        if self.best and self.best["checkpoint"] == prefix:
            path = prefix  # this iteration evaluated again (after a kill): its checkpoint stays
        else:
            checkpoint = tf.train.Checkpoint(model=self.model)
            checkpoint.save_counter.assign(1)  # in the file, as save() writes it: restore() expects it
            path = os.path.abspath(checkpoint.write(prefix))
        best = {"iteration": iteration, "metric": name, "value": value, "dataset": self.dataset.name,
                "checkpoint": path}
        write_json_atomic(os.path.join(self.best_dir, BEST_JSON), best, indent=2)
        self.best = best
        remove_checkpoints(self.best_dir, keep=path)
