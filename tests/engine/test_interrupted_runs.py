"""Training with evaluation loses nothing when it is interrupted or moved:
best/ and best.json agree whatever moment a save is cut at, a resumed run
does not rank against the best of another metric or set, an evaluation
killed at iteration N runs on resume (also the final one), and a run whose
data paths hold ':' or '+' keeps them, structured, in its folder."""
import json
import os

import pytest
import tensorflow as tf
import yaml

from detect.datasets import get_dataset
from detect.datasets.by_path import pin_datasets
from detect.datasets.toy import VOC_DIR, write_toy_dataset
from detect.engine import periodic_eval
from detect.engine.checkpoint import list_checkpoints, resolve_checkpoint
from tests.engine.runs import ROOT, tool

TOY = os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml")
TINY = ["TRAIN.SCALES", "[64]", "TRAIN.MAX_SIZE", "96", "TEST.SCALES", "[64]", "TEST.MAX_SIZE", "96",
        "TRAIN.SNAPSHOT_ITERS", "100", "TRAIN.IMS_PER_BATCH", "1", "TEST.SCORE_THRESH", "0.0"]


class _Set(list):
    name = "toy_test"


def _evaluator(tmp_path, monkeypatch, values, dataset_name="toy_test"):
    """A PeriodicEvaluator over a one-variable model whose evaluations give
    ``values`` (VOC07 mAP) in turn."""
    figures = iter({"voc07": {"mAP": v, "AP": {}}} for v in values)
    monkeypatch.setattr(periodic_eval, "iter_inference", lambda *a: iter([]))
    monkeypatch.setattr(periodic_eval, "evaluate", lambda ds, res, metrics: (next(figures), ""))
    model = tf.Module()
    model.w = tf.Variable(0.0)
    data = _Set()
    data.name = dataset_name
    return periodic_eval.PeriodicEvaluator(None, model, data, ["voc07"], str(tmp_path), progress=False), model


def _on_disk(best_dir):
    with open(os.path.join(best_dir, "best.json")) as f:
        best = json.load(f)
    return best, resolve_checkpoint(None, best_dir)


