"""The image behind a stored image record, for rerankers that score candidates from their source.

Image records keep no pixels, only where they came from: ``source`` (a file path or URI) and, for PDF pages,
``page`` (1-based). :func:`source_image` turns that back into an image input an embedder accepts: the path itself
for image files, the rendered page for PDF pages (rendered at ``dpi``; use the resolution the pages were indexed
with to get the same vectors). Framework adapters use it so they never open PDFs themselves.

>>> import tempfile, pathlib
>>> from multivec.testing import write_text_pdf
>>> pdf = write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "two.pdf", ["Wing flutter", "Shock waves"])
>>> source_image(str(pdf), page=2, dpi=72).size
(612, 792)
>>> source_image("scan.png")
'scan.png'
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from multivec.errors import InvalidInputError
from multivec.pdf import DEFAULT_DPI, PAGE_DPI_KEY, render_page
from multivec.types import ImageInput

__all__ = ["is_pdf", "page_dpi", "source_image"]


def is_pdf(source: str | Path) -> bool:
    """Whether ``source`` names a PDF file (by its extension)."""
    return Path(str(source)).suffix.lower() == ".pdf"


def page_dpi(metadata: Mapping[str, Any], dpi: float | None = None) -> float:
    """The resolution to re-render a stored page at: ``dpi`` when given, else the one it was indexed with
    (``metadata["page_dpi"]``, set by ``add_pdfs``), else :data:`~multivec.pdf.DEFAULT_DPI`.

    >>> page_dpi({"page_dpi": 72}), page_dpi({"page_dpi": 72}, 100), page_dpi({})
    (72, 100, 150)
    """
    if dpi is not None:
        return dpi
    stored = metadata.get(PAGE_DPI_KEY)
    return stored if isinstance(stored, int | float) and not isinstance(stored, bool) and stored > 0 else DEFAULT_DPI


def source_image(source: str | Path, page: int | None = None, *, dpi: float = DEFAULT_DPI) -> ImageInput:
    """The image input for a record's ``source`` and ``page``: page ``page`` of a PDF rendered at ``dpi`` (RGB),
    else ``source`` unchanged (loading, URL policy and validation stay with the embedder)."""
    if not isinstance(source, str | PathLike) or not str(source):
        raise InvalidInputError(f"source must be a file path or URI, got {source!r}")
    if not is_pdf(source):
        return str(source)
    if page is None:
        raise InvalidInputError(f"{str(source)!r} is a PDF but no page number was given; pass page (1-based)")
    return render_page(source, page, dpi=dpi)
