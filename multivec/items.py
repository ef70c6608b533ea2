"""Items: what every source becomes before it is stored, and the one flow that embeds them.

Plain texts and images (:meth:`~multivec.store.MultiVectorStore.add_texts` / ``add_images``), PDF pages
(:mod:`multivec.pdf`), LangChain ``Document``\\ s, LlamaIndex ``TextNode``/``ImageNode``\\ s and the files of
``multivec index`` are all turned into :class:`Item` objects; :meth:`~multivec.store.MultiVectorStore.add_items`
(and every entry point above, through it) then

1. validates every item (:func:`check_items`): its content, id, metadata, source and page, and that the embedder
   takes its modality — a bad item raises :class:`~multivec.errors.InvalidInputError` naming it, before anything
   is embedded;
2. embeds them by modality (:func:`embed_items`: texts in batches, images in batches, concurrently in async code);
3. writes them all at once, atomically: a call that raises stores nothing.

>>> from PIL import Image
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.store import MultiVectorStore
>>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
...     store.add_items([Item.text("Wing flutter", id="t"), Item.image(Image.new("RGB", (8, 8)), id="i")])
...     [(r.id, r.modality) for r in store.get(["t", "i"])]
['t', 'i']
[('t', 'text'), ('i', 'image')]
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from multivec._flow import Concurrently, Flow
from multivec._options import items as as_list
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.embeddings.requests import EmbedDocuments, EmbedImages
from multivec.errors import InvalidInputError
from multivec.types import Embedding, ImageInput
from multivec.validation import INT_MAX, INT_MIN, check_metadata, check_text

__all__ = ["MODALITIES", "Item", "Modality", "check_items", "embed_items", "image_source", "uses_images"]

Modality = Literal["text", "image"]
MODALITIES: tuple[Modality, ...] = ("text", "image")
_IMAGE_TYPES = (str, Path, bytes, BytesIO, Image.Image)


@dataclass(frozen=True)
class Item:
    """One thing to store: what the embedder reads (``content``) and what the record keeps.

    - ``content``: the text to embed, or the image (path, URL, bytes, in-memory file, PIL image) for
      ``modality="image"``.
    - ``id``: ``str`` or ``int``; a new uuid4 string when ``None``. Adding an id that exists replaces that record.
    - ``metadata``: plain JSON (a dict with str keys).
    - ``source``, ``page``: where the item comes from (a file path or URL; a 1-based page number).
    - ``stored_content``: the record's ``content`` when it is not the embedded text (LlamaIndex embeds a node's
      metadata with its text but stores the bare text). Default: the text; for images the source, else the id.
    - ``label``: how errors name the item (``"texts[3]"``, ``"nodes[2] (TextNode 'x')"``); default ``items[i]``.

    >>> Item.text("Wing flutter", id=1).modality, Item.image("page.png").modality
    ('text', 'image')
    """

    content: str | ImageInput
    modality: Modality = "text"
    id: str | int | None = None
    metadata: dict[str, Any] | None = None
    source: str | None = None
    page: int | None = None
    stored_content: str | None = None
    label: str | None = field(default=None, compare=False)

    @classmethod
    def text(cls, text: str, **fields: Any) -> Item:
        """A text item (``fields``: the other attributes)."""
        return cls(text, "text", **fields)

    @classmethod
    def image(cls, image: ImageInput, **fields: Any) -> Item:
        """An image item (``fields``: the other attributes)."""
        return cls(image, "image", **fields)

    def row(self) -> dict[str, Any]:
        """The stored record of a checked item (see :func:`check_items`), without its vectors."""
        content = self.stored_content
        if content is None:
            content = str(self.content) if self.modality == "text" else (self.source or str(self.id))
        return {
            "content": content,
            "metadata": self.metadata or {},
            "modality": self.modality,
            "source": self.source,
            "page": self.page,
        }


def uses_images(embedding: MultiVectorBaseEmbedding) -> bool:
    """Whether pages are indexed as images (multimodal embedders) or by their text (text-only ones).

    An embedder may decide for itself with a ``supports_images`` attribute (e.g. a remote server whose model may
    or may not take images); otherwise multimodal embedder classes take images.
    """
    supports = getattr(embedding, "supports_images", None)
    if isinstance(supports, bool):
        return supports
    return isinstance(embedding, MultiVectorMultiModalEmbedding)


def image_source(image: Any) -> str | None:
    """Where an image input comes from: its path or URL (not a ``data:`` URI), a PIL image's file name, else None."""
    if isinstance(image, Path):
        return str(image)
    if isinstance(image, str):
        return None if image.startswith("data:") else image
    if isinstance(image, Image.Image):
        return getattr(image, "filename", None) or None
    return None


