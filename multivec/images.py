"""Turning every accepted image input into one normalised form.

Accepted inputs (:data:`multivec.types.ImageInput`): a file path (``str`` or :class:`pathlib.Path`), raw encoded
bytes, a :class:`io.BytesIO`, a :class:`PIL.Image.Image`, or a ``data:image/...;base64,`` URI. ``http(s)://`` URLs
are fetched only when the caller opts in (``allow_urls=True``).

Normalised means: decoded, EXIF orientation applied, converted to RGB. Encoded bytes of a JPEG input that needed
no change are kept, so a transport can send them as they are instead of re-encoding lossily::

    >>> from PIL import Image
    >>> from multivec.images import load_image, encode_image
    >>> img = load_image(Image.new("RGBA", (40, 30)))
    >>> img.mode, img.size
    ('RGB', (40, 30))
    >>> encode_image(img)[1]
    'image/png'
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from multivec._options import items, positive_int
from multivec.errors import InvalidInputError
from multivec.types import ImageInput

__all__ = ["DEFAULT_MAX_PIXELS", "encode_image", "load_image", "load_images", "to_data_uri"]

#: Largest image accepted by default, in pixels (Pillow's own decompression-bomb limit, ``Image.MAX_IMAGE_PIXELS``;
#: about 256 MB decoded as RGB). Embedders take ``max_image_pixels=`` to change it. Images are refused by the pixel
#: count in their header, before anything is decoded, so a small file claiming a huge size costs no memory.
DEFAULT_MAX_PIXELS = 89_478_485

_SOURCE_FORMAT = "multivec_source_format"
_SOURCE_BYTES = "multivec_source_bytes"
_URL_PREFIXES = ("http://", "https://")
_EXIF_ORIENTATION = 0x0112


def _where(index: int | None) -> str:
    return "image" if index is None else f"images[{index}]"


def _read_source(
    image: ImageInput, where: str, index: int | None, allow_urls: bool, url_timeout: float
) -> bytes | Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data:
            raise InvalidInputError(f"{where} is empty bytes; pass the encoded image file's bytes", index=index)
        return data
    if isinstance(image, io.BytesIO):
        data = image.getvalue()
        if not data:
            raise InvalidInputError(f"{where} is an empty BytesIO; write the image into it first", index=index)
        return data
    if isinstance(image, str) and image.startswith("data:"):
        header, _, payload = image.partition(",")
        if ";base64" not in header or not payload:
            raise InvalidInputError(
                f"{where} is a data URI without base64 content; use data:image/<fmt>;base64,<data>", index=index
            )
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as err:
            raise InvalidInputError(f"{where} is a data URI with invalid base64 ({err})", index=index) from None
    if isinstance(image, str) and image.lower().startswith(_URL_PREFIXES):
        if not allow_urls:
            raise InvalidInputError(
                f"{where} is a URL ({image[:80]}); URLs are not fetched unless you opt in with allow_urls=True, "
                "or download the image and pass its path or bytes",
                index=index,
            )
        return _fetch_url(image, where, index, url_timeout)
    if isinstance(image, str | Path):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"{where}: no such image file: {str(path)!r}", index=index)
        try:
            return path.read_bytes()
        except OSError as err:
            raise InvalidInputError(f"{where}: cannot read {str(path)!r} ({err})", index=index) from None
    raise InvalidInputError(
        f"{where} has unsupported type {type(image).__name__}; pass a file path (str or Path), bytes, "
        "BytesIO or a PIL.Image.Image",
        index=index,
    )


def _fetch_url(url: str, where: str, index: int | None, timeout: float) -> bytes:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as err:
        raise InvalidInputError(f"{where}: could not fetch {url[:80]} ({err})", index=index) from None
    return response.content


def _too_large(where: str, index: int | None, width: int, height: int, max_pixels: int) -> InvalidInputError:
    return InvalidInputError(
        f"{where} is {width}x{height} pixels, above the limit of {max_pixels:,}; downscale it or raise "
        "max_image_pixels",
        index=index,
    )


def _unreadable(where: str, index: int | None, err: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"{where} is not a readable image ({type(err).__name__}: {err}); pass PNG, JPEG, WebP, GIF, BMP or TIFF",
        index=index,
    )


def _decode(data: bytes, where: str, index: int | None, max_pixels: int) -> Image.Image:
    """Open ``data`` lazily (header only), refuse it by pixel count, and only then decode the pixels."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and raises above twice it; a caller who raised max_pixels past
            # Pillow's limit gets our check alone for the range in between
            if max_pixels <= (Image.MAX_IMAGE_PIXELS or max_pixels):
                warnings.simplefilter("error", Image.DecompressionBombWarning)
            else:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise _too_large(where, index, width, height, max_pixels)
            img.load()
    except InvalidInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InvalidInputError(f"{where} is too large to decode safely ({err}); downscale it", index=index) from None
    except UnidentifiedImageError:
        raise InvalidInputError(
            f"{where} is not a readable image (unknown or unsupported format); pass PNG, JPEG, WebP, GIF, BMP or TIFF",
            index=index,
        ) from None
    except Exception as err:  # Pillow's decoders raise OSError, SyntaxError, struct.error, IndexError… on bad files
        raise _unreadable(where, index, err) from None
    return img


