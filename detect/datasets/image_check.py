"""Checks an encoded image file before anything decodes it.

One rule for every path that reads image files itself (the tf.data pipeline
over a reader's records, tools/demo.py); tools/convert_*.py apply the same
idea with a full decode before writing TFRecords. An image is usable when

  * the file is not empty;
  * its header names a format TensorFlow's ``decode_image`` reads (JPEG,
    PNG, GIF, BMP, WebP);
  * it has at most ``max_pixels`` pixels, read from the header, so a huge
    image is refused before any memory is spent on its pixels;
  * its data reads to the end: a truncated or corrupt JPEG or PNG is
    refused. TensorFlow would stop the pipeline on it with a bare
    ``decode_image`` error, and OpenCV (libjpeg) would only print a warning
    and fill the missing rows with grey, which a detector may "detect".

``check_image`` reads the header, then for JPEG decodes at 1/8 scale (PIL
``draft``: DC coefficients only, but every byte of the entropy-coded data is
read, so a truncated file fails), for PNG checks every chunk's CRC without
inflating (PIL ``verify``), for the other formats decodes fully: about 0.5 ms
for a 500x375 JPEG, 0.1 ms for a PNG of that size. PIL accepts some corrupt
JPEGs that TensorFlow refuses (libjpeg's "premature end of data segment" is a
warning to PIL, an error to TensorFlow: 5 of 300 randomly damaged JPEGs), so
``decode_image`` then decodes with TensorFlow, exactly as the pipeline does.

Every decode (the pipeline, the demo, the export's ``serve_encoded``) goes
through ``tf_decode``: JPEG with libjpeg's accurate integer IDCT, the one
PIL and OpenCV use, so a picture decoded by the user (PIL, cv2) and one
decoded by test_net.py are the same pixels (TensorFlow's default, the fast
IDCT, differs by up to ~20 grey levels on most pixels).
"""
import io
import re
import warnings

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

# PIL format name -> what TensorFlow's decode_image reads it as. MPO is the
# multi-picture JPEG some cameras write; TensorFlow decodes its first frame.
TF_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "GIF": "gif", "BMP": "bmp",
              "WEBP": "webp"}
# First bytes of those formats: a file that starts like one but that PIL
# cannot open has a damaged header (WebP: "RIFF", then the size, then "WEBP").
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"),
          (b"BM", "BMP"), (b"RIFF", "WebP"))

# 2**26 pixels (8192 x 8192): decoding takes 192 MiB as uint8 RGB and 768 MiB
# as float32. Below PIL's own decompression-bomb limit (about 89.5 M pixels).
MAX_PIXELS = 2 ** 26


class BadImageError(ValueError):
    """An image file that cannot be used; str() is the reason."""


def check_image(data, max_pixels=MAX_PIXELS):
    """Checks encoded image bytes (see the module docstring).

    Args:
      data: the file's bytes.
      max_pixels: the most pixels (height * width) accepted; None: no cap.

    Returns:
      (height, width) from the header.

    Raises:
      BadImageError: the reason, e.g. "empty file", "not an image ...",
        "truncated image data ...", "too large: 20000x20000 pixels ...".
    """
    if not data:
        raise BadImageError("empty file")
    try:
        with warnings.catch_warnings():
            # our own cap applies (below); PIL warns from ~89.5 M pixels on
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise BadImageError(f"too large: {e}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        fmt = next((f for magic, f in _MAGIC if data.startswith(magic)), None)
        if fmt:
            raise BadImageError(f"truncated or corrupt {fmt} header ({len(data)} bytes)") from None
        raise BadImageError(f"not an image: no JPEG, PNG, GIF, BMP or WebP header in its "
                            f"{len(data)} bytes (starts with {data[:8]!r})") from None
    with im:
        if im.format not in TF_FORMATS:
            raise BadImageError(f"unsupported format {im.format}: JPEG, PNG, GIF, BMP or WebP "
                                "are read (convert the file)")
        width, height = im.size
        if width < 1 or height < 1:
            raise BadImageError(f"empty image: {width}x{height} pixels in the header")
        if max_pixels is not None and width * height > max_pixels:
            raise BadImageError(f"too large: {width}x{height} = {width * height} pixels, more "
                                f"than the cap of {max_pixels}")
        try:
            if im.format == "PNG":
                im.verify()
            else:
                if TF_FORMATS[im.format] == "jpeg":
                    im.draft("RGB", (max(width // 8, 1), max(height // 8, 1)))
                im.load()
        except Exception as e:  # PIL raises OSError, SyntaxError, struct.error ... on bad data
            what = "truncated" if "truncat" in str(e).lower() else "corrupt"
            raise BadImageError(f"{what} image data ({im.format}, {width}x{height}): "
                                f"{type(e).__name__}: {e}") from None
    return height, width


def tf_decode(data):
    """uint8 [H, W, 3] RGB of encoded bytes (a string tensor; graph or eager):
    JPEG with the accurate integer IDCT (as PIL and OpenCV decode it), the
    other formats with ``tf.io.decode_image`` (the first frame of an
    animation)."""
    image = tf.cond(tf.io.is_jpeg(data),
                    lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                    lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def decode_image(data, max_pixels=MAX_PIXELS):
    """uint8 RGB [H, W, 3] of encoded image bytes: ``check_image``, then
    ``tf_decode`` as in the pipeline (channels=3, the first frame of an
    animation). Raises BadImageError if either refuses the data."""
    height, width = check_image(data, max_pixels)
    try:
        image = tf_decode(tf.constant(data))
    except tf.errors.InvalidArgumentError as e:
        message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", e.message).strip()
        raise BadImageError(f"corrupt image data ({width}x{height}): {message}") from None
    return image.numpy()