def test_best_and_best_json_agree_when_a_save_is_cut_short(tmp_path, monkeypatch):
    evaluator, model = _evaluator(tmp_path, monkeypatch, [0.5, 0.7, 0.9])
    best_dir = os.path.join(str(tmp_path), "best")
    model.w.assign(2.0)
    evaluator(2)
    best, path = _on_disk(best_dir)
    assert best["iteration"] == 2 and best["checkpoint"] == path and path.endswith("ckpt-2")

    # killed after the new checkpoint is written, before best.json names it
    real_replace = os.replace

    def killed(src, dst):
        if dst.endswith("best.json"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(periodic_eval.os, "replace", killed)
    model.w.assign(4.0)
    with pytest.raises(KeyboardInterrupt):
        evaluator(4)
    best, path = _on_disk(best_dir)
    assert best["iteration"] == 2 and best["value"] == 0.5 and path.endswith("ckpt-2")
    assert os.path.exists(path + ".index")  # the best it names is whole
    reader = tf.train.load_checkpoint(path)
    assert reader.get_tensor("model/w/.ATTRIBUTES/VARIABLE_VALUE") == 2.0

    # the resumed run's evaluator removes the orphan ckpt-4, keeps ckpt-2
    monkeypatch.setattr(periodic_eval.os, "replace", real_replace)
    resumed, model = _evaluator(tmp_path, monkeypatch, [0.9])
    assert [os.path.basename(p) for p in list_checkpoints(best_dir)] == ["ckpt-2"]
    assert resumed.best["value"] == 0.5

    # killed after best.json names the new one, before the old is removed
    monkeypatch.setattr(periodic_eval, "remove_checkpoints", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    model.w.assign(6.0)
    with pytest.raises(KeyboardInterrupt):
        resumed(6)
    best, path = _on_disk(best_dir)
    assert best["iteration"] == 6 and path.endswith("ckpt-6")
    assert len(list_checkpoints(best_dir)) == 2  # ckpt-2 is left, but best/ means ckpt-6


def test_a_resumed_run_ranks_only_against_a_best_of_its_own_metric_and_set(tmp_path, monkeypatch, capsys):
    evaluator, _ = _evaluator(tmp_path, monkeypatch, [0.8], dataset_name="voc_2007_test")
    evaluator(2)
    other, _ = _evaluator(tmp_path, monkeypatch, [0.3], dataset_name="mine_val")
    entry = other(4)  # lower, but on another set: not comparable
    assert entry.get("best") is True
    assert "best/ holds the best by voc07/mAP on voc_2007_test" in capsys.readouterr().out
    best, path = _on_disk(os.path.join(str(tmp_path), "best"))
    assert (best["iteration"], best["dataset"], best["value"]) == (4, "mine_val", 0.3)
    assert path.endswith("ckpt-4")


def test_a_best_json_of_an_earlier_version_keeps_its_rank(tmp_path, monkeypatch):
    """best.json written before it named the set: the metric decides, and a
    lower figure does not replace it."""
    evaluator, _ = _evaluator(tmp_path, monkeypatch, [0.8])
    evaluator(2)
    path = os.path.join(str(tmp_path), "best", "best.json")
    old = json.load(open(path))
    del old["dataset"]
    json.dump(old, open(path, "w"))
    resumed, _ = _evaluator(tmp_path, monkeypatch, [0.3])
    assert resumed(4).get("best") is None
    assert json.load(open(path))["iteration"] == 2


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupted")
    write_toy_dataset(str(root / "toy"), num_train=4, num_test=3, seed=4, workers=1)
    return str(root / "toy" / VOC_DIR)


@pytest.mark.slow
def test_an_evaluation_killed_at_the_last_iteration_runs_on_resume(toy, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    args = ["--cfg", TOY, "--dataset", f"voc:{toy}:train", "--test-dataset", f"voc:{toy}:test",
            "--eval-period", "2", "--iters", "2", "--output", out, "--no-progress", "--set", *TINY]
    real = periodic_eval.evaluate

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(periodic_eval, "evaluate", killed)
    assert tool("train_net").main(args) == 130
    log = os.path.join(out, "eval_log.jsonl")
    assert not os.path.exists(log) or not open(log).read().strip()
    assert [os.path.basename(p) for p in list_checkpoints(os.path.join(out, "checkpoints"))] == ["ckpt-2"]
    monkeypatch.setattr(periodic_eval, "evaluate", real)
    capsys.readouterr()
    assert tool("train_net").main(args + ["--resume"]) == 0
    printed = capsys.readouterr().out
    assert "evaluating iteration 2, which the stopped run had not finished evaluating" in printed
    assert [json.loads(x)["iteration"] for x in open(log)] == [2]
    best, path = _on_disk(os.path.join(out, "best"))
    assert best["iteration"] == 2 and path.endswith("ckpt-2")
    assert tool("train_net").main(args + ["--resume"]) == 0  # nothing left to do: no second entry
    assert [json.loads(x)["iteration"] for x in open(log)] == [2]


def _copy_toy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_paths_with_a_colon_are_stored_structured(toy, tmp_path, monkeypatch):
    folder = tmp_path / "proj:v2+b"
    _copy_toy(toy, str(folder / "VOC"))
    monkeypatch.chdir(folder)
    specs, datasets_file = pin_datasets(["voc:VOC:train", "voc:VOC:test_person"], None, str(tmp_path / "run"))
    assert datasets_file == str(tmp_path / "run" / "datasets.yml")
    assert specs[1].endswith("_person") and specs[1][: -len("_person")] in yaml.safe_load(open(datasets_file))
    entries = yaml.safe_load(open(datasets_file))
    train = entries[specs[0]]
    assert train == {"format": "voc", "root": str(folder / "VOC"), "split": "train"}
    monkeypatch.chdir(tmp_path)  # read again from elsewhere
    assert len(get_dataset(specs[0], datasets_file=datasets_file).records) == 4
    assert len(get_dataset(specs[1][: -len("_person")], datasets_file=datasets_file).records) == 3
    # pinned again on resume (the same --dataset, now with the run's file): the same name, no new entry
    monkeypatch.chdir(folder)
    again, same_file = pin_datasets(["voc:VOC:train"], datasets_file, str(tmp_path / "run"))
    assert again == specs[:1] and same_file == datasets_file
    assert yaml.safe_load(open(datasets_file)) == entries
    monkeypatch.chdir(tmp_path)
    # paths without ':' or '+' stay plain absolute specs, and no file is written
    plain, no_file = pin_datasets([f"voc:{toy}:train"], None, str(tmp_path / "run2"))
    assert plain == [f"voc:{toy}:train"] and no_file is None
    assert not os.path.exists(tmp_path / "run2")


@pytest.mark.slow
def test_a_run_in_a_folder_with_a_colon_resumes_from_anywhere(toy, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "proj:v2"
    _copy_toy(toy, str(folder / "VOC"))
    out = str(tmp_path / "run")
    monkeypatch.chdir(folder)
    args = ["--cfg", TOY, "--dataset", "voc:VOC:train", "--output", out, "--no-progress", "--set", *TINY]
    assert tool("train_net").main(args + ["--iters", "1"]) == 0
    monkeypatch.chdir(tmp_path)
    saved = yaml.safe_load(open(os.path.join(out, "config.yml")))
    assert saved["DATASETS"]["FILE"] == os.path.join(out, "datasets.yml")
    assert tool("train_net").main(["--output", out, "--iters", "2", "--resume", "--no-progress"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert [os.path.basename(p) for p in list_checkpoints(os.path.join(out, "checkpoints"))][-1] == "ckpt-2"


def test_messages_name_the_folder_a_datasets_file_entry_resolves_against(tmp_path):
    path = tmp_path / "sets" / "datasets.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"mine": {"format": "voc", "root": "missing_voc"}}))
    with pytest.raises(FileNotFoundError, match=r"relative paths in .*datasets\.yml resolve against its "
                                                r"folder, .*sets\)"):
        get_dataset("mine", datasets_file=str(path))
    with pytest.raises(ValueError, match=r"'\+' joins datasets, so 'b/VOC' was read as one"):
        get_dataset("voc:/data/a+b/VOC")
