"""tools/serve.py as a real HTTP server on localhost: TF Serving's REST
predict API (row and columnar formats, b64 and arrays) answers the same
detections as the export in-process; every bad request gets a 4xx with a
JSON error while the server keeps serving; 50 concurrent requests are all
answered correctly; it binds to localhost by default."""
import base64
import concurrent.futures
import http.client
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from detect.export.loading import load_exported
from detect.export.server import make_server
from tests.export.exports import ROOT, assert_same_detections, from_outputs, picture

MAX_BODY_MB, MAX_PIXELS = 1, 40000


@pytest.fixture(scope="module")
def server(tiny_export):
    """(base URL of /v1/models/toy, the export loaded in this process) while tools/serve.py runs."""
    _, export_dir = tiny_export
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "serve.py"), "--saved-model",
                             export_dir, "--port", "0", "--model-name", "toy", "--quiet", "--max-body-mb",
                             str(MAX_BODY_MB), "--max-pixels", str(MAX_PIXELS), "--max-inflight", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    deadline, line = time.time() + 300, ""
    while "serving" not in line:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.time(), 0))
        assert ready and proc.poll() is None, f"serve.py did not start: {proc.stderr.read()[-2000:]}"
        line = proc.stdout.readline()
    url = re.search(r"at (http://\S+/v1/models/toy) ", line).group(1)
    assert url.startswith("http://127.0.0.1:")  # localhost unless told otherwise
    yield url, load_exported(export_dir)
    proc.send_signal(signal.SIGINT)  # Ctrl-C stops it cleanly
    assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:]


