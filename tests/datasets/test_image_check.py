"""image_check: every kind of bad image file gets a reason; good ones pass."""
import io
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from detect.datasets import image_check
from detect.datasets.image_check import BadImageError, check_image, decode_image


def _encode(fmt, mode="RGB", size=(30, 20)):
    arr = (np.arange(size[0] * size[1] * 3).reshape(size[1], size[0], 3) * 7 % 256).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(out, format=fmt)
    return out.getvalue()


def _png_header_only(width, height):
    """A PNG whose IHDR claims width x height, with one tiny IDAT: what a
    decompression bomb looks like to anything that reads the header."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 61))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"), ("PNG", "RGBA"),
                                      ("PNG", "P"), ("GIF", "RGB"), ("BMP", "RGB"), ("WEBP", "RGB")])
def test_good_images_pass_and_decode_to_rgb(fmt, mode):
    data = _encode(fmt, mode)
    assert check_image(data) == (20, 30)
    image = decode_image(data)
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"),
    (b"<html>404 not found</html>", "not an image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated or corrupt JPEG header"),
    (_encode("JPEG")[:-10], "truncated image data (JPEG, 30x20)"),
    (_encode("PNG")[:-30], "truncated image data (PNG, 30x20)"),
    (_encode("TIFF"), "unsupported format TIFF"),
])
def test_bad_images_are_refused_with_a_reason(data, reason):
    with pytest.raises(BadImageError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decode_image(data)


def test_the_pixel_cap_is_read_from_the_header():
    bomb = _png_header_only(20000, 20000)  # 1.2 GB as RGB; the file is 100 bytes
    assert len(bomb) < 200
    with pytest.raises(BadImageError, match=r"too large: .*400000000 pixels"):
        check_image(bomb)  # PIL's own limit (2 x ~89.5 M pixels) speaks first
    with pytest.raises(BadImageError, match=r"too large: 8000x8000 = 64000000 pixels, more than"):
        check_image(_png_header_only(8000, 8000), max_pixels=2 ** 25)
    with pytest.raises(BadImageError, match=r"too large: 30x20 = 600 pixels, more than the cap of 599"):
        check_image(_encode("PNG"), max_pixels=599)
    assert check_image(_encode("PNG"), max_pixels=600) == (20, 30)


def test_what_tensorflow_refuses_is_refused(monkeypatch):
    # PIL lets some damaged JPEGs through (see the module docstring); the
    # TensorFlow decode that follows decides, as it would in the pipeline.
    monkeypatch.setattr(image_check, "check_image", lambda data, max_pixels: (20, 30))
    with pytest.raises(BadImageError, match=r"corrupt image data \(30x20\): .*JPEG"):
        decode_image(_encode("JPEG")[:200])


@pytest.mark.parametrize("subsampling", [0, 2])  # 4:4:4 and 4:2:0 chroma
def test_jpegs_decode_to_the_pixels_pil_and_opencv_give(tmp_path, subsampling):
    """Every tool decodes through tf_decode (the pipeline, demo, the export):
    a user's own PIL or cv2 decoding of the file is then the same picture,
    so detect.Predictor on it gives test_net.py's detections."""
    import cv2

    rng = np.random.default_rng(subsampling)
    noisy = (rng.random((61, 83, 3)) * 255).astype(np.uint8)  # odd sizes: edge blocks
    path = str(tmp_path / "x.jpg")
    Image.fromarray(noisy).save(path, quality=85, subsampling=subsampling)
    with open(path, "rb") as f:
        ours = decode_image(f.read())
    np.testing.assert_array_equal(ours, np.asarray(Image.open(path).convert("RGB")))
    np.testing.assert_array_equal(ours, cv2.imread(path)[..., ::-1])
    # TensorFlow's default (fast) IDCT is another picture
    fast = tf.io.decode_jpeg(open(path, "rb").read(), channels=3).numpy()
    assert np.abs(fast.astype(int) - ours.astype(int)).max() > 0
