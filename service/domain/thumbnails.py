"""Thumbnails of uploaded images, made with Pillow: a file in, the thumbnail's bytes out.

Pure and blocking (CPU-bound): the ``make_thumbnail`` task runs it off the event loop. Nothing
here trusts the file: the formats Pillow may open are listed, and an image's size is checked
from its header, before any pixel is decoded, against :data:`MAX_PIXELS` -- a decompression
bomb (a small PNG that claims 100,000 x 100,000 pixels) is refused without allocating them.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

import attrs

from ..jobs import ServiceError

if TYPE_CHECKING:
    import os

    from PIL import Image

#: The longest side of a thumbnail, in pixels.
MAX_SIDE = 256
#: The most pixels an image may have to get a thumbnail (50 megapixels, about 8,660 x 5,770).
MAX_PIXELS = 50_000_000
#: The formats a thumbnail is made of (Pillow's names).
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
PNG = "image/png"
JPEG = "image/jpeg"


class NotAnImage(ServiceError, ValueError):
    """Raised by :func:`make_thumbnail` when the file is no image of :data:`FORMATS`."""


class BadImage(ServiceError, ValueError):
    """Raised by :func:`make_thumbnail` when the file claims to be an image but does not
    decode (corrupt, truncated), or is larger than :data:`MAX_PIXELS`."""


@attrs.frozen(kw_only=True)
class Thumbnail:
    """A thumbnail: its encoded bytes, media type (JPEG for JPEG photos, else PNG) and size."""

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    content_type: str
    width: int
    height: int


def make_thumbnail(
    path: str | os.PathLike[str], *, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS
) -> Thumbnail:
    """A thumbnail of the image at ``path``, at most ``max_side`` pixels on its longest side.

    Raises :class:`NotAnImage` or :class:`BadImage` (see each); ``OSError`` when the file
    cannot be opened.
    """
    # Imported here: Pillow costs every process that loads this module ~10 MiB (with pypdf),
    # and only the thumbnail step uses it.
    from PIL import Image, UnidentifiedImageError

    with open(path, "rb") as file:
        try:
            with warnings.catch_warnings():
                # Pillow warns of images past its own limit; ours is checked just below.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(file, formats=FORMATS)
        except UnidentifiedImageError:
            raise NotAnImage("not an image of a format thumbnails are made of"
                             f" ({', '.join(FORMATS)})") from None
        except Image.DecompressionBombError as exc:
            raise BadImage(f"the image is too large: {exc}") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise BadImage(f"the image is too large: {width} x {height} pixels, more than"
                               f" {max_pixels:,}")
            try:
                return _shrink(image, max_side)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                # Pillow reports bad data as OSError ("image file is truncated"), ValueError or
                # SyntaxError, by format.
                raise BadImage(f"the image does not decode: {exc}") from None


def _shrink(image: Image.Image, max_side: int) -> Thumbnail:
    from PIL import ImageOps

    jpeg = image.format == "JPEG"
    if jpeg:
        image.draft("RGB", (max_side, max_side))  # decode at 1/2..1/8 scale: far less work
    image.load()
    shown = ImageOps.exif_transpose(image)
    shown.thumbnail((max_side, max_side))
    out = io.BytesIO()
    if jpeg:
        shown.convert("RGB").save(out, format="JPEG", quality=85)
    else:
        if shown.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            shown = shown.convert("RGBA")
        shown.save(out, format="PNG", optimize=True)
    return Thumbnail(data=out.getvalue(), content_type=JPEG if jpeg else PNG,
                     width=shown.width, height=shown.height)
