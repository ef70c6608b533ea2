"""Which files ``multivec index`` takes, and how each becomes documents with content-derived ids.

- Text (``.txt``, ``.md``): UTF-8; split into passages of at most ``chunk_words`` words along paragraph breaks
  (late-interaction text encoders read a few hundred tokens); id ``"<sha256 of the file>:<passage number>"``.
- Images (``.png``, ``.jpg``, ``.jpeg``, ``.webp``, ``.gif``, ``.bmp``, ``.tiff``, ``.tif``): one document each,
  id = the file's SHA-256; multimodal embedders only.
- PDFs: one document per page (:func:`multivec.pdf.pdf_items`), id ``"<sha256>:<page>"``.

Every document's metadata has ``path`` (the absolute file path) and ``file_name``; ``source`` is the path too.
Folders are walked recursively in sorted order, skipping hidden entries and files of other types.

>>> chunk_text("one two three\\n\\nfour five\\n\\nsix seven", max_words=3)
['one two three', 'four five', 'six seven']
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from multivec.errors import InvalidInputError
from multivec.items import Item
from multivec.pdf import pdf_items

__all__ = ["IMAGE_SUFFIXES", "PDF_SUFFIXES", "TEXT_SUFFIXES", "Skipped", "chunk_text", "discover", "items_for"]

TEXT_SUFFIXES = frozenset({".txt", ".md"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tiff", ".tif"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED = TEXT_SUFFIXES | IMAGE_SUFFIXES | PDF_SUFFIXES
DEFAULT_CHUNK_WORDS = 180

_PARAGRAPH = re.compile(r"\n\s*\n")
_IN_MEMORY = re.compile(r" <_io\.BytesIO object at 0x[0-9a-fA-F]+>")


@dataclass(frozen=True)
class Skipped:
    """A path that was not indexed, and why."""

    path: str
    reason: str


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Supported files under ``paths`` (deduplicated, in order) and the given paths that cannot be used.

    A file named explicitly with an unsupported type is reported; inside folders such files are passed over.
    """
    found: dict[Path, None] = {}
    skipped = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED:
                        found.setdefault(Path(root, name).absolute(), None)
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                found.setdefault(path.absolute(), None)
            else:
                kinds = ", ".join(sorted(SUPPORTED))
                skipped.append(Skipped(str(given), f"unsupported file type {path.suffix or '(none)'!r}; use {kinds}"))
        else:
            skipped.append(Skipped(str(given), "no such file or folder"))
    return list(found), skipped


def chunk_text(text: str, max_words: int = DEFAULT_CHUNK_WORDS) -> list[str]:
    """Split ``text`` into passages of at most ``max_words`` words, keeping paragraphs whole where they fit
    (``max_words <= 0``: one passage). Whitespace inside a passage is normalised."""
    words_total = text.split()
    if max_words <= 0 or len(words_total) <= max_words:
        return [" ".join(words_total)] if words_total else []
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        words = paragraph.split()
        while len(words) > max_words:  # a paragraph longer than a passage is cut into full passages
            if current:
                chunks.append(" ".join(current))
                current = []
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and len(current) + len(words) > max_words:
            chunks.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InvalidInputError(f"cannot read the file ({err.strerror or err})") from None


def items_for(
    path: Path,
    *,
    with_images: bool,
    dpi: float,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
    decode: Callable[[bytes], Image.Image] | None = None,
) -> list[Item]:
    """The items of one supported file, validated (raises :class:`InvalidInputError` saying why not).

    ``with_images``: whether the embedder reads images (:func:`multivec.items.uses_images`). ``decode`` reads an
    image file the way the embedder will (its ``load_images``); without it, images are neither decoded nor PDF
    pages rendered: the items then only serve to compare a file with what is stored (no model needed).
    """
    suffix = path.suffix.lower()
    source = str(path)
    metadata = {"path": source, "file_name": path.name}
    if suffix in PDF_SUFFIXES:
        return pdf_items(
            path, with_images=with_images, dpi=dpi, metadata=metadata, source=source, render=decode is not None
        )
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if suffix in IMAGE_SUFFIXES:
        if not with_images:
            raise InvalidInputError("is an image, and this embedder reads text only; use --embedder colpali")
        image: Image.Image | str = source
        if decode is not None:
            try:
                image = decode(data)
            except InvalidInputError as err:
                message = _IN_MEMORY.sub("", str(err).removeprefix("images[0] "))
                raise InvalidInputError(message) from None
        return [
            Item.image(image, id=digest, metadata=metadata, source=source, stored_content=source, label=repr(source))
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"is not UTF-8 text ({err.reason} at byte {err.start})") from None
    chunks = chunk_text(text, chunk_words)
    if not chunks:
        raise InvalidInputError("is empty")
    return [
        Item.text(
            chunk,
            id=f"{digest}:{number}",
            metadata={**metadata, "chunk": number},
            source=source,
            label=f"{source!r} chunk {number}",
        )
        for number, chunk in enumerate(chunks, 1)
    ]