def _checked_pil(image: Image.Image, where: str, index: int | None, max_pixels: int) -> Image.Image:
    """A caller's PIL image, refused when closed or too large; a lazily opened one is decoded only after the
    pixel-count check."""
    width, height = image.size
    if width * height > max_pixels:
        raise _too_large(where, index, width, height, max_pixels)
    try:
        image.load()
    except ValueError as err:
        if "closed" in str(err):
            raise InvalidInputError(
                f"{where} is a closed PIL image; pass it before calling close() (or outside its `with` block)",
                index=index,
            ) from None
        raise _unreadable(where, index, err) from None
    except Exception as err:  # a lazily opened file failing to decode now: see _decode
        raise _unreadable(where, index, err) from None
    return image


def load_image(
    image: ImageInput,
    *,
    index: int | None = None,
    allow_urls: bool = False,
    min_size: tuple[int, int] = (1, 1),
    max_pixels: int = DEFAULT_MAX_PIXELS,
    url_timeout: float = 30.0,
) -> Image.Image:
    """Decode one image input into an RGB, EXIF-transposed :class:`PIL.Image.Image`.

    ``index`` is the input's position in the caller's batch; errors name it. ``min_size`` is the smallest
    ``(width, height)`` the model accepts. Raises :class:`~multivec.errors.InvalidInputError` for a missing file,
    unreadable bytes, a non-image, a closed PIL image, an image smaller than ``min_size`` or larger than
    ``max_pixels`` (checked from the file's header, before the pixels are decoded), and for URLs unless
    ``allow_urls`` is true.

    >>> load_image(b"not an image", index=3)
    Traceback (most recent call last):
    ...
    multivec.errors.InvalidInputError: images[3] is not a readable image (unknown or unsupported format); ...
    """
    where = _where(index)
    positive_int(max_pixels, "max_pixels", InvalidInputError)
    if image is None:
        raise InvalidInputError(f"{where} is None; pass a path, bytes, BytesIO or PIL image", index=index)
    source = _read_source(image, where, index, allow_urls, url_timeout)
    raw: bytes | None = None
    if isinstance(source, Image.Image):
        decoded = _checked_pil(source, where, index, max_pixels)
    else:
        raw = source
        decoded = _decode(source, where, index, max_pixels)
    try:
        source_format = decoded.format
        oriented = decoded.getexif().get(_EXIF_ORIENTATION, 1) in (0, 1)
        transposed = decoded if oriented else ImageOps.exif_transpose(decoded)
        normalised = transposed if transposed.mode == "RGB" else transposed.convert("RGB")
    except Exception as err:  # unusual modes or broken EXIF blocks: still the caller's image that is at fault
        raise _unreadable(where, index, err) from None
    width, height = normalised.size
    if width < min_size[0] or height < min_size[1]:
        raise InvalidInputError(
            f"{where} is {width}x{height} pixels; this model needs at least {min_size[0]}x{min_size[1]}",
            index=index,
        )
    if normalised is decoded:
        # exif_transpose and convert returned the input itself; copy so we never mutate the caller's image.
        normalised = decoded.copy()
    normalised.info[_SOURCE_FORMAT] = source_format
    unchanged = oriented and decoded.mode == "RGB"
    if raw is not None and source_format == "JPEG" and unchanged:
        normalised.info[_SOURCE_BYTES] = raw
    return normalised


def load_images(images: Sequence[ImageInput], **options: Any) -> list[Image.Image]:
    """Normalise a batch with :func:`load_image`; errors name the failing position.

    Validates the whole batch before returning, so a caller can check everything before any side effect.
    """
    if isinstance(images, str | bytes | Path | io.BytesIO | Image.Image):
        raise InvalidInputError("expected a list of images, got a single image; wrap it in a list")
    return [load_image(image, index=i, **options) for i, image in enumerate(items(images, "images"))]


def encode_image(image: Image.Image) -> tuple[bytes, str]:
    """Encode a normalised image for transport without losing quality.

    Returns ``(bytes, mime_type)``: the original bytes of an unchanged JPEG input, otherwise a PNG.
    """
    original = image.info.get(_SOURCE_BYTES)
    if isinstance(original, bytes):
        return original, "image/jpeg"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), "image/png"


def to_data_uri(image: Image.Image) -> str:
    """``data:image/<fmt>;base64,…`` URI of :func:`encode_image`'s output."""
    data, mime = encode_image(image)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
