"""An HTTP server that answers TensorFlow Serving's REST API for one export.

Stock TF Serving cannot load our exports (its binary lacks our ops), so
this server speaks its protocol instead, and clients written for TF
Serving work unchanged:

    GET  /v1/models/<name>[/versions/1]             model status
    GET  /v1/models/<name>[/versions/1]/metadata    signatures, class names
    POST /v1/models/<name>[/versions/1]:predict     detections

A predict body is TF Serving's row format, ``{"instances": [...]}``
(answered with ``{"predictions": [...]}``, one object per instance), or its
columnar format, ``{"inputs": ...}`` (answered with ``{"outputs": {...}}``),
with an optional ``"signature_name"``. An instance is image bytes as
``{"b64": "<base64 JPEG/PNG>"}`` (run through ``serve_encoded``) or a uint8
RGB array ``[height][width][3]`` of integers in [0, 255] (run through
``serving_default``); either may be wrapped in ``{"<input name>": ...}``
(``encoded`` / ``images``). Each prediction holds the signature's outputs
(detect/export/saved_model.py): detection_boxes, detection_scores,
detection_classes, detection_class_names, num_detections, and for Mask
R-CNN detection_masks: by default (``mask_format="rle"``) one COCO RLE per
detection, ``{"size": [height, width], "counts": "<string>"}``
(pycocotools' mask.decode reads it), since the dense [N][H][W] array is
about 1 MB of JSON per detection of a 640 x 480 image; ``"dense"`` answers
the tensor itself, as TF Serving would.

A bad request gets a 4xx status and ``{"error": "<what is wrong>"}`` (as TF
Serving answers), and the server keeps serving: malformed JSON, a body
without instances, not an image, an image array of the wrong shape or
values (400), an unknown model name, version or path (404), a body over
``max_body_bytes`` or an image over ``max_pixels`` (413), no Content-Length
(411). An unexpected failure of one request is a 500 with the error; the
server goes on.

The HTTP layer is the standard library's ThreadingHTTPServer: one thread per
connection, HTTP/1.1 keep-alive. The protocol is two JSON routes and the
time goes to inference, so a framework would add a dependency and nothing
measurable (benchmarks/bench_export.py). At most ``max_inflight`` inferences
run at once (the others wait), so many clients cannot exhaust memory. It has
no TLS and no authentication: it binds to 127.0.0.1 unless told otherwise;
put a reverse proxy in front to expose it.
"""
import base64
import binascii
import json
import logging
import re
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
import tensorflow as tf

from detect import __version__
from detect.datasets.image_check import MAX_PIXELS, BadImageError, check_image
from detect.engine.inference import encode_masks
from detect.export.saved_model import SIGNATURES

log = logging.getLogger(__name__)

MASK_FORMATS = ("rle", "dense")  # detection_masks in answers: COCO RLE, or the tensor
MAX_BODY_BYTES = 32 * 2 ** 20  # a 4000 x 3000 JPEG is ~3 MiB, ~4 MiB in base64
DRAIN_BYTES = 64 * 2 ** 20  # a refused body up to this size is read first, a larger one cut off
VERSION = "1"  # the one version served (TF Serving numbers a model's folders)
_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                    r"(?P<what>:predict|/metadata)?/?$")
_DTYPES = {tf.uint8: "DT_UINT8", tf.string: "DT_STRING", tf.float32: "DT_FLOAT", tf.int32: "DT_INT32"}


