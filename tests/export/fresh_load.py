"""Loads exports in a process that never built a model (the tests run it
with subprocess):

    python -m tests.export.fresh_load <spec.json> <results.json>

spec: {"exports": {name: export dir}, "image": .npy of uint8 RGB [H, W, 3],
"png": path, "jpeg": path}. First tries a bare ``tf.saved_model.load`` of
the first export before anything of detect is imported (it must fail:
the graph names our ops), then loads each with ``detect.load_exported`` and
runs serving_default on the image, serve_encoded on the PNG and JPEG bytes,
and serving_default on PIL's decoding of the JPEG (the same pixels).
"""
import io
import json
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def outputs(out):
    return {k: v.numpy().tolist() if v.dtype != tf.string else [s.decode() for s in v.numpy()]
            for k, v in out.items()}


def main(spec_path, results_path):
    with open(spec_path) as f:
        spec = json.load(f)
    results = {"detect_imported_before_bare_load": any(m.split(".")[0] == "detect" for m in sys.modules)}
    try:
        tf.saved_model.load(next(iter(spec["exports"].values())))
        results["bare_load_error"] = None
    except Exception as e:  # what a user sees
        results["bare_load_error"] = f"{type(e).__name__}: {e}"
    import detect

    rgb = np.load(spec["image"])
    png, jpeg = (open(spec[k], "rb").read() for k in ("png", "jpeg"))
    for name, path in spec["exports"].items():
        loaded = detect.load_exported(path)
        serve, encoded = loaded.signatures["serving_default"], loaded.signatures["serve_encoded"]
        results[name] = {
            "class_names": loaded.class_names, "test_scales": loaded.config["TEST"]["SCALES"],
            "tensor": outputs(serve(images=tf.constant(rgb[None]))),
            "png": outputs(encoded(encoded=tf.constant(png))),
            "jpeg": outputs(encoded(encoded=tf.constant(jpeg))),
            # PIL's pixels: the graph decodes JPEG with the accurate IDCT, as PIL does
            "jpeg_tensor": outputs(serve(images=tf.constant(
                np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))[None]))),
        }
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