def call(url, body=None, method=None, headers=None):
    """(status, parsed JSON answer) of one request with urllib."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def b64(data):
    return {"b64": base64.b64encode(data).decode()}


def expected(loaded, rgb):
    return from_outputs(loaded.signatures["serving_default"](images=tf.constant(rgb[None])))


@pytest.mark.slow
def test_status_metadata_and_predictions_in_every_form(server):
    url, loaded = server
    rgb, png, jpeg = picture()
    assert call(url) == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert call(url + "/versions/1")[0] == 200
    status, meta = call(url + "/metadata")
    assert status == 200 and meta["metadata"]["class_names"] == loaded.class_names
    assert meta["metadata"]["signature_def"]["signature_def"]["serve_encoded"]["inputs"] == {
        "encoded": {"dtype": "DT_STRING", "tensor_shape": {"dim": []}}}
    want = expected(loaded, rgb)
    other = picture(seed=2)[0]
    status, out = call(url + ":predict", {"instances": [b64(png), rgb.tolist(), {"images": other.tolist()},
                                                        {"encoded": b64(png)}]})
    assert status == 200 and len(out["predictions"]) == 4
    for i in (0, 1, 3):
        assert_same_detections(from_outputs(out["predictions"][i]), want, f"instance {i}")
    assert_same_detections(from_outputs(out["predictions"][2]), expected(loaded, other), "instance 2")
    p = out["predictions"][0]
    assert p["num_detections"] == len(p["detection_boxes"]) > 0
    assert p["detection_class_names"] == [loaded.class_names[c] for c in p["detection_classes"]]
    # JPEG bytes: decoded in the graph with the accurate IDCT, PIL's pixels
    status, out = call(url + "/versions/1:predict",
                       {"signature_name": "serve_encoded", "instances": [b64(jpeg)]})
    jpeg_rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    assert status == 200
    assert_same_detections(from_outputs(out["predictions"][0]), expected(loaded, jpeg_rgb), "jpeg")
    # columnar format: {"inputs": ...} -> {"outputs": {name: [per image]}}
    status, out = call(url + ":predict", {"inputs": {"encoded": b64(png)}})
    assert status == 200
    assert_same_detections({k: v[0] for k, v in from_outputs(out["outputs"]).items()}, want, "columnar")
    status, out = call(url + ":predict", {"inputs": [rgb.tolist()]})
    assert status == 200 and out["outputs"]["num_detections"] == [len(want["scores"])]


def test_bad_requests_get_4xx_with_a_json_error_and_the_server_keeps_serving(server):
    url, _ = server
    rgb, png, _ = picture()
    big = np.zeros([250, 200, 3], np.uint8)  # 50000 pixels, over MAX_PIXELS
    big_png = io.BytesIO()
    Image.fromarray(big).save(big_png, format="PNG")
    cases = [
        ("malformed JSON", url + ":predict", b'{"instances": [', 400, "malformed JSON"),
        ("not UTF-8", url + ":predict", b"\xff\xfe{}", 400, "malformed JSON"),
        ("no instances", url + ":predict", {"images": []}, 400, '"instances"'),
        ("empty instances", url + ":predict", {"instances": []}, 400, "non-empty list"),
        ("not an image", url + ":predict", {"instances": [b64(b"hello, not a picture")]}, 400,
         "not an image"),
        ("truncated PNG", url + ":predict", {"instances": [b64(png[: len(png) // 2])]}, 400, "PNG"),
        ("bad base64", url + ":predict", {"instances": [{"b64": "@@not base64@@"}]}, 400, "invalid base64"),
        ("a number", url + ":predict", {"instances": [7]}, 400, "expected an image"),
        ("grey image [H, W]", url + ":predict", {"instances": [rgb[..., 0].tolist()]}, 400,
         "shape [height, width, 3]"),
        ("RGBA", url + ":predict", {"instances": [np.zeros([8, 8, 4], int).tolist()]}, 400, "got [8, 8, 4]"),
        ("a batch dimension", url + ":predict", {"instances": [rgb[None].tolist()]}, 400,
         "no batch dimension"),
        ("ragged rows", url + ":predict", {"instances": [[[[1, 2, 3]], [[1, 2, 3], [4, 5, 6]]]]}, 400,
         "ragged"),
        ("values over 255", url + ":predict", {"instances": [np.full([8, 8, 3], 300).tolist()]}, 400,
         "integers in [0, 255]"),
        ("fractions", url + ":predict", {"instances": [np.full([8, 8, 3], 0.5).tolist()]}, 400,
         "integers in [0, 255]"),
        ("strings", url + ":predict", {"instances": [[[["a", "b", "c"]]]]}, 400, "integers in [0, 255]"),
        ("bytes to the array signature", url + ":predict",
         {"signature_name": "serving_default", "instances": [b64(png)]}, 400, "takes a uint8 image array"),
        ("unknown signature", url + ":predict", {"signature_name": "x", "instances": [b64(png)]}, 400,
         "unknown signature_name"),
        ("image over the pixel cap", url + ":predict", {"instances": [b64(big_png.getvalue())]}, 413,
         "too large: 200x250"),
        ("array over the pixel cap", url + ":predict", {"instances": [big.tolist()]}, 413, "too large"),
        ("body over the size cap", url + ":predict", b"{" + b" " * (MAX_BODY_MB * 2 ** 20) + b"}", 413,
         "over this server's limit"),
        ("unknown model", url.replace("/toy", "/other") + ":predict", {"instances": [b64(png)]}, 404,
         "Servable not found"),
        ("unknown version", url + "/versions/7:predict", {"instances": [b64(png)]}, 404, "version 1 only"),
        ("unknown path", url.split("/v1")[0] + "/v2/x", None, 404, "no endpoint"),
        ("GET predict", url + ":predict", None, 405, "takes POST"),
    ]
    for what, target, body, code, message in cases:
        status, answer = call(target, body)
        assert (status, set(answer)) == (code, {"error"}), what
        assert message in answer["error"], (what, answer["error"])
    # no Content-Length: 411
    host, port = url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", "/v1/models/toy:predict")
    conn.endheaders()
    answer = conn.getresponse()
    assert answer.status == 411 and "Content-Length" in json.loads(answer.read())["error"]
    conn.close()
    # and it still serves, also on a kept-alive connection after a 400
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for body, code in ((b"{", 400), (json.dumps({"instances": [b64(png)]}).encode(), 200)):
        conn.request("POST", "/v1/models/toy:predict", body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        assert answer.status == code and json.loads(answer.read())
    conn.close()


@pytest.mark.slow
def test_50_concurrent_requests_are_answered_correctly(server):
    url, loaded = server
    images = [picture(seed=s) for s in (1, 2, 3)]
    want = [expected(loaded, rgb) for rgb, _, _ in images]

    def one(i):
        rgb, png, _ = images[i % 3]
        body = {"instances": [b64(png) if i % 2 else rgb.tolist()]}
        return i, call(url + ":predict", body)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))
    for i, (status, out) in answers:
        assert status == 200, out
        assert_same_detections(from_outputs(out["predictions"][0]), want[i % 3], f"request {i}")


def test_binds_to_localhost_by_default(tiny_export):
    server = make_server(load_exported(tiny_export[1]), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


@pytest.mark.slow
def test_mask_answers_as_rle_or_dense(tmp_path):
    from pycocotools import mask as mask_utils

    from detect.export.saved_model import export_saved_model
    from detect.export.server import PredictionService
    from tests.export.exports import CLASS_NAMES, arch_cfg, random_model

    cfg = arch_cfg("tiny-fpn-mask")
    loaded = load_exported(export_saved_model(cfg, random_model(cfg), CLASS_NAMES, str(tmp_path / "m")))
    rgb, png, _ = picture()
    body = json.dumps({"instances": [b64(png)]}).encode()
    rle = PredictionService(loaded).predict(body)["predictions"][0]
    dense = PredictionService(loaded, mask_format="dense").predict(body)["predictions"][0]
    n = rle["num_detections"]
    assert n > 0 and len(rle["detection_masks"]) == n
    want = np.asarray(dense["detection_masks"], np.uint8)
    assert want.shape == (n,) + rgb.shape[:2]
    got = mask_utils.decode([dict(m, counts=m["counts"].encode()) for m in rle["detection_masks"]])
    np.testing.assert_array_equal(np.transpose(got, (2, 0, 1)), want)
    assert len(json.dumps(rle)) < len(json.dumps(dense)) / 5