class RequestError(Exception):
    """A request that cannot be answered: HTTP ``status`` and ``message``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _spec_json(spec):
    dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()]
    return {"dtype": _DTYPES.get(spec.dtype, spec.dtype.name), "tensor_shape": {"dim": dims}}


class PredictionService:
    """Runs TF Serving REST requests on an export's signatures.

    Args:
      loaded: ``detect.load_exported(path)``'s object.
      name: the model name in the URLs.
      max_pixels: the largest image (height x width) accepted, checked from
        the header before decoding.
      max_inflight: how many inferences run at once.
    """

    def __init__(self, loaded, name="detect", max_pixels=MAX_PIXELS, max_inflight=2, mask_format="rle"):
        if mask_format not in MASK_FORMATS:
            raise ValueError(f"mask_format must be one of {MASK_FORMATS}, got {mask_format!r}")
        self.loaded, self.name, self.max_pixels = loaded, name, max_pixels
        self.mask_format = mask_format
        self.signatures = {k: loaded.signatures[k] for k in SIGNATURES}
        # each signature has one input: "images" (uint8) or "encoded" (string)
        self.input_names = {k: next(iter(f.structured_input_signature[1]))
                            for k, f in self.signatures.items()}
        self._slots = threading.BoundedSemaphore(max_inflight)

    def check_model(self, name, version):
        if name != self.name:
            raise RequestError(404, f"Servable not found for request: Latest({name}); this server "
                                    f"serves the model '{self.name}'")
        if version is not None and version != VERSION:
            raise RequestError(404, f"Servable not found for request: Specific({name}, {version}); "
                                    f"'{self.name}' has version {VERSION} only")

    def status(self):
        return {"model_version_status": [{"version": VERSION, "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata(self):
        defs = {k: {"inputs": {n: _spec_json(s) for n, s in f.structured_input_signature[1].items()},
                    "outputs": {n: _spec_json(s) for n, s in f.structured_outputs.items()},
                    "method_name": "tensorflow/serving/predict"}
                for k, f in self.signatures.items()}
        return {"model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
                "metadata": {"signature_def": {"signature_def": defs},
                             "class_names": self.loaded.class_names}}

    def predict(self, body):
        """A predict request's body (bytes) -> the response dict. Raises RequestError."""
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            raise RequestError(400, f"malformed JSON in the request body: {e}") from None
        if not isinstance(request, dict) or len({"instances", "inputs"} & set(request)) != 1:
            raise RequestError(400, 'the body must be a JSON object with either "instances" (row '
                                    'format) or "inputs" (columnar format)')
        signature = request.get("signature_name")
        if signature is not None and signature not in self.signatures:
            raise RequestError(400, f"unknown signature_name {signature!r}: this model has "
                                    f"{', '.join(SIGNATURES)}")
        if "instances" in request:
            rows = request["instances"]
            if not isinstance(rows, list) or not rows:
                raise RequestError(400, '"instances" must be a non-empty list (one entry per image)')
        else:
            rows = self._columns_to_rows(request["inputs"])
        predictions = [self._predict_one(row, signature, i) for i, row in enumerate(rows)]
        if "instances" in request:
            return {"predictions": predictions}
        return {"outputs": {k: [p[k] for p in predictions] for k in predictions[0]}}

    def _columns_to_rows(self, inputs):
        if isinstance(inputs, dict) and len(inputs) == 1 and next(iter(inputs)) in self.input_names.values():
            inputs = next(iter(inputs.values()))
        if isinstance(inputs, dict) and set(inputs) == {"b64"}:
            return [inputs]  # one encoded image: a scalar string
        if isinstance(inputs, list) and inputs:
            return inputs  # a batch: of {"b64": ...}, or image arrays [B][H][W][3]
        raise RequestError(400, '"inputs" must be {"b64": ...}, a list of those, or a list of '
                                "[height][width][3] image arrays")

    def _predict_one(self, instance, signature, index):
        where = f"instance {index}"
        if isinstance(instance, dict) and set(instance) != {"b64"}:
            if len(instance) != 1 or next(iter(instance)) not in self.input_names.values():
                raise RequestError(400, f"{where}: an object instance is {{\"b64\": ...}} or "
                                        f"{{\"encoded\": ...}} / {{\"images\": ...}}, not keys "
                                        f"{sorted(instance)[:5]}")
            instance = next(iter(instance.values()))
        if isinstance(instance, dict):
            if instance.keys() != {"b64"}:
                raise RequestError(400, f'{where}: image bytes go as {{"b64": "<base64>"}}')
            name, inputs = self._encoded_input(instance["b64"], signature, where)
        else:
            name, inputs = self._array_input(instance, signature, where)
        try:
            with self._slots:
                out = self.signatures[name](**inputs)
        except tf.errors.InvalidArgumentError as e:
            raise RequestError(400, f"{where}: {e.message.splitlines()[0][:300]}") from None
        answer = {k: _jsonable(v) for k, v in out.items() if k != "detection_masks"}
        if "detection_masks" in out:
            masks = out["detection_masks"].numpy()
            answer["detection_masks"] = encode_masks(masks) if self.mask_format == "rle" else masks.tolist()
        return answer

    def _encoded_input(self, text, signature, where):
        name = signature or "serve_encoded"
        if name != "serve_encoded":
            raise RequestError(400, f"{where}: signature {name} takes a uint8 image array, not "
                                    "bytes; send bytes to serve_encoded (or leave signature_name out)")
        if not isinstance(text, str):
            raise RequestError(400, f'{where}: "b64" must be a base64 string')
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as e:
            raise RequestError(400, f"{where}: invalid base64 ({e})") from None
        try:
            check_image(data, self.max_pixels)
        except BadImageError as e:
            raise RequestError(413 if str(e).startswith("too large") else 400, f"{where}: {e}") from None
        return name, {self.input_names[name]: tf.constant(data)}

    def _array_input(self, value, signature, where):
        name = signature or "serving_default"
        if name != "serving_default":
            raise RequestError(400, f"{where}: signature {name} takes image bytes "
                                    '({"b64": "<base64>"}), not an array')
        if not isinstance(value, list):
            raise RequestError(400, f'{where}: expected an image as a [height][width][3] array of '
                                    f'integers or as {{"b64": "<base64>"}}, got {type(value).__name__}')
        try:
            array = np.asarray(value)
        except ValueError:
            raise RequestError(400, f"{where}: the image array is ragged (rows of different "
                                    "lengths); it must be [height][width][3]") from None
        if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
            raise RequestError(400, f"{where}: an image array must have shape [height, width, 3] "
                                    f"(RGB, no batch dimension), got {list(array.shape)}")
        if array.shape[0] * array.shape[1] > self.max_pixels:
            raise RequestError(413, f"{where}: too large: {array.shape[1]}x{array.shape[0]} pixels, "
                                    f"more than the cap of {self.max_pixels}")
        if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)) or \
                np.any(array != np.round(array)) or array.min() < 0 or array.max() > 255:
            raise RequestError(400, f"{where}: pixel values must be integers in [0, 255] (uint8 RGB)")
        return name, {self.input_names[name]: tf.constant(array.astype(np.uint8)[None])}


