"""PDF pages as documents: every page rendered to an image and its text layer extracted (pypdfium2).

A multimodal embedder (ColPali, ColQwen2, BiPali, Infinity serving a vision model) indexes the rendered page
images; a text-only embedder (ColBERT) indexes each page's text layer instead. :func:`add_pdfs` does either on a
:class:`~multivec.store.MultiVectorStore`; :func:`read_pdf` gives the pages themselves::

    >>> import tempfile, pathlib
    >>> from multivec.pdf import read_pdf, write_text_pdf
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

import asyncio
import ctypes
import hashlib
import math
import os
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from multivec._options import items, number, positive_int
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import InvalidInputError, MissingDependencyError
from multivec.images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from multivec.store import MultiVectorStore

__all__ = [
    "DEFAULT_DPI",
    "MAX_DPI",
    "MAX_PAGE_PIXELS",
    "PAGE_DPI_KEY",
    "DocumentInput",
    "PdfPage",
    "aadd_documents",
    "aadd_pdfs",
    "add_documents",
    "add_pdfs",
    "check_dpi",
    "count_pages",
    "file_sha256",
    "iter_pages",
    "page_id",
    "pdf_documents",
    "read_pdf",
    "render_page",
    "uses_images",
    "write_text_pdf",
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


def _pdfium() -> Any:
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
    pdfium = _pdfium()
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


def uses_images(embedding: MultiVectorBaseEmbedding) -> bool:
    """Whether PDF pages are indexed as images (multimodal embedders) or by their text layer (text-only ones).

    An embedder may decide for itself with a ``supports_images`` attribute (e.g. a remote server whose model may
    or may not take images); otherwise multimodal embedder classes take images.
    """
    supports = getattr(embedding, "supports_images", None)
    if isinstance(supports, bool):
        return supports
    return isinstance(embedding, MultiVectorMultiModalEmbedding)


# -- adding PDFs to a store ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentInput:
    """One document ready to embed and store: its id, what the embedder takes (a text or an RGB image) and the
    store payload (``{"content", "metadata", "modality", "source", "page"}``, see ``MultiVectorStore.add_embeddings``).
    """

    id: str
    input: str | Image.Image = field(repr=False)
    payload: dict[str, Any]

    @property
    def is_image(self) -> bool:
        return self.payload["modality"] == "image"


def pdf_documents(
    path: str | Path,
    *,
    with_images: bool,
    dpi: float = DEFAULT_DPI,
    metadata: dict[str, Any] | None = None,
    source: str | None = None,
) -> list[DocumentInput]:
    """The pages of one PDF as :class:`DocumentInput` objects, ids content-derived (:func:`page_id`).

    ``with_images=True``: each page rendered at ``dpi`` (``modality="image"``, ``content`` = ``source``, the text
    layer in ``metadata["page_text"]``, the resolution in ``metadata["page_dpi"]``). ``with_images=False``: each page's text layer (``modality="text"``); pages
    without one are skipped, and a PDF without any text raises :class:`InvalidInputError`. ``metadata`` is copied
    to every page; ``source`` defaults to ``str(path)``.
    """
    return _pdf_documents(_check_pdf(path, None, metadata, with_images, check_dpi(dpi)), dpi, with_images, source)


@dataclass
class _Pdf:
    """One validated input PDF: where it is, its content digest, the caller's metadata, and (text-only
    embedders) its page texts, read while validating."""

    path: Path
    digest: str
    metadata: dict[str, Any]
    texts: list[str] | None


def _check_pdf(path: Any, index: int | None, metadata: Any, with_images: bool, dpi: float) -> _Pdf:
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
    return _Pdf(Path(path), digest, dict(metadata or {}), texts)


def _pdf_documents(pdf: _Pdf, dpi: float, with_images: bool, source: str | None) -> list[DocumentInput]:
    source = source or str(pdf.path)
    pages: Iterator[PdfPage]
    if pdf.texts is None:
        pages = iter_pages(pdf.path, dpi=dpi)
    else:
        pages = (PdfPage(source, n + 1, text) for n, text in enumerate(pdf.texts))
    documents = []
    for page in pages:
        payload: dict[str, Any] = {"source": source, "page": page.page}
        if page.image is not None:
            item: str | Image.Image = page.image
            metadata = {**pdf.metadata, "page_text": page.text, PAGE_DPI_KEY: dpi}
            payload.update(content=source, metadata=metadata, modality="image")
        elif page.text:
            item = page.text
            payload.update(content=page.text, metadata=dict(pdf.metadata), modality="text")
        else:
            warnings.warn(f"{source!r} page {page.page} has no text layer; skipped", UserWarning, stacklevel=4)
            continue
        documents.append(DocumentInput(page_id(pdf.digest, page.page), item, payload))
    return documents


def _plan(
    paths: Sequence[str | os.PathLike[str]],
    metadatas: Sequence[dict[str, Any] | None] | None,
    dpi: float,
    with_images: bool,
) -> list[_Pdf]:
    """Validate every input before anything is embedded or written: types, lengths, dpi, every file opens."""
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


def _split(documents: Sequence[DocumentInput]) -> list[list[DocumentInput]]:
    """Consecutive runs of one modality (each run is embedded with one embedder method)."""
    runs: list[list[DocumentInput]] = []
    for document in documents:
        if runs and runs[-1][0].is_image == document.is_image:
            runs[-1].append(document)
        else:
            runs.append([document])
    return runs


def _image_embedder(embedding: MultiVectorBaseEmbedding) -> MultiVectorMultiModalEmbedding:
    if not isinstance(embedding, MultiVectorMultiModalEmbedding):
        raise InvalidInputError(f"{embedding!r} embeds text only; images need a multimodal embedder (ColPali)")
    return embedding


def add_documents(
    store: MultiVectorStore, documents: Sequence[DocumentInput], *, show_progress: bool = False
) -> list[str]:
    """Embed ``documents`` with the store's embedder (texts and images each in batches) and upsert them.

    One transaction (:meth:`~multivec.store.MultiVectorStore.atomic`): if any part fails, nothing is stored.
    """
    embedding = _embedding_of(store)
    ids: list[str] = []
    with store.atomic():
        for run in _split(documents):
            inputs = [document.input for document in run]
            if run[0].is_image:
                vectors = _image_embedder(embedding).embed_images_batch(inputs, show_progress=show_progress)
            else:
                vectors = embedding.embed_documents_batch(inputs, show_progress=show_progress)  # type: ignore[arg-type]
            ids.extend(store.add_embeddings(vectors, [d.payload for d in run], [d.id for d in run]))
    return ids


async def aadd_documents(
    store: MultiVectorStore, documents: Sequence[DocumentInput], *, show_progress: bool = False
) -> list[str]:
    """Async twin of :func:`add_documents`."""
    embedding = _embedding_of(store)
    ids: list[str] = []
    async with store.atomic():
        for run in _split(documents):
            inputs = [document.input for document in run]
            if run[0].is_image:
                vectors = await _image_embedder(embedding).aembed_images_batch(inputs, show_progress=show_progress)
            else:
                vectors = await embedding.aembed_documents_batch(inputs, show_progress=show_progress)  # type: ignore[arg-type]
            ids.extend(await store.aadd_embeddings(vectors, [d.payload for d in run], [d.id for d in run]))
    return ids


def _embedding_of(store: MultiVectorStore) -> MultiVectorBaseEmbedding:
    embedding: MultiVectorBaseEmbedding = store.embedding
    return embedding


def add_pdfs(
    store: MultiVectorStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    dpi: float = DEFAULT_DPI,
    metadatas: Sequence[dict[str, Any] | None] | None = None,
    show_progress: bool = False,
) -> list[str]:
    """Add every page of every PDF to ``store`` as one document; returns the page ids, in order.

    Multimodal embedders index each page rendered at ``dpi`` (``modality="image"``, ``content`` = the file path,
    the text layer kept in ``metadata["page_text"]``, the resolution in ``metadata["page_dpi"]`` so that
    explanations and rerankers re-render the page as it was embedded); text-only embedders index each page's text layer
    (``modality="text"``; pages without text are skipped with a warning). Every record has ``source`` (the path)
    and ``page`` (1-based). ``metadatas`` gives one dict per PDF, copied to each of its pages. Ids are
    content-derived (:func:`page_id`): adding the same file again replaces its pages.

    Every file is opened and checked before anything is embedded: an encrypted, corrupt or missing file (or, for
    a text-only embedder, one without any text layer) raises :class:`~multivec.errors.InvalidInputError` naming
    it, and nothing is written. PDFs are then rendered, embedded and written one at a time, so memory holds one
    file's pages, in one transaction (:meth:`~multivec.store.MultiVectorStore.atomic`): if a later file fails,
    the pages of the earlier ones are taken back too.

    >>> import tempfile, pathlib
    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.store import MultiVectorStore
    >>> path = write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "a.pdf", ["Wing flutter", "Shock waves"])
    >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
    ...     ids = add_pdfs(store, [path], dpi=50)
    ...     sorted((hit.source == str(path), hit.page) for hit in store.search("anything", k=2))
    [(True, 1), (True, 2)]
    """
    with_images = uses_images(_embedding_of(store))
    ids: list[str] = []
    plan = _plan(paths, metadatas, dpi, with_images)
    with store.atomic():  # all PDFs or none
        for pdf in plan:
            documents = _pdf_documents(pdf, dpi, with_images, None)
            ids.extend(add_documents(store, documents, show_progress=show_progress))
    return ids


async def aadd_pdfs(
    store: MultiVectorStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    dpi: float = DEFAULT_DPI,
    metadatas: Sequence[dict[str, Any] | None] | None = None,
    show_progress: bool = False,
) -> list[str]:
    """Async twin of :func:`add_pdfs`: reading and rendering run in a worker thread, embedding and writes are awaited."""
    # off the event loop: a remote embedder may ask its server whether it takes images (see uses_images)
    with_images = await asyncio.to_thread(uses_images, _embedding_of(store))
    ids: list[str] = []
    plan = await asyncio.to_thread(_plan, paths, metadatas, dpi, with_images)
    async with store.atomic():  # all PDFs or none
        for pdf in plan:
            documents = await asyncio.to_thread(_pdf_documents, pdf, dpi, with_images, None)
            ids.extend(await aadd_documents(store, documents, show_progress=show_progress))
    return ids


# -- writing simple PDFs (the demo's sample, tests) ----------------------------------------------------------------


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
    """
    pdfium = _pdfium()
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
