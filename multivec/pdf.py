"""PDF pages as documents: every page rendered to an image and its text layer extracted (pypdfium2).

A multimodal embedder (ColPali, ColQwen2, BiPali, Infinity serving a vision model) indexes the rendered page
images; a text-only embedder (ColBERT) indexes each page's text layer instead. This module only reads: it turns
pages into :class:`~multivec.items.Item` objects (:func:`pdf_items`, :func:`check_pdfs`) that
:meth:`~multivec.store.MultiVectorStore.add_pdfs` embeds and writes; :func:`read_pdf` gives the pages themselves::

    >>> import tempfile, pathlib
    >>> from multivec.pdf import read_pdf
    >>> from multivec.testing import write_text_pdf
    >>> path = write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "two.pdf", ["Wing flutter", "Shock waves"])
    >>> pages = read_pdf(path, dpi=72)
    >>> [(p.page, p.text, p.image.size) for p in pages]
    [(1, 'Wing flutter', (612, 792)), (2, 'Shock waves', (612, 792))]

Encrypted and unreadable PDFs raise :class:`~multivec.errors.InvalidInputError` naming the file; without the
``pdf`` extra (pypdfium2), :class:`~multivec.errors.MissingDependencyError` names it. A page whose rendering would
exceed :data:`MAX_PAGE_PIXELS` (a poster, or a damaged ``MediaBox`` claiming a page kilometres wide) is refused from
its size in points and the dpi *before* it is rendered, with an :class:`~multivec.errors.InvalidInputError` naming
the file and the page, so it costs no memory.

Every stored page gets a content-derived id, ``"<sha256 of the file>:<page>"`` (:func:`page_id`), so adding the
same file again overwrites its pages instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from multivec._options import items, number, positive_int
from multivec.errors import InvalidInputError, MissingDependencyError
from multivec.images import DEFAULT_MAX_PIXELS
from multivec.items import Item

__all__ = [
    "DEFAULT_DPI",
    "MAX_DPI",
    "MAX_PAGE_PIXELS",
    "PAGE_DPI_KEY",
    "PdfFile",
    "PdfPage",
    "check_dpi",
    "check_pdfs",
    "count_pages",
    "file_sha256",
    "iter_pages",
    "page_id",
    "pdf_engine",
    "pdf_items",
    "read_pdf",
    "render_page",
]

#: Metadata key of a rendered page's resolution (``add_pdfs`` sets it on image pages).
PAGE_DPI_KEY = "page_dpi"
#: Default rendering resolution. ColPali-family processors downscale pages to about 448-900 px, so 150 dpi
#: (1275 x 1650 px for US Letter) keeps small print legible without wasting memory.
DEFAULT_DPI = 150
#: Largest rendered page accepted, in pixels (width x height at the requested dpi); the default is the image limit
#: :data:`multivec.images.DEFAULT_MAX_PIXELS` (an A0 poster fits at 150 dpi). Checked before rendering; the reading
#: functions take ``max_pixels=`` to change it for one call, and :func:`add_pdfs` uses this module value.
MAX_PAGE_PIXELS = DEFAULT_MAX_PIXELS
#: Highest rendering resolution accepted (a US Letter page is 5100 x 6600 px at 600 dpi).
MAX_DPI = 600
_POINTS_PER_INCH = 72.0


def pdf_engine() -> Any:
    """The ``pypdfium2`` module, or :class:`MissingDependencyError` naming the ``pdf`` extra."""
    try:
        import pypdfium2
    except ImportError as err:
        raise MissingDependencyError("Reading PDFs", "pdf", missing="pypdfium2") from err
    return pypdfium2


@dataclass(frozen=True)
class PdfPage:
    """One page of a PDF.

    - ``source``: the file path as given.
    - ``page``: 1-based page number.
    - ``text``: the page's text layer (``""`` for scanned pages without one).
    - ``image``: the page rendered to an RGB image, or ``None`` when rendering was not asked for.
    """

    source: str
    page: int
    text: str
    image: Image.Image | None = field(default=None, compare=False, repr=False)


def check_dpi(dpi: Any, name: str = "dpi") -> float:
    """``dpi`` as a float if it is a finite number in (0, :data:`MAX_DPI`], else :class:`ConfigurationError`."""
    return number(dpi, name, minimum=0, maximum=MAX_DPI, open_minimum=True)


def _max_pixels(max_pixels: int | None) -> int:
    return positive_int(MAX_PAGE_PIXELS if max_pixels is None else max_pixels, "max_pixels")


def _check_page_size(
    document: Any, page_index: int, source: str, dpi: float, max_pixels: int, index: int | None
) -> None:
    """Refuse page ``page_index`` (0-based) when rendering it at ``dpi`` would exceed ``max_pixels``: from its size
    in points, before any bitmap is allocated. ``index`` is the file's position in the caller's list, if any."""
    width_pt, height_pt = document.get_page_size(page_index)
    scale = dpi / _POINTS_PER_INCH
    where = f"{source!r}" if index is None else f"paths[{index}] ({source!r})"
    if not (math.isfinite(width_pt * scale) and math.isfinite(height_pt * scale)) or min(width_pt, height_pt) <= 0:
        raise InvalidInputError(
            f"{where} page {page_index + 1} has an unusable size ({width_pt} x {height_pt} pt)", index=index
        )
    width, height = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
    if width * height > max_pixels:
        raise InvalidInputError(
            f"{where} page {page_index + 1} is {width_pt:g} x {height_pt:g} pt, {width}x{height} pixels at {dpi:g} dpi, "
            f"above the limit of {max_pixels:,} pixels; index it at a lower dpi (or raise max_pixels / "
            "multivec.pdf.MAX_PAGE_PIXELS)",
            index=index,
        )


def _open(path: str | Path, index: int | None = None) -> Any:
    """Open a PDF with pdfium, mapping every failure to an :class:`InvalidInputError` that names the file."""
    pdfium = pdf_engine()
    if not isinstance(path, str | os.PathLike) or not str(path):
        where = "path" if index is None else f"paths[{index}]"
        raise InvalidInputError(f"{where} is {type(path).__name__} ({path!r}); pass a PDF file path", index=index)
    where = f"{str(path)!r}" if index is None else f"paths[{index}] ({str(path)!r})"
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidInputError(f"{where}: no such PDF file", index=index)
    try:
        data = file.read_bytes()
    except OSError as err:
        raise InvalidInputError(f"{where}: cannot read the file ({err.strerror or err})", index=index) from None
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        code = getattr(err, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise InvalidInputError(
                f"{where} is encrypted (password-protected); decrypt it first, e.g. `qpdf --decrypt --password=… "
                "in.pdf out.pdf`",
                index=index,
            ) from None
        if code == pdfium.raw.FPDF_ERR_SECURITY:
            raise InvalidInputError(
                f"{where} uses an unsupported security handler; decrypt it first", index=index
            ) from None
        detail = str(err).removeprefix("Failed to load document").strip(" ().")
        raise InvalidInputError(
            f"{where} is not a readable PDF ({detail}); check that the file is complete", index=index
        ) from None
    if len(document) == 0:
        document.close()
        raise InvalidInputError(f"{where} has no pages", index=index)
    return document


def count_pages(path: str | Path) -> int:
    """Number of pages of a PDF (raises :class:`InvalidInputError` for encrypted or unreadable files)."""
    document = _open(path)
    try:
        return len(document)
    finally:
        document.close()


def _page_text(page: Any) -> str:
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_bounded()
    finally:
        textpage.close()
    return text.replace("\r\n", "\n").strip()


def iter_pages(
    path: str | Path,
    *,
    dpi: float = DEFAULT_DPI,
    render: bool = True,
    text: bool = True,
    max_pixels: int | None = None,
) -> Iterator[PdfPage]:
    """Yield the pages of one PDF in order, rendering each one only when it is reached (bounded memory).

    ``render=False`` skips rendering (``image`` is ``None``); ``text=False`` skips the text layer (``text`` is
    ``""``). The file is opened (and validated) before the first page is yielded. A page larger than
    ``max_pixels`` at ``dpi`` (default :data:`MAX_PAGE_PIXELS`) raises :class:`~multivec.errors.InvalidInputError`
    when it is reached, before it is rendered.
    """
    dpi = check_dpi(dpi)
    limit = _max_pixels(max_pixels)
    document = _open(path)
    return _pages(document, str(path), dpi, render, text, limit)


def render_page(path: str | Path, page: int, *, dpi: float = DEFAULT_DPI, max_pixels: int | None = None) -> Image.Image:
    """Page ``page`` (1-based) of one PDF rendered at ``dpi`` as an RGB image; a missing page, or one larger than
    ``max_pixels`` at ``dpi`` (default :data:`MAX_PAGE_PIXELS`), is an :class:`~multivec.errors.InvalidInputError`
    naming the file."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidInputError(f"page must be a positive int (1-based), got {page!r}")
    dpi = check_dpi(dpi)
    limit = _max_pixels(max_pixels)
    document = _open(path)
    try:
        if page > len(document):
            raise InvalidInputError(f"{str(path)!r} has {len(document)} pages; page {page} does not exist")
        _check_page_size(document, page - 1, str(path), dpi, limit, None)
        pdf_page = document[page - 1]
        try:
            return _render(pdf_page, dpi / _POINTS_PER_INCH)
        finally:
            pdf_page.close()
    finally:
        document.close()