def _jsonable(tensor):
    value = tensor.numpy()
    if value.dtype == object:
        return [v.decode("utf-8", "replace") for v in value.ravel()]
    return value.tolist()


class _Handler(BaseHTTPRequestHandler):
    """One connection; the server sets ``service``, ``max_body_bytes``,
    ``timeout`` (seconds a read may wait) and ``quiet`` on a subclass."""

    protocol_version = "HTTP/1.1"
    server_version = f"detect-serve/{__version__}"

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        # a GET with a body: the body is not read, so the connection closes after the answer
        self._body_read = method == "GET" and self.headers.get("Content-Length", "0") == "0" \
            and "Transfer-Encoding" not in self.headers
        try:
            # the body first: an answer sent while the client still sends it
            # could be lost (the kernel resets a socket closed with unread data)
            body = self._read_body() if method == "POST" else None
            status, payload = self._route(method, body)
        except RequestError as e:
            status, payload = e.status, {"error": e.message}
        except Exception as e:  # one failed request must not stop the server
            log.exception("request %s %s failed", method, self.path)
            status, payload = 500, {"error": f"internal error: {type(e).__name__}: {e}"}
        self._reply(status, payload)

    def _route(self, method, body):
        path = urlsplit(self.path).path
        match = _ROUTE.match(path)
        name = self.service.name
        if not match:
            raise RequestError(404, f"no endpoint {path}: use GET /v1/models/{name}, GET "
                                    f"/v1/models/{name}/metadata or POST /v1/models/{name}:predict")
        self.service.check_model(match["name"], match["version"])
        want = "POST" if match["what"] == ":predict" else "GET"
        if method != want:
            raise RequestError(405, f"{path} takes {want}, not {method}")
        if match["what"] == ":predict":
            return 200, self.service.predict(body)
        return 200, (self.service.metadata() if match["what"] else self.service.status())

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(411, "chunked bodies are not accepted; send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(411, "a predict request needs a Content-Length header")
        try:
            length = int(length)
        except ValueError:
            raise RequestError(400, f"bad Content-Length {length[:40]!r}") from None
        if length < 0:
            raise RequestError(400, f"bad Content-Length {length}")
        if length > self.max_body_bytes:
            self._discard(length)
            raise RequestError(413, f"the request body of {length} bytes is over this server's "
                                    f"limit of {self.max_body_bytes} (serve.py --max-body-mb)")
        try:
            body = self.rfile.read(length)
        except OSError:  # the client stalled past the timeout or went away
            raise RequestError(408, "timed out reading the request body") from None
        if len(body) < length:
            raise RequestError(400, f"the body ended after {len(body)} of {length} bytes")
        self._body_read = True
        return body

    def _discard(self, length):
        """Reads and drops a refused body of up to DRAIN_BYTES, so that the
        answer reaches the client and the connection stays usable."""
        if length > DRAIN_BYTES:
            return
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 2 ** 16))
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:  # stalled or gone: the connection is closed after the answer
            return
        self._body_read = True

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if not self._body_read:  # an unread body would be taken for the next request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away; nothing to answer
            self.close_connection = True

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default of 5 drops bursts of connections

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can stall
        # for seconds without DNS; the name is not needed
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def make_server(loaded, host="127.0.0.1", port=8501, *, name="detect", max_body_bytes=MAX_BODY_BYTES,
                max_pixels=MAX_PIXELS, max_inflight=2, timeout=30.0, quiet=False, mask_format="rle"):
    """A bound, not yet running server for ``loaded`` (``detect.load_exported``).

    Call ``serve_forever()`` (and ``shutdown()`` from another thread).
    ``server.server_address`` has the port (port 0 picks a free one).
    """
    service = PredictionService(loaded, name, max_pixels, max_inflight, mask_format)
    handler = type("Handler", (_Handler,), {"service": service, "max_body_bytes": max_body_bytes,
                                            "timeout": timeout, "quiet": quiet})
    server_class = _Server
    if ":" in host:
        server_class = type("Server6", (_Server,), {"address_family": socket.AF_INET6})
    return server_class((host, port), handler)
