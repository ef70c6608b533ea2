"""Small PDFs with a real text layer, written on the spot: the demo's sample document and test inputs."""

from __future__ import annotations

import ctypes
import textwrap
from collections.abc import Sequence
from pathlib import Path

from multivec._options import items, number, positive_int
from multivec.errors import InvalidInputError
from multivec.pdf import pdf_engine

__all__ = ["write_text_pdf"]


def _lines(text: str, wrap: int | None) -> list[str]:
    return [part for line in text.split("\n") for part in ((textwrap.wrap(line, wrap) if wrap else [line]) or [""])]


def write_text_pdf(
    path: str | Path,
    pages: Sequence[str],
    *,
    size: tuple[float, float] = (612.0, 792.0),
    font_size: float = 12.0,
    wrap: int | None = 80,
) -> Path:
    """Write a PDF with one page per string, in Helvetica with a real text layer.

    Lines break at newlines and, with ``wrap``, at about that many characters (no other layout: text past the
    bottom margin is cut). ``size`` is the page size in points (US Letter by default). Returns the path. Used for
    the demo's generated sample and for tests.

    >>> import tempfile, pathlib
    >>> from multivec.pdf import count_pages
    >>> count_pages(write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "a.pdf", ["one", "two"]))
    2
    """
    pdfium = pdf_engine()
    raw = pdfium.raw
    if isinstance(pages, str) or not pages:
        raise InvalidInputError("pages must be a non-empty list of strings, one per page")
    pages = items(pages, "pages")
    for i, text in enumerate(pages):
        if not isinstance(text, str):
            raise InvalidInputError(f"pages[{i}] is {type(text).__name__}; pass one str per page", index=i)
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise InvalidInputError(f"size must be (width, height) in points, got {size!r}")
    size = (
        number(size[0], "size[0]", minimum=0, maximum=14_400, open_minimum=True, error=InvalidInputError),
        number(size[1], "size[1]", minimum=0, maximum=14_400, open_minimum=True, error=InvalidInputError),
    )
    number(font_size, "font_size", minimum=0, open_minimum=True, error=InvalidInputError)
    if wrap is not None:
        positive_int(wrap, "wrap", InvalidInputError)
    target = Path(path)
    document = pdfium.PdfDocument.new()
    try:
        font = raw.FPDFText_LoadStandardFont(document.raw, b"Helvetica")
        width, height = size
        for text in pages:
            page = document.new_page(width, height)
            for row, line in enumerate(_lines(text, wrap)):
                if not line.strip():
                    continue
                obj = raw.FPDFPageObj_CreateTextObj(document.raw, font, font_size)
                encoded = ctypes.create_string_buffer((line + "\x00").encode("utf-16-le"))
                raw.FPDFText_SetText(obj, ctypes.cast(encoded, ctypes.POINTER(raw.FPDF_WCHAR)))
                raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, height - 72 - row * font_size * 1.5)
                raw.FPDFPage_InsertObject(page.raw, obj)
            page.gen_content()
            page.close()
        raw.FPDFFont_Close(font)
        target.parent.mkdir(parents=True, exist_ok=True)
        document.save(target)
    finally:
        document.close()
    return target