def _render(page: Any, scale: float) -> Image.Image:
    image: Image.Image = page.render(scale=scale).to_pil().convert("RGB")
    return image


def _pages(document: Any, source: str, dpi: float, render: bool, text: bool, max_pixels: int) -> Iterator[PdfPage]:
    try:
        for n in range(len(document)):
            if render:
                _check_page_size(document, n, source, dpi, max_pixels, None)
            page = document[n]
            try:
                image = _render(page, dpi / _POINTS_PER_INCH) if render else None
                yield PdfPage(source=source, page=n + 1, text=_page_text(page) if text else "", image=image)
            finally:
                page.close()
    finally:
        document.close()


def read_pdf(
    path: str | Path,
    *,
    dpi: float = DEFAULT_DPI,
    render: bool = True,
    text: bool = True,
    max_pixels: int | None = None,
) -> list[PdfPage]:
    """All pages of one PDF (see :func:`iter_pages`)."""
    return list(iter_pages(path, dpi=dpi, render=render, text=text, max_pixels=max_pixels))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (the content part of :func:`page_id`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def page_id(file_digest: str, page: int) -> str:
    """Content-derived id of one PDF page: ``"<file sha256>:<page>"``."""
    return f"{file_digest}:{page}"


# -- PDF pages as items --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfFile:
    """One checked input PDF (:func:`check_pdfs`): where it is, its content digest, the caller's metadata, and for
    text-only embedders its page texts (read while checking). :meth:`items` gives its pages as items."""

    path: Path
    digest: str
    metadata: dict[str, Any]
    texts: list[str] | None
    dpi: float
    label: str

    def items(self, source: str | None = None, *, render: bool = True) -> list[Item]:
        """The pages as :class:`~multivec.items.Item` objects, ids content-derived (:func:`page_id`); rendered
        now when they are images. ``source`` (default: the path as given) is what records keep as their source.
        ``render=False``: image pages are not rendered (their content is the file path), for comparing the pages
        with stored records only."""
        source = source or str(self.path)
        pages: Iterator[PdfPage]
        if self.texts is None:
            pages = iter_pages(self.path, dpi=self.dpi, render=render)
        else:
            pages = (PdfPage(source, n + 1, text) for n, text in enumerate(self.texts))
        out = []
        for page in pages:
            fields: dict[str, Any] = {
                "id": page_id(self.digest, page.page),
                "source": source,
                "page": page.page,
                "label": f"{self.label} page {page.page}",
            }
            if self.texts is None:
                metadata = {**self.metadata, "page_text": page.text, PAGE_DPI_KEY: self.dpi}
                image = page.image if page.image is not None else str(self.path)
                out.append(Item.image(image, metadata=metadata, stored_content=source, **fields))
            elif page.text:
                out.append(Item.text(page.text, metadata=dict(self.metadata), **fields))
            else:
                warnings.warn(f"{source!r} page {page.page} has no text layer; skipped", UserWarning, stacklevel=3)
        return out


def pdf_items(
    path: str | Path,
    *,
    with_images: bool,
    dpi: float = DEFAULT_DPI,
    metadata: dict[str, Any] | None = None,
    source: str | None = None,
    render: bool = True,
) -> list[Item]:
    """The pages of one PDF as :class:`~multivec.items.Item` objects, ids content-derived (:func:`page_id`).

    ``with_images=True``: each page rendered at ``dpi`` (``modality="image"``, stored ``content`` = ``source``,
    the text layer in ``metadata["page_text"]``, the resolution in ``metadata["page_dpi"]``).
    ``with_images=False``: each page's text layer (``modality="text"``); pages without one are skipped, and a PDF
    without any text raises :class:`InvalidInputError`. ``metadata`` is copied to every page; ``source`` defaults
    to ``str(path)``. ``render=False``: see :meth:`PdfFile.items`.

    >>> import tempfile, pathlib
    >>> from multivec.testing import write_text_pdf
    >>> path = write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "a.pdf", ["Wing flutter", "Shock waves"])
    >>> [(item.modality, item.page, item.content) for item in pdf_items(path, with_images=False)]
    [('text', 1, 'Wing flutter'), ('text', 2, 'Shock waves')]
    """
    return _check_pdf(path, None, metadata, with_images, check_dpi(dpi)).items(source, render=render)


def _check_pdf(path: Any, index: int | None, metadata: Any, with_images: bool, dpi: float) -> PdfFile:
    """Open and check one input PDF; with images, every page's rendered size too (so a huge page is refused before
    any page of any file is embedded or written)."""
    where = "path" if index is None else f"paths[{index}]"
    if isinstance(path, os.PathLike) and not isinstance(path, Path):
        path = Path(path)
    if not isinstance(path, str | Path) or not str(path):
        raise InvalidInputError(f"{where} is {type(path).__name__} ({path!r}); pass a file path", index=index)
    if metadata is not None and not isinstance(metadata, dict):
        where = "metadata" if index is None else f"metadatas[{index}]"
        raise InvalidInputError(f"{where} is {type(metadata).__name__}; pass a dict or None", index=index)
    document = _open(path, index=index)
    try:
        if with_images:
            limit = _max_pixels(None)
            for n in range(len(document)):
                _check_page_size(document, n, str(path), dpi, limit, index)
        texts = None if with_images else [_page_text(document[n]) for n in range(len(document))]
    finally:
        document.close()
    if texts is not None and not any(texts):
        raise InvalidInputError(
            f"{str(path)!r} has no text layer (scanned pages?) and this embedder reads text only; use a "
            "multimodal embedder such as ColPaliEmbeddings, or OCR the file first",
            index=index,
        )
    try:
        digest = file_sha256(path)
    except OSError as err:
        raise InvalidInputError(f"{where}: cannot read {str(path)!r} ({err.strerror or err})", index=index) from None
    label = f"{str(path)!r}" if index is None else f"paths[{index}] ({str(path)!r})"
    return PdfFile(Path(path), digest, dict(metadata or {}), texts, dpi, label)


def check_pdfs(
    paths: Sequence[str | os.PathLike[str]],
    metadatas: Sequence[dict[str, Any] | None] | None = None,
    *,
    dpi: float = DEFAULT_DPI,
    with_images: bool,
) -> list[PdfFile]:
    """Check every input PDF before anything is embedded or written: types, lengths, dpi, every file opens (and,
    with images, every page's rendered size); raises :class:`InvalidInputError` naming the first bad one."""
    dpi = check_dpi(dpi)
    if isinstance(paths, str | os.PathLike):
        raise InvalidInputError("paths must be a list of PDF file paths; wrap a single path in a list")
    paths = items(paths, "paths")
    metadata_list = None if metadatas is None else items(metadatas, "metadatas")
    if metadata_list is not None and len(metadata_list) != len(paths):
        raise InvalidInputError(f"got {len(metadata_list)} metadatas for {len(paths)} PDFs; pass one per PDF or None")
    return [
        _check_pdf(path, i, metadata_list[i] if metadata_list is not None else None, with_images, dpi)
        for i, path in enumerate(paths)
    ]
