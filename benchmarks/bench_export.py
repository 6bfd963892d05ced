#!/usr/bin/env python
"""Inference through a SavedModel export vs tools/test_net.py's path, and the
prediction server's requests per second.

On the toy model (experiments/cfgs/toy_quickstart.yml, test scale 160, random
weights, as many detections as a trained model's cap allows) and --images toy
test images, in one process, alternating the paths for --rounds rounds:

  test_net        engine/inference.py's iter_inference: tf.function(model.detect)
                  on tf.data batches (decoded, resized, normalized ahead); the
                  seconds of the model call, as test_net.py prints them
  export_tensor   the export's serving_default on the decoded uint8 image
                  (resize, normalize, model, post-processing in the graph)
  export_bytes    the export's serve_encoded on the JPEG bytes (+ decoding)

Medians over every image of every round but each round's first call of a path.
Then tools/serve.py in its own process, answering --requests b64 JPEG
predict requests from 1 and from 4 concurrent clients (urllib, a connection
per request), for each --max-inflight. One JSON line per measurement.

    python benchmarks/bench_export.py [--images 30] [--rounds 2] [--requests 40] [--max-inflight 2]
"""
import argparse
import base64
import concurrent.futures
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from detect.tf_env import set_defaults  # noqa: E402

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)


def emit(**record):
    print(json.dumps(record), flush=True)


def toy_model(work, num_images):
    """(cfg, model, dataset, export dir): a random toy model, its export and a toy test set."""
    import tensorflow as tf

    from detect.config import get_cfg, merge_from_file, merge_from_list
    from detect.datasets import get_dataset
    from detect.datasets.toy import TOY_CLASSES, write_toy_dataset
    from detect.export.saved_model import export_saved_model
    from detect.modeling.build import build_model

    cfg = get_cfg()
    merge_from_file(cfg, os.path.join(ROOT, "experiments", "cfgs", "toy_quickstart.yml"))
    merge_from_list(cfg, ["MODEL.NUM_CLASSES", str(len(TOY_CLASSES) + 1)])  # train_net.py sets it so
    tf.keras.utils.set_random_seed(0)
    model = build_model(cfg)
    model.detect(tf.zeros([1, 64, 64, 3]), tf.constant([[64, 64]]))
    data = os.path.join(work, "data")
    write_toy_dataset(os.path.join(data, "toy"), num_train=0, num_test=num_images)
    dataset = get_dataset("toy_test", data)
    export_dir = export_saved_model(cfg, model, ["__background__", *TOY_CLASSES],
                                    os.path.join(work, "export"))
    return cfg, model, dataset, export_dir


def time_paths(cfg, model, dataset, export_dir, rounds):
    """{path: [seconds per image, ...]} without each path's first call."""
    import tensorflow as tf

    from detect.engine.inference import iter_inference
    from detect.export.loading import load_exported

    loaded = load_exported(export_dir)
    serve, encoded = loaded.signatures["serving_default"], loaded.signatures["serve_encoded"]
    files = [r["file_name"] for r in dataset.records]
    jpegs = [open(f, "rb").read() for f in files]
    pixels = [tf.io.decode_jpeg(j, channels=3)[None] for j in jpegs]
    times = {"test_net": [], "export_tensor": [], "export_bytes": []}

    def timed(fn, arg):
        t0 = time.perf_counter()
        out = fn(arg)
        int(out["num_detections"])  # the result is there
        return time.perf_counter() - t0

    for _ in range(rounds):  # each round's first call of a path is left out (iter_inference traces)
        times["test_net"] += [secs for _, _, secs in iter_inference(model, dataset, cfg)][1:]
        times["export_tensor"] += [timed(lambda x: serve(images=x), p) for p in pixels][1:]
        times["export_bytes"] += [timed(lambda x: encoded(encoded=tf.constant(x)), j) for j in jpegs][1:]
    return times, jpegs


def start_server(export_dir, max_inflight):
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "serve.py"), "--saved-model",
                             export_dir, "--port", "0", "--quiet", "--max-inflight", str(max_inflight)],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    line, deadline = "", time.time() + 300
    while "serving" not in line:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.time(), 0))
        if not ready or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("tools/serve.py did not start")
        line = proc.stdout.readline()
    return proc, re.search(r"at (http://\S+) ", line).group(1) + ":predict"


def requests_per_second(url, jpegs, clients, requests):
    bodies = [json.dumps({"instances": [{"b64": base64.b64encode(j).decode()}]}).encode() for j in jpegs]

    def post(i):
        r = urllib.request.Request(url, data=bodies[i % len(bodies)],
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=300) as answer:
            assert answer.status == 200 and json.loads(answer.read())["predictions"]

    for i in range(2):  # warm-up
        post(i)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, range(requests)))
    return requests / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--requests", type=int, default=40, help="per server measurement")
    p.add_argument("--max-inflight", default="2", help="serve.py --max-inflight values, comma-separated")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        cfg, model, dataset, export_dir = toy_model(work, a.images)
        times, jpegs = time_paths(cfg, model, dataset, export_dir, a.rounds)
        medians = {k: statistics.median(v) for k, v in times.items()}
        for path, median in medians.items():
            emit(bench="inference", model="toy", path=path, seconds_per_image=round(median, 5),
                 images=len(times[path]), ratio_to_test_net=round(median / medians["test_net"], 3))
        for inflight in (int(v) for v in a.max_inflight.split(",")):
            proc, url = start_server(export_dir, inflight)
            try:
                for clients in (1, 4):
                    rps = requests_per_second(url, jpegs, clients, a.requests)
                    emit(bench="server", model="toy", clients=clients, max_inflight=inflight,
                         requests=a.requests, requests_per_second=round(rps, 2))
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
