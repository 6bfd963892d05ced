"""Image files named by paths, folders and globs, read ahead in threads.

The decoding is image_check.decode_image, as tools/test_net.py and
tools/demo.py decode: an empty, truncated or corrupt file, or one over the
pixel cap (read from the header, before decoding), is an error for that
file alone.
"""
import concurrent.futures
import glob
import os

import tensorflow as tf

from detect.datasets.image_check import BadImageError, decode_image

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")  # what image_check reads


def is_image(path):
    return str(path).lower().endswith(IMAGE_EXTS)


def expand(inputs, recursive=False, keep=is_image):
    """[(path, name)] of the files that inputs name, in order, each once.

    Args:
      inputs: paths of files (taken as they are), folders (their files that
        ``keep`` accepts, sorted; with recursive=True also those of every
        subfolder) and globs (the files ``keep`` accepts; ``**`` matches
        subfolders).
    ``name`` is the path relative to the folder or the glob's fixed part it
    was found under, or the file's base name for a file named directly: what
    an annotation file later calls the image (COCO's file_name).
    """
    found, seen = [], set()

    def add(path, root):
        real = os.path.abspath(path)
        if real not in seen:
            seen.add(real)
            found.append((path, os.path.relpath(path, root) if root else os.path.basename(path)))

    for item in inputs:
        if os.path.isdir(item):
            pattern = os.path.join(item, "**", "*") if recursive else os.path.join(item, "*")
            for p in sorted(glob.glob(pattern, recursive=recursive)):
                if os.path.isfile(p) and keep(p):
                    add(p, item)
        elif any(c in item for c in "*?["):
            root = item[:min(item.index(c) for c in "*?[" if c in item)]
            root = root if root.endswith(os.sep) or not root else os.path.dirname(root)
            for p in sorted(glob.glob(item, recursive=True)):
                if os.path.isfile(p) and keep(p):
                    add(p, root or ".")
        else:
            add(item, None)
    return found


def read_image(path, max_pixels):
    """RGB uint8 [H, W, 3] of an image file (image_check.decode_image)."""
    with open(path, "rb") as f:
        return decode_image(f.read(), max_pixels)


def read_ahead(paths, load, depth=8, workers=2):
    """Yields (path, value, error) for each path in order, where value is
    load(path) or None and error the exception it raised (OSError,
    BadImageError, MemoryError, ResourceExhaustedError) or None. At most ``depth`` loads are done or
    under way ahead of the consumer, so memory stays flat however many paths
    there are; ``workers`` threads load (decoding releases the GIL)."""
    paths = iter(paths)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        try:
            for path in paths:
                pending.append((path, pool.submit(load, path)))
                if len(pending) >= depth:
                    yield _result(*pending.pop(0))
            while pending:
                yield _result(*pending.pop(0))
        finally:
            for _, future in pending:
                future.cancel()


def _result(path, future):
    try:
        return path, future.result(), None
    except (OSError, BadImageError, MemoryError, tf.errors.ResourceExhaustedError) as e:
        return path, None, e