def _item_id(value: Any, where: str, index: int) -> str:
    if value is None:
        return str(uuid.uuid4())
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(
            f"{where} id is {type(value).__name__} ({value!r}); ids must be str or int", index=index
        )
    text = check_text(str(value), f"{where} id", index)
    if not text:
        raise InvalidInputError(f"{where} has an empty id; pass a non-empty id", index=index)
    return text


def _check_item(item: Any, index: int, embedding: MultiVectorBaseEmbedding) -> Item:
    if not isinstance(item, Item):
        raise InvalidInputError(f"items[{index}] is {type(item).__name__}; expected a multivec Item", index=index)
    where = item.label or f"items[{index}]"
    if item.modality == "text":
        if not isinstance(item.content, str) or not item.content.strip():
            raise InvalidInputError(f"{where} has no text to embed (got {item.content!r:.60})", index=index)
        check_text(item.content, where, index)
    elif item.modality == "image":
        if not isinstance(embedding, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(
                f"{where} is an image but {embedding!r} embeds text only; use a multimodal embedder (ColPali)",
                index=index,
            )
        if not isinstance(item.content, _IMAGE_TYPES):
            raise InvalidInputError(
                f"{where} is {type(item.content).__name__}; an image is a path, URL, bytes, BytesIO or PIL image",
                index=index,
            )
    else:
        raise InvalidInputError(f"{where} has modality {item.modality!r}; use 'text' or 'image'", index=index)
    for name in ("source", "stored_content"):
        value = getattr(item, name)
        if value is not None:
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"{where} {name} must be a str or None, got {type(value).__name__}", index=index
                )
            check_text(value, f"{where} {name}", index)
    page = item.page
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or not INT_MIN <= page <= INT_MAX):
        raise InvalidInputError(f"{where} page must be a 64-bit int or None, got {page!r}", index=index)
    metadata = check_metadata(item.metadata, f"{where} metadata", index)
    source = item.source if item.source is not None or item.modality == "text" else image_source(item.content)
    return replace(item, id=_item_id(item.id, where, index), metadata=metadata, source=source)


def check_items(items: Any, embedding: MultiVectorBaseEmbedding) -> list[Item]:
    """Every item checked for ``embedding`` (see :class:`Item`), ids as ``str`` (new ones where missing).

    Raises :class:`~multivec.errors.InvalidInputError` naming the first bad item, or a repeated id.
    """
    if isinstance(items, Item):
        raise InvalidInputError("items must be a list of Item; wrap a single item in a list")
    checked = [_check_item(item, i, embedding) for i, item in enumerate(as_list(items, "items"))]
    seen: dict[str, int] = {}
    for i, item in enumerate(checked):
        assert isinstance(item.id, str)
        if item.id in seen:
            first = checked[seen[item.id]]
            raise InvalidInputError(
                f"{item.label or f'items[{i}]'} has id {item.id!r}, as {first.label or f'items[{seen[item.id]}]'}; "
                "each id may appear once per call",
                index=i,
            )
        seen[item.id] = i
    return checked


def _embed_part(items: Sequence[Item], positions: list[int], request: Any) -> Flow[list[Embedding]]:
    """Embed one modality's items; an error about one input is re-raised naming its item."""
    try:
        vectors = yield request
    except InvalidInputError as err:
        if err.index is None or not 0 <= err.index < len(positions):
            raise
        pos = positions[err.index]
        item = items[pos]
        where = item.label or f"items[{pos}]"
        raise InvalidInputError(f"{where} (id {item.id!r}): {err}", index=pos) from err
    vectors = list(vectors)
    if len(vectors) != len(positions):
        raise InvalidInputError(f"the embedder returned {len(vectors)} embeddings for {len(positions)} inputs")
    return vectors


def embed_items(items: Sequence[Item], *, show_progress: bool = False) -> Flow[list[Embedding]]:
    """The embeddings of checked ``items``, in order: texts and images each in one batched request (concurrently
    when driven asynchronously)."""
    texts = [i for i, item in enumerate(items) if item.modality == "text"]
    images = [i for i, item in enumerate(items) if item.modality == "image"]
    parts = []
    if texts:
        request = EmbedDocuments([str(items[i].content) for i in texts], show_progress)
        parts.append((texts, _embed_part(items, texts, request)))
    if images:
        request_images = EmbedImages([items[i].content for i in images], show_progress)
        parts.append((images, _embed_part(items, images, request_images)))
    if not parts:
        return []
    results = yield Concurrently(tuple(flow for _, flow in parts))
    merged: list[Any] = [None] * len(items)
    for (positions, _), vectors in zip(parts, results, strict=True):
        for pos, vector in zip(positions, vectors, strict=True):
            merged[pos] = vector
    return merged
