"""Serves an export over HTTP with TensorFlow Serving's REST predict API.

    python tools/serve.py --saved-model exports/toy [--host 127.0.0.1] [--port 8501]
        [--model-name detect] [--max-body-mb 32] [--max-pixels N] [--max-inflight 2] [--quiet]

    curl localhost:8501/v1/models/detect
    curl -d '{"instances": [{"b64": "'"$(base64 -w0 image.jpg)"'"}]}' \\
        localhost:8501/v1/models/detect:predict

Clients written for TF Serving work unchanged (stock TF Serving cannot load
the export: its binary lacks our ops). Routes, request and answer formats,
and what each bad request gets: detect/export/server.py. It binds to
127.0.0.1 unless --host says otherwise; it has no TLS and no authentication.
--port 0 picks a free port (printed). Ctrl-C or SIGTERM stops it (exit 0).
"""
import argparse
import signal
import sys

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import numpy as np

from detect.datasets.image_check import MAX_PIXELS
from detect.export.loading import ExportLoadError
from detect.predictor import Predictor
from detect.export.server import MASK_FORMATS, MAX_BODY_BYTES, make_server


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < float("inf"):  # also False for NaN
            raise argparse.ArgumentTypeError(f"{text} is not a positive, finite number")
        return value
    return parse


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--saved-model", required=True, help="an export of tools/export_model.py")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8501,
                   help="TF Serving's REST port by default; 0: any free one")
    p.add_argument("--model-name", default="detect", help="the <name> in /v1/models/<name>")
    p.add_argument("--max-body-mb", type=positive(float), default=MAX_BODY_BYTES / 2 ** 20,
                   help="larger request bodies get 413")
    p.add_argument("--max-pixels", type=positive(int), default=MAX_PIXELS,
                   help="larger images (height x width) get 413")
    p.add_argument("--max-inflight", type=positive(int), default=2,
                   help="inferences run at once; further requests wait")
    p.add_argument("--masks", choices=MASK_FORMATS, default="rle",
                   help="Mask R-CNN's detection_masks in answers: one COCO RLE per detection "
                        "(default), or dense [N][H][W] 0/1 arrays as TF Serving would send")
    p.add_argument("--quiet", action="store_true", help="no access log")
    a = p.parse_args(argv)
    if not 0 <= a.port <= 65535:
        p.error(f"--port {a.port} is not in [0, 65535]")
    try:
        predictor = Predictor(a.saved_model, kind="export")  # detect/predictor.py
    except ExportLoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    loaded = predictor.loaded
    # the first call optimizes the graph: do it now, not in the first request
    loaded.signatures["serving_default"](images=np.zeros([1, 32, 32, 3], np.uint8))
    try:
        server = make_server(loaded, a.host, a.port, name=a.model_name,
                             max_body_bytes=int(a.max_body_mb * 2 ** 20), max_pixels=a.max_pixels,
                             max_inflight=a.max_inflight, quiet=a.quiet, mask_format=a.masks)
    except OSError as e:
        print(f"error: cannot listen on {a.host}:{a.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/v1/models/{a.model_name}"
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: listening on {host}: other machines can reach this server, which has no "
              "TLS and no authentication", file=sys.stderr)
    print(f"serving {loaded.export_dir} ({len(loaded.class_names) - 1} classes) at {url} "
          f"(predict: POST {url}:predict)", flush=True)
    # SIGINT too: a job started in the background ignores it by default
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
