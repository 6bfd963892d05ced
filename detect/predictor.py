"""A detector to call from Python: a run folder or an export in, detections out.

    import detect
    predictor = detect.Predictor("output/toy_quickstart")     # or an export folder
    out = predictor(rgb)            # rgb: uint8 [H, W, 3], RGB (e.g. PIL / imageio)
    out["boxes"]                    # float32 [N, 4], x1 y1 x2 y2 in rgb's pixels
    out["scores"], out["classes"]   # float32 [N] best first, int32 [N] (1..C-1)
    out["class_names"]              # list of N str
    out["masks"]                    # Mask R-CNN only: uint8 [N, H, W], 0 / 1
    outs = predictor([rgb1, rgb2])  # a list in, a list of such dicts out
    outs = predictor(frames, batch_size=4)  # run folders: up to 4 images a model call

``path`` is a tools/train_net.py or tools/import_weights.py output folder
(config.yml, classes.json, checkpoints/; ``checkpoint`` picks one, e.g.
"<run>/best") or a tools/export_model.py export (saved_model.pb): the same
detections either way, and the same as tools/test_net.py's, which runs the
model the same way (TEST.SCALES[0], TEST.MAX_SIZE, MODEL.PIXEL_NORMALIZATION,
the model's NMS and its mask paste, TEST.MASK_THRESH). tools/demo.py and
tools/serve.py run through it. The op library is loaded on construction.
A BGR picture (OpenCV's cv2.imread) must be flipped first: ``bgr[..., ::-1]``.
"""
import os

import numpy as np

KEYS = ("boxes", "scores", "classes")


def prepare(rgb, cfg):
    """(image [1, H', W', 3], image_size [1, 2]) of an RGB picture as the model
    takes it at test time (pipeline.model_input with the config's settings)."""
    from detect.datasets.pipeline import input_options, model_input

    return model_input(rgb, float(cfg.TEST.SCALES[0]), float(cfg.TEST.MAX_SIZE), **input_options(cfg))


