"""The multi-vector embedding contract.

An embedder turns texts (and, for multimodal ones, images) into multi-vectors: float32 numpy arrays of shape
``(n_tokens, dim)``, one row per token or image patch. Single-vector models (BiPali) return ``(dim,)`` arrays and
say so with ``is_multi_vector = False``.

Public methods (the same names on every embedder, each with an ``a``-prefixed async twin):

============================  =====================================================================
``embed_query(text)``         one query (query-side encoding where the model has one)
``embed_text(text)``          one document text
``embed_documents(texts)``    document texts, one request/forward pass per model-sized chunk
``embed_documents_batch``     the same, chunked by ``embed_batch_size``, with a progress bar on request;
                              the async twin runs up to ``max_concurrency`` chunks at once
``embed_image(image)``        one image (multimodal embedders)
``embed_images(images)``      images
``embed_images_batch``        images, chunked like ``embed_documents_batch``
============================  =====================================================================

Subclasses implement a few primitives: ``dim``, ``_embed_texts(texts, is_query=...)`` and, for multimodal
models, ``_embed_images(images)`` (images arrive decoded, RGB, EXIF-transposed). The async primitives default to
running the sync ones on a per-instance worker thread, which keeps the event loop free and serialises calls on a
local model; remote embedders override them with native async I/O.

Example (a tiny subclass)::

    >>> import numpy as np
    >>> class Ones(MultiVectorBaseEmbedding):
    ...     dim = 4
    ...     def _embed_texts(self, texts, *, is_query):
    ...         return [np.ones((len(t.split()), 4), np.float32) for t in texts]
    >>> Ones(model_name="ones").embed_documents_batch(["a b", "c"], show_progress=False)[0].shape
    (2, 4)
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
from PIL import Image

from multivec import telemetry
from multivec._closing import Closing
from multivec._options import boolean, items, positive_int
from multivec._progress import tqdm
from multivec.errors import ConfigurationError, EmbeddingError, InvalidInputError
from multivec.images import DEFAULT_MAX_PIXELS, load_image, load_images
from multivec.patch_grid import PatchGrid
from multivec.types import Embedding, ImageInput

if TYPE_CHECKING:
    from multivec.telemetry import EmbedderStats

__all__ = ["MultiVectorBaseEmbedding", "MultiVectorMultiModalEmbedding"]

T = TypeVar("T")
R = TypeVar("R")


def _check_text(text: object, index: int | None) -> str:
    where = "text" if index is None else f"texts[{index}]"
    if not isinstance(text, str):
        raise InvalidInputError(f"{where} is {type(text).__name__}, expected str", index=index)
    if not text.strip():
        raise InvalidInputError(f"{where} is empty or whitespace; pass text with content", index=index)
    return text


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InvalidInputError("expected a list of texts, got a single str; wrap it in a list")
    if texts is None:
        raise InvalidInputError("texts is None; pass a list of strings")
    return [_check_text(text, i) for i, text in enumerate(items(texts, "texts"))]


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class MultiVectorBaseEmbedding(Closing, ABC):
    """Base class of text multi-vector embedders (ColBERT-style). See the module docstring for the contract.

    Options shared by every embedder:

    - ``model_name``: the model's id or local directory (for remote embedders: the served name).
    - ``embed_batch_size``: chunk size of the ``*_batch`` methods.
    - ``max_concurrency``: how many chunks the async ``*_batch`` methods run at once.
    """

    #: ``False`` for single-vector models, whose embeddings have shape ``(dim,)``.
    is_multi_vector: ClassVar[bool] = True

    def __init__(
        self, *, model_name: str | os.PathLike[str], embed_batch_size: int = 10, max_concurrency: int = 4
    ) -> None:
        if isinstance(model_name, os.PathLike):
            model_name = os.fspath(model_name)
        if not isinstance(model_name, str) or not model_name:
            raise ConfigurationError(f"model_name must be a non-empty string or a path, got {model_name!r}")
        self.model_name = model_name
        self.embed_batch_size = positive_int(embed_batch_size, "embed_batch_size")
        self.max_concurrency = positive_int(max_concurrency, "max_concurrency")
        self._worker: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r})"

    # -- primitives ---------------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension of every vector (row) this embedder returns."""

    @abstractmethod
    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        """Embed validated, non-empty texts; queries when ``is_query`` else documents."""

    async def _aembed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return await self._in_worker(lambda: self._embed_texts(texts, is_query=is_query))

    async def _in_worker(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on this instance's single worker thread (serialised, off the event loop)."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=type(self).__name__)
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    def close(self) -> None:
        """Release resources (worker threads, connections). The embedder is unusable afterwards for remote ones."""
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    # -- output checks --------------------------------------------------------------------------------------------

    def _checked(self, outputs: list[Embedding], expected: int) -> list[Embedding]:
        """Check a primitive's outputs: count, dtype, shape, dimension, finiteness."""
        if len(outputs) != expected:
            raise EmbeddingError(f"{self!r} returned {len(outputs)} embeddings for {expected} inputs")
        ndim = 2 if self.is_multi_vector else 1
        checked = []
        for i, out in enumerate(outputs):
            arr = np.asarray(out, dtype=np.float32)
            if arr.ndim != ndim or arr.shape[-1] == 0 or (ndim == 2 and arr.shape[0] == 0):
                raise EmbeddingError(f"{self!r} returned an embedding of shape {arr.shape} for input {i}")
            if not np.isfinite(arr).all():
                raise EmbeddingError(f"{self!r} returned non-finite values (NaN/inf) for input {i}")
            checked.append(arr)
        return checked

    # -- observed model calls: every embed_* method ends in one of these (see multivec.telemetry) ----------------

    def _observe(self, operation: str) -> telemetry.Observation:
        recorder = telemetry.recorder_of(self)
        return telemetry.Observation(recorder, "embed", operation, {telemetry.EMBEDDER: type(self).__name__})

    def _texts(self, texts: list[str], is_query: bool) -> list[Embedding]:
        with self._observe("query" if is_query else "documents") as call:
            return call.embedded(self._checked(self._embed_texts(texts, is_query=is_query), len(texts)))

    async def _atexts(self, texts: list[str], is_query: bool) -> list[Embedding]:
        with self._observe("query" if is_query else "documents") as call:
            return call.embedded(self._checked(await self._aembed_texts(texts, is_query=is_query), len(texts)))

    def stats(self) -> EmbedderStats:
        """Calls, items, token vectors, errors and p50/p95 latency of this embedder's model calls, per operation.

        See :class:`~multivec.telemetry.EmbedderStats` (a cached embedder adds its cache's hits and misses).

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> emb = DeterministicFakeMultiVectorEmbedding(dim=8)
        >>> _ = emb.embed_query("red apples"), emb.embed_documents(["red", "blue cars"])
        >>> s = emb.stats()
        >>> s.calls, s.items, s.tokens, sorted(s.operations)
        (2, 3, 5, ['documents', 'query'])
        """
        return telemetry.EmbedderStats.of(self)

    # -- labels (optional) ---------------------------------------------------------------------------------------

    def query_tokens(self, query: str) -> list[str] | None:
        """One label per row of ``embed_query(query)`` (the query's tokens), or ``None`` when this embedder can't tell.

        Used by :func:`multivec.explain.explain` to label query tokens; embedders that know their tokenizer override it.
        """
        _check_text(query, None)
        return None

    def document_tokens(self, text: str) -> list[str] | None:
        """One label per row of ``embed_text(text)`` (the document's tokens), or ``None`` when this embedder can't tell.

        Used by :func:`multivec.explain.explain` to name the document token each query token matched.
        """
        _check_text(text, None)
        return None

    def special_tokens(self) -> frozenset[str]:
        """The token labels that are no word of the text: the tokenizer's special tokens (``[CLS]``, ``[SEP]``,
        ``[PAD]``, ``<pad>``…) and the marker, prompt-padding and query-augmentation tokens the model adds.

        Empty when this embedder can't tell (it labels no tokens, or its tokenizer is remote). Used by
        :meth:`multivec.explain.Explanation.words` to leave these out of the words an explanation shows; labels
        shaped like ``[X]``, ``<x>`` or ``<|x|>`` are left out even when they are not listed here.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> DeterministicFakeMultiVectorEmbedding(dim=4).special_tokens()
        frozenset()
        """
        return frozenset()

    # -- text API ----------------------------------------------------------------------------------------------

    def embed_query(self, query: str) -> Embedding:
        """Embed one search query (query-side encoding where the model distinguishes queries)."""
        return self._texts([_check_text(query, None)], True)[0]

    async def aembed_query(self, query: str) -> Embedding:
        """Async twin of :meth:`embed_query`."""
        return (await self._atexts([_check_text(query, None)], True))[0]

    def embed_text(self, text: str) -> Embedding:
        """Embed one document text."""
        return self._texts([_check_text(text, None)], False)[0]

    async def aembed_text(self, text: str) -> Embedding:
        """Async twin of :meth:`embed_text`."""
        return (await self._atexts([_check_text(text, None)], False))[0]

    def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        """Embed document texts; every text is validated before any is embedded."""
        checked = _check_texts(texts)
        if not checked:
            return []
        return self._texts(checked, False)

    async def aembed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        """Async twin of :meth:`embed_documents`."""
        checked = _check_texts(texts)
        if not checked:
            return []
        return await self._atexts(checked, False)

    def embed_documents_batch(self, texts: Sequence[str], show_progress: bool = False) -> list[Embedding]:
        """Embed many texts in chunks of ``embed_batch_size`` (progress bar with ``show_progress=True``)."""
        return self._run_batched(_check_texts(texts), self.embed_documents, show_progress, "Embedding texts")

    async def aembed_documents_batch(self, texts: Sequence[str], show_progress: bool = False) -> list[Embedding]:
        """Async twin of :meth:`embed_documents_batch`; up to ``max_concurrency`` chunks run at once."""
        return await self._arun_batched(_check_texts(texts), self.aembed_documents, show_progress, "Embedding texts")

    # -- batching shared by texts and images ------------------------------------------------------------------

    def _run_batched(
        self,
        items: Sequence[T],
        embed: Callable[[Sequence[T]], list[Embedding]],
        show_progress: bool,
        desc: str,
    ) -> list[Embedding]:
        results: list[Embedding] = []
        with tqdm(total=len(items), desc=desc, unit="item", disable=not show_progress) as bar:
            for chunk in _chunks(items, self.embed_batch_size):
                results.extend(embed(chunk))
                bar.update(len(chunk))
        return results

    async def _arun_batched(
        self,
        items: Sequence[T],
        aembed: Callable[[Sequence[T]], Awaitable[list[Embedding]]],
        show_progress: bool,
        desc: str,
    ) -> list[Embedding]:
        chunks = _chunks(items, self.embed_batch_size)
        limit = asyncio.Semaphore(self.max_concurrency)
        with tqdm(total=len(items), desc=desc, unit="item", disable=not show_progress) as bar:

            async def run(chunk: Sequence[T]) -> list[Embedding]:
                async with limit:
                    out = await aembed(chunk)
                bar.update(len(chunk))
                return out

            parts = await asyncio.gather(*(run(chunk) for chunk in chunks))
        return [embedding for part in parts for embedding in part]


class MultiVectorMultiModalEmbedding(MultiVectorBaseEmbedding):
    """Base class of text + image multi-vector embedders (ColPali, ColQwen2, Infinity).

    Image options: ``allow_urls`` (fetch ``http(s)://`` inputs; off by default) and ``max_image_pixels``.
    ``min_image_size`` is the smallest ``(width, height)`` the model accepts; smaller images raise
    :class:`~multivec.errors.InvalidInputError` before anything is sent to the model.
    """

    min_image_size: tuple[int, int] = (3, 3)

    def __init__(
        self,
        *,
        model_name: str | os.PathLike[str],
        embed_batch_size: int = 10,
        max_concurrency: int = 4,
        allow_urls: bool = False,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(model_name=model_name, embed_batch_size=embed_batch_size, max_concurrency=max_concurrency)
        self.allow_urls = boolean(allow_urls, "allow_urls")
        self.max_image_pixels = positive_int(max_image_pixels, "max_image_pixels")

    @abstractmethod
    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        """Embed decoded RGB images."""

    async def _aembed_images(self, images: list[Image.Image]) -> list[Embedding]:
        return await self._in_worker(lambda: self._embed_images(images))

    def _image_options(self) -> dict[str, Any]:
        return {"allow_urls": self.allow_urls, "min_size": self.min_image_size, "max_pixels": self.max_image_pixels}

    def image_patch_grid(self, image: ImageInput) -> PatchGrid | None:
        """Where the patches of ``embed_image(image)`` sit (rows x cols, and their rows), or ``None`` if unknown.

        Used by :mod:`multivec.plot` to draw similarity maps over the page; embedders that know their layout
        override it.
        """
        load_image(image, **self._image_options())
        return None

    def load_images(self, images: Sequence[ImageInput]) -> list[Image.Image]:
        """Decode and validate a batch of image inputs the way this embedder will (errors name the position)."""
        if images is None:
            raise InvalidInputError("images is None; pass a list of images")
        return load_images(images, **self._image_options())

    def embed_image(self, image: ImageInput) -> Embedding:
        """Embed one image (path, bytes, BytesIO or PIL image)."""
        decoded = load_image(image, **self._image_options())
        return self._images([decoded])[0]

    async def aembed_image(self, image: ImageInput) -> Embedding:
        """Async twin of :meth:`embed_image`."""
        decoded = await asyncio.to_thread(load_image, image, **self._image_options())
        return (await self._aimages([decoded]))[0]

    def embed_images(self, images: Sequence[ImageInput]) -> list[Embedding]:
        """Embed images; every image is decoded and validated before any is embedded."""
        decoded = self.load_images(images)
        if not decoded:
            return []
        return self._images(decoded)

    async def aembed_images(self, images: Sequence[ImageInput]) -> list[Embedding]:
        """Async twin of :meth:`embed_images`."""
        decoded = await asyncio.to_thread(self.load_images, images)
        if not decoded:
            return []
        return await self._aimages(decoded)

    def embed_images_batch(self, images: Sequence[ImageInput], show_progress: bool = False) -> list[Embedding]:
        """Embed many images in chunks of ``embed_batch_size`` (progress bar with ``show_progress=True``)."""
        decoded = self.load_images(images)
        return self._run_batched(decoded, self._embed_decoded, show_progress, "Embedding images")

    async def aembed_images_batch(self, images: Sequence[ImageInput], show_progress: bool = False) -> list[Embedding]:
        """Async twin of :meth:`embed_images_batch`; up to ``max_concurrency`` chunks run at once."""
        decoded = await asyncio.to_thread(self.load_images, images)
        return await self._arun_batched(decoded, self._aembed_decoded, show_progress, "Embedding images")

    def _embed_decoded(self, images: Sequence[Image.Image]) -> list[Embedding]:
        return self._images(list(images))

    async def _aembed_decoded(self, images: Sequence[Image.Image]) -> list[Embedding]:
        return await self._aimages(list(images))

    def _images(self, images: list[Image.Image]) -> list[Embedding]:
        with self._observe("images") as call:
            return call.embedded(self._checked(self._embed_images(images), len(images)))

    async def _aimages(self, images: list[Image.Image]) -> list[Embedding]:
        with self._observe("images") as call:
            return call.embedded(self._checked(await self._aembed_images(images), len(images)))
