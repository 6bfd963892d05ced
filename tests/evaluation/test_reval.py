"""tools/reval.py end to end on the toy set."""
import json
import os
import subprocess
import sys

from detect.datasets import get_dataset
from detect.datasets.toy import write_toy_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_reval_prints_tables_and_fails_clearly(tmp_path):
    write_toy_dataset(str(tmp_path / "toy"), num_train=1, num_test=4, seed=1, workers=1)
    ds = get_dataset("toy_test", str(tmp_path))
    results = [{"image_id": r["image_id"], "category_id": int(c), "score": 1.0,
                "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
               for r in ds.records for b, c in zip(r["boxes"], r["classes"])]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(results))
    cmd = [sys.executable, os.path.join(ROOT, "tools", "reval.py"), "--dataset", "toy_test",
           "--data-dir", str(tmp_path), "--results", str(path)]
    out = subprocess.run(cmd + ["--metric", "voc07", "voc", "coco", "--json", str(tmp_path / "f.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "mAP          1.0000" in out.stdout and "COCO box AP per class" in out.stdout
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["voc"]["mAP"] == 1.0 and figures["coco"]["stats"]["AP"] > 0.99
    path.write_text('[{"image_id": 1}]')
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2 and "detection 0 needs image_id" in bad.stderr
