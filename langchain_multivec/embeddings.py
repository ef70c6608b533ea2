"""Drop-in LangChain ``Embeddings`` for every multivec embedder.

:class:`MultiVectorEmbeddings` wraps any core embedder (:mod:`multivec.embeddings`: ColBERT, ColPali, BiPali,
Infinity, the deterministic fake) and speaks two languages at once:

- **LangChain's contract** — ``embed_documents`` / ``embed_query`` (and their async twins) return one flat
  ``list[float]`` per text, so the object works in *any* LangChain vector store, cache or chain. Multi-vector models
  give the L2-normalised mean of their token vectors (:func:`multivec.scoring.pool`); single-vector models (BiPali)
  give their native vector.
- **The multi-vector view** — ``embed_documents_multi``, ``embed_query_multi`` and ``embed_images`` (plus async
  twins) return the token vectors as float32 numpy arrays of shape ``(n_tokens, dim)``, which is what
  :class:`~langchain_multivec.QdrantMultiVectorStore` stores and scores by MaxSim.

Async methods call the core's native async methods (HTTP for Infinity, a per-model worker thread for local models);
they never wrap the sync ones in an executor.

>>> from langchain_multivec import MultiVectorEmbeddings
>>> emb = MultiVectorEmbeddings.fake(dim=8)
>>> vector = emb.embed_query("red apples")
>>> len(vector), type(vector[0]).__name__
(8, 'float')
>>> emb.embed_query_multi("red apples").shape
(2, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from multivec._options import boolean
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.embeddings.factory import make_embedder
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import flat_vector
from multivec.types import Embedding, ImageInput

__all__ = ["MultiVectorEmbeddings", "as_core_embedder"]


class MultiVectorEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over a multivec embedder (see the module docstring for the two views).

    Args:
        embedder: any :class:`multivec.embeddings.MultiVectorBaseEmbedding` (ColBERT, ColPali, BiPali, Infinity, the
            deterministic fake). ``embed_documents`` embeds in chunks of its ``embed_batch_size``; the async
            twins run up to its ``max_concurrency`` chunks at once.
        show_progress: show a progress bar while embedding many documents or images.

    Texts must be non-empty: an empty or whitespace-only text raises :class:`multivec.errors.InvalidInputError`
    (a ``ValueError``) naming its position, before anything is embedded.

    :meth:`create` builds the core embedder by name for you (:meth:`fake` is a shortcut for tests)::

        emb = MultiVectorEmbeddings.create("colbert", "colbert-ir/colbertv2.0")
        emb = MultiVectorEmbeddings.create("infinity", "vidore/colpali-v1.3-merged", url="http://127.0.0.1:7997")

    >>> emb = MultiVectorEmbeddings.fake(dim=16)
    >>> [len(v) for v in emb.embed_documents(["one text", "another one"])]
    [16, 16]
    >>> [m.shape for m in emb.embed_documents_multi(["one text", "another one"])]
    [(2, 16), (2, 16)]
    """

    def __init__(self, embedder: MultiVectorBaseEmbedding, *, show_progress: bool = False) -> None:
        if isinstance(embedder, MultiVectorEmbeddings):
            embedder = embedder.embedder
        if not isinstance(embedder, MultiVectorBaseEmbedding):
            raise ConfigurationError(
                f"embedder must be a multivec embedder (multivec.embeddings.*), got {type(embedder).__name__}; "
                "e.g. MultiVectorEmbeddings(ColBERTEmbeddings(...)) or MultiVectorEmbeddings.create('colbert')"
            )
        self.embedder = embedder
        self.show_progress = boolean(show_progress, "show_progress")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.embedder!r})"

    # -- convenience constructors -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        kind: str = "colbert",
        model: str | None = None,
        url: str | None = None,
        *,
        show_progress: bool = False,
        **options: Any,
    ) -> MultiVectorEmbeddings:
        """Build the core embedder named ``kind`` (``colbert``, ``colpali``, ``bipali``, ``infinity``, ``fake``) with
        :func:`multivec.embeddings.factory.make_embedder` and wrap it; ``options`` go to its constructor."""
        return cls(make_embedder(kind, model, url, **options), show_progress=show_progress)

    @classmethod
    def fake(cls, dim: int = 64, **options: Any) -> MultiVectorEmbeddings:
        """Wrap a :class:`~multivec.embeddings.DeterministicFakeMultiVectorEmbedding` (tests, examples)."""
        return cls.create("fake", dim=dim, **options)

    # -- facts about the model ----------------------------------------------------------------------------------

    @property
    def is_multi_vector(self) -> bool:
        """``False`` for single-vector models (BiPali), whose "multi-vectors" are ``(dim,)`` arrays."""
        return self.embedder.is_multi_vector

    @property
    def dim(self) -> int:
        """Size of every vector (and of every row of a multi-vector)."""
        return self.embedder.dim

    @property
    def model_name(self) -> str:
        """The wrapped embedder's model name."""
        return self.embedder.model_name

    @property
    def supports_images(self) -> bool:
        """Whether the wrapped embedder embeds images (ColPali, ColQwen2, BiPali, Infinity, the fake)."""
        return isinstance(self.embedder, MultiVectorMultiModalEmbedding)

    def _multimodal(self) -> MultiVectorMultiModalEmbedding:
        if not isinstance(self.embedder, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(
                f"{self.embedder!r} embeds text only; use a multimodal embedder (ColPali, BiPali, Infinity) for images"
            )
        return self.embedder

    # -- LangChain's single-vector contract -----------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One flat vector per text: the pooled token vectors (multi-vector models) or the native vector."""
        return [flat_vector(e) for e in self.embed_documents_multi(texts)]

    def embed_query(self, text: str) -> list[float]:
        """One flat vector for a query (query-side encoding where the model has one)."""
        return flat_vector(self.embedder.embed_query(text))

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents` (native async of the core embedder)."""
        return [flat_vector(e) for e in await self.aembed_documents_multi(texts)]

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query` (native async of the core embedder)."""
        return flat_vector(await self.embedder.aembed_query(text))

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """One flat (pooled) vector per image file, in the ``embed_image(uris=...)`` convention of LangChain stores
        with image support (e.g. ``Chroma.add_images``)."""
        return [flat_vector(e) for e in self.embed_images(uris)]

    # -- the multi-vector view ------------------------------------------------------------------------------------

    def embed_documents_multi(self, texts: Sequence[str]) -> list[Embedding]:
        """The token vectors of each text: float32 arrays ``(n_tokens, dim)`` (``(dim,)`` for single-vector models)."""
        return self.embedder.embed_documents_batch(texts, show_progress=self.show_progress)

    async def aembed_documents_multi(self, texts: Sequence[str]) -> list[Embedding]:
        """Async twin of :meth:`embed_documents_multi`."""
        return await self.embedder.aembed_documents_batch(texts, show_progress=self.show_progress)

    def embed_query_multi(self, text: str) -> Embedding:
        """The token vectors of a query, as used for MaxSim search."""
        return self.embedder.embed_query(text)

    async def aembed_query_multi(self, text: str) -> Embedding:
        """Async twin of :meth:`embed_query_multi`."""
        return await self.embedder.aembed_query(text)

    def embed_images(self, images: Sequence[ImageInput]) -> list[Embedding]:
        """The patch vectors of each image (path, bytes, ``BytesIO`` or PIL image); multimodal embedders only."""
        return self._multimodal().embed_images_batch(images, show_progress=self.show_progress)

    async def aembed_images(self, images: Sequence[ImageInput]) -> list[Embedding]:
        """Async twin of :meth:`embed_images`."""
        return await self._multimodal().aembed_images_batch(images, show_progress=self.show_progress)


def as_core_embedder(embedding: MultiVectorEmbeddings | MultiVectorBaseEmbedding) -> MultiVectorBaseEmbedding:
    """The core embedder behind ``embedding`` (a :class:`MultiVectorEmbeddings` or a core embedder itself).

    Any other LangChain ``Embeddings`` is rejected: MaxSim needs one vector per token, which a single-vector
    LangChain model cannot give.
    """
    if isinstance(embedding, MultiVectorEmbeddings):
        return embedding.embedder
    if isinstance(embedding, MultiVectorBaseEmbedding):
        return embedding
    raise ConfigurationError(
        f"expected a multivec embedder or a MultiVectorEmbeddings, got {type(embedding).__name__}; MaxSim needs "
        "token vectors, so wrap a multivec embedder, e.g. MultiVectorEmbeddings.create('colbert', 'colbert-ir/colbertv2.0')"
    )
