"""Image normalisation: every accepted input type, EXIF, and every bad input named by batch position."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from multivec.errors import InvalidInputError
from multivec.images import encode_image, load_image, load_images, to_data_uri


def _png_bytes(size: tuple[int, int] = (20, 10), color: tuple[int, ...] = (200, 10, 10), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(size: tuple[int, int] = (20, 10), orientation: int | None = None) -> bytes:
    img = Image.new("RGB", size, (10, 200, 10))
    buf = io.BytesIO()
    if orientation is None:
        img.save(buf, format="JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture
def png_path(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    path.write_bytes(_png_bytes())
    return path


def test_every_input_type_decodes_to_same_rgb_pixels(png_path: Path) -> None:
    raw = png_path.read_bytes()
    inputs = [
        str(png_path),
        png_path,
        raw,
        io.BytesIO(raw),
        Image.open(io.BytesIO(raw)),
        "data:image/png;base64," + base64.b64encode(raw).decode(),
    ]
    images = load_images(inputs)
    assert all(img.mode == "RGB" and img.size == (20, 10) for img in images)
    first = images[0].tobytes()
    assert all(img.tobytes() == first for img in images)


def test_rgba_and_palette_are_converted_to_rgb() -> None:
    assert load_image(_png_bytes(mode="RGBA", color=(1, 2, 3, 4))).mode == "RGB"
    assert load_image(Image.new("P", (5, 5))).mode == "RGB"
    assert load_image(Image.new("L", (5, 5))).mode == "RGB"


def test_exif_orientation_is_applied() -> None:
    rotated = load_image(_jpeg_bytes((20, 10), orientation=6))  # 6 = rotate 90° clockwise
    assert rotated.size == (10, 20)


def test_caller_pil_image_is_not_mutated() -> None:
    img = Image.new("RGB", (8, 8))
    out = load_image(img)
    out.putpixel((0, 0), (255, 255, 255))
    assert img.getpixel((0, 0)) == (0, 0, 0)


def test_unchanged_jpeg_keeps_original_bytes_other_inputs_become_png() -> None:
    jpeg = _jpeg_bytes()
    data, mime = encode_image(load_image(jpeg))
    assert (data, mime) == (jpeg, "image/jpeg")
    data, mime = encode_image(load_image(_jpeg_bytes(orientation=6)))
    assert mime == "image/png"
    assert Image.open(io.BytesIO(data)).size == (10, 20)
    assert to_data_uri(load_image(_png_bytes())).startswith("data:image/png;base64,")


def test_png_round_trip_is_lossless() -> None:
    img = Image.effect_noise((16, 16), 50).convert("RGB")
    data, _ = encode_image(load_image(img))
    assert Image.open(io.BytesIO(data)).tobytes() == img.tobytes()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "is None"),
        (b"", "empty bytes"),
        (io.BytesIO(), "empty BytesIO"),
        (b"definitely not an image", "not a readable image"),
        ("/nonexistent/file.png", "no such image file"),
        (123, "unsupported type int"),
        ("https://example.com/a.png", "allow_urls=True"),
        ("data:image/png;base64,@@@", "invalid base64"),
        ("data:image/png,abc", "without base64"),
    ],
)
def test_bad_inputs_name_their_batch_position(bad: object, message: str) -> None:
    good = _png_bytes()
    with pytest.raises(InvalidInputError, match=message) as info:
        load_images([good, good, bad])  # type: ignore[list-item]
    assert info.value.index == 2
    assert "images[2]" in str(info.value)


def test_truncated_image_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match=r"images\[0\] is not a readable image"):
        load_images([_png_bytes((64, 64))[:60]])


def test_too_small_and_too_large_images() -> None:
    with pytest.raises(InvalidInputError, match="needs at least 3x3"):
        load_image(Image.new("RGB", (1, 1)), min_size=(3, 3))
    with pytest.raises(InvalidInputError, match="above the limit"):
        load_image(_png_bytes((100, 100)), max_pixels=5000)
    with pytest.raises(InvalidInputError, match="above the limit"):
        load_image(Image.new("RGB", (100, 100)), max_pixels=5000)


def test_single_image_instead_of_list_is_rejected(png_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="wrap it in a list"):
        load_images(str(png_path))  # type: ignore[arg-type]