class Predictor:
    """Args:
      path: a run folder or an export folder.
      checkpoint: for a run folder, a checkpoint or a folder of them
        (engine/checkpoint.resolve_checkpoint; None: the latest).
      overrides: for a run folder, ["KEY", "VALUE", ...] on top of its
        config.yml (e.g. ["TEST.SCORE_THRESH", "0.3"]).
      kind: None (told by the folder: saved_model.pb or not), "run" or
        "export" (that kind only; its loader's errors).

    Attributes: class_names (list of str, the background first), cfg (the
    config: an easydict, or the export's as a plain dict), kind ("run" or
    "export"), and for an export ``loaded`` (its SavedModel object).

    Raises FileNotFoundError, ValueError (CheckpointError, ExportLoadError)
    naming the path and what to pass instead.
    """

    def __init__(self, path, checkpoint=None, overrides=(), kind=None):
        import detect.ops  # noqa: F401  registers our ops (a SavedModel's graph names them)

        if kind not in (None, "run", "export"):
            raise ValueError(f"kind must be None (by the folder), 'run' or 'export', got {kind!r}")
        self.path = path
        if kind == "export":  # load_exported's checks and messages
            self._init_export(path)
            return
        if kind == "run":
            self._init_run(path, checkpoint, overrides)
            return
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} does not exist: pass a run folder (tools/train_net.py "
                                    "or tools/import_weights.py --output) or an export "
                                    "(tools/export_model.py --export-dir)")
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            if checkpoint or overrides:
                raise ValueError(f"{path} is an export: its weights and settings are fixed; "
                                 "checkpoint and overrides apply to run folders")
            self._init_export(path)
        else:
            self._init_run(path, checkpoint, overrides)

    def _init_run(self, path, checkpoint, overrides):
        from detect.engine.checkpoint import load_model, read_class_names

        if not os.path.isfile(os.path.join(path, "config.yml")) and os.path.isdir(path):
            from detect.export.loading import check_export_dir
            if not any(os.path.isfile(os.path.join(path, d, "saved_model.pb")) for d in os.listdir(path)):
                raise FileNotFoundError(
                    f"{path} is neither a run folder (no config.yml) nor an export (no "
                    "saved_model.pb)")
            check_export_dir(path)  # a TF Serving base folder: says which version to pass
        self.kind = "run"
        self.cfg, self.model, self.checkpoint = load_model(path, checkpoint, list(overrides))
        self.class_names = read_class_names(path)
        self._detect = {}  # a traced model.detect per batch size (the model loops over the batch)

    def _init_export(self, path):
        from detect.export.loading import load_exported

        self.kind = "export"
        self.loaded = load_exported(path)
        self.cfg, self.class_names = self.loaded.config, list(self.loaded.class_names)
        self.checkpoint = None
        self._serve = self.loaded.signatures["serving_default"]

    def __call__(self, images, batch_size=1):
        """Detections of one RGB uint8 [H, W, 3] image (a dict), or of a list
        of them (a list of dicts); see the module docstring.

        batch_size: for a list and a run folder, up to this many images go
        through the model in one call: consecutive images that are the same
        size once resized and padded (video frames, one camera's photos).
        Each image's detections are its own, as with batch_size 1 (the
        padded input is the same); what batching buys on a CPU is measured
        in docs/benchmarks.md. An export takes one image a call.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        one = not isinstance(images, (list, tuple))
        images = [self._check(im) for im in ([images] if one else images)]
        outs = ([self._run_export(im) for im in images] if self.kind == "export"
                else self._run_batches(images, batch_size))
        outs = [self._named(out) for out in outs]
        return outs[0] if one else outs

    @staticmethod
    def _check(rgb):
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"an image must be [height, width, 3] (RGB), got shape {rgb.shape}; "
                             "for a grayscale image use np.stack([g] * 3, axis=-1)")
        if rgb.dtype != np.uint8:
            raise ValueError(f"an image must be uint8 (0..255), got {rgb.dtype}; for floats in "
                             "[0, 1] pass (x * 255).round().astype(np.uint8)")
        return rgb

    def _named(self, out):
        out["class_names"] = [self.class_names[int(c)] for c in out["classes"]]
        return out

    def _run_batches(self, images, batch_size):
        """Detections of each image (RGB uint8 [H, W, 3]), in order: runs of
        consecutive images whose model inputs (prepare's [1, H', W', 3],
        resized and padded) have one shape go together, at most batch_size
        a call; at most batch_size inputs are prepared at a time."""
        outs, group = [], []  # group: [(rgb, (image, size))] of one shape
        for rgb in images:
            item = (rgb, prepare(rgb, self.cfg))
            if group and (len(group) == batch_size or item[1][0].shape != group[0][1][0].shape):
                outs += self._run_model([g[0] for g in group], [g[1] for g in group])
                group = []
            group.append(item)
        if group:
            outs += self._run_model([g[0] for g in group], [g[1] for g in group])
        return outs

    def _run_model(self, rgbs, prepared):
        """Detections of same-shaped model inputs (rgbs: a list of RGB
        images; prepared: their (image, size) from prepare), one model call."""
        import tensorflow as tf

        from detect.modeling.postprocess import paste_masks

        cfg = self.cfg
        image = tf.concat([p[0] for p in prepared], 0)
        size = tf.concat([p[1] for p in prepared], 0)
        # boxes in each rgb's pixels (postprocess.py rescales them)
        if len(rgbs) not in self._detect:
            self._detect[len(rgbs)] = tf.function(self.model.detect, reduce_retracing=True)
        out = self._detect[len(rgbs)](image, size, tf.constant([rgb.shape[:2] for rgb in rgbs], tf.int32))
        results = []
        for i, rgb in enumerate(rgbs):
            n = int(out["num_detections"][i])
            dets = {k: out[k][i, :n].numpy() for k in KEYS}
            dets["classes"] = dets["classes"].astype(np.int32)
            if "masks" in out:
                dets["masks"] = paste_masks(out["masks"][i, :n], out["boxes"][i, :n], rgb.shape[0],
                                            rgb.shape[1], cfg.TEST.MASK_THRESH,
                                            cfg.TEST.MASK_PASTE).numpy()
            results.append(dets)
        return results

    def _run_export(self, rgb):
        import tensorflow as tf

        out = self._serve(images=tf.constant(rgb[None]))
        dets = {"boxes": out["detection_boxes"].numpy(), "scores": out["detection_scores"].numpy(),
                "classes": out["detection_classes"].numpy().astype(np.int32)}
        if "detection_masks" in out:
            dets["masks"] = out["detection_masks"].numpy()
        return dets
