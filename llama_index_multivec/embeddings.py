"""LlamaIndex embedding model over any multivec embedder.

LlamaIndex validates ``node.embedding`` as one flat ``list[float]``, so :class:`MultiVectorEmbedding` gives
LlamaIndex the **pooled** vector (:func:`multivec.scoring.pool`: mean of the token vectors, L2-normalised), or a
single-vector model's (BiPali's) native vector. That makes it a valid ``Settings.embed_model`` anywhere
(indexes, ingestion pipelines, evaluators). The token vectors themselves (what MaxSim needs) are available through
the ``*_multivector*`` methods and are what :class:`~llama_index_multivec.QdrantMultiVectorStore` stores.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> embed_model = MultiVectorEmbedding(DeterministicFakeMultiVectorEmbedding(dim=16))
>>> len(embed_model.get_query_embedding("red apples"))
16
>>> embed_model.get_query_multivector("red apples").shape
(2, 16)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import BaseNode, ImageType, MetadataMode

from llama_index_multivec._nodes import check_nodes, node_input
from multivec._flow import run_async, run_sync
from multivec._options import configuration_errors, items, known_keys, optional_positive_int
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.embeddings.cache import EmbeddingCache, with_cache
from multivec.embeddings.requests import EmbedDocuments, EmbedImages, EmbedRequest
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.items import Item, embed_items
from multivec.scoring import flat_vector
from multivec.types import Embedding, ImageInput

__all__ = ["MultiVectorEmbedding"]


class MultiVectorEmbedding(MultiModalEmbedding):
    """A LlamaIndex ``MultiModalEmbedding`` whose vectors are the pooled multi-vectors of a multivec embedder.

    ``embedder`` is any :class:`multivec.embeddings.MultiVectorBaseEmbedding` (ColBERT, ColPali, Infinity, the
    deterministic fake …). Image methods need a multimodal embedder and raise
    :class:`~multivec.errors.InvalidInputError` otherwise. ``embed_batch_size`` defaults to the embedder's.

    ``cache``: the embedder is wrapped in a :class:`~multivec.embeddings.CachedEmbeddings` (``True``: a
    :class:`~multivec.embeddings.MemoryCache`; or pass any :class:`~multivec.embeddings.EmbeddingCache`, e.g. a
    ``DiskCache``; ``False``: no cache). A :class:`~llama_index_multivec.QdrantMultiVectorStore` built from this
    object uses the same wrapped embedder, so ``VectorStoreIndex.from_documents`` and ``IngestionPipeline`` encode
    each node once: the pooled vector LlamaIndex stores on the node and the token vectors the store writes come
    from one pass.

    Async methods use the embedder's native async twins (remote embedders do real async I/O; local models run on
    their worker thread, never on the event loop).

    Used as a transformation (``IngestionPipeline(transformations=[..., embed_model])``), ``ImageNode`` s are
    embedded from their image (``image`` base64, ``image_path`` or ``image_url``) and other nodes from their text,
    so image nodes get an embedding and are not dropped by the pipeline.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from llama_index.core import Settings
    >>> Settings.embed_model = MultiVectorEmbedding(DeterministicFakeMultiVectorEmbedding(dim=16))
    >>> round(sum(x * x for x in Settings.embed_model.get_text_embedding("blue cars")), 4)
    1.0
    """

    _embedder: MultiVectorBaseEmbedding = PrivateAttr()

    def __init__(
        self,
        embedder: MultiVectorBaseEmbedding,
        *,
        embed_batch_size: int | None = None,
        callback_manager: CallbackManager | None = None,
        cache: EmbeddingCache | bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(embedder, MultiVectorBaseEmbedding):
            raise ConfigurationError(
                f"embedder must be a multivec embedder (MultiVectorBaseEmbedding), got {type(embedder).__name__}"
            )
        # the pooled vectors LlamaIndex asks for and the token vectors the store writes come from one encoder pass
        embedder = with_cache(embedder, cache)
        # checked before pydantic, which would wrap our errors (and its own) in a ValidationError
        known_keys(kwargs, set(type(self).model_fields) - {"model_name"}, "MultiVectorEmbedding")
        batch_size = optional_positive_int(embed_batch_size, "embed_batch_size")
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise ConfigurationError(
                f"callback_manager must be a CallbackManager, got {type(callback_manager).__name__}"
            )
        with configuration_errors("MultiVectorEmbedding"):
            super().__init__(
                model_name=embedder.model_name,
                embed_batch_size=batch_size or embedder.embed_batch_size,
                callback_manager=callback_manager or CallbackManager([]),
                **kwargs,
            )
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MultiVectorEmbedding"

    @property
    def embedder(self) -> MultiVectorBaseEmbedding:
        """The multivec embedder this model uses (the given one, wrapped in its cache unless ``cache=False``)."""
        return self._embedder

    @property
    def dim(self) -> int:
        """Dimension of the pooled vectors (and of every token vector)."""
        return self._embedder.dim

    def _multimodal(self) -> MultiVectorMultiModalEmbedding:
        if not isinstance(self._embedder, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(
                f"{self._embedder!r} embeds text only; wrap a multimodal embedder (ColPali, Infinity with an image "
                "model, the deterministic fake) to embed images"
            )
        return self._embedder

    # -- pooled single vectors (the LlamaIndex contract) --------------------------------------------------------

    def _get_query_embedding(self, query: str) -> list[float]:
        return flat_vector(self._embedder.embed_query(query))

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return flat_vector(await self._embedder.aembed_query(query))

    def _get_text_embedding(self, text: str) -> list[float]:
        return flat_vector(self._embedder.embed_text(text))

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return flat_vector(await self._embedder.aembed_text(text))

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [flat_vector(e) for e in self._embedder.embed_documents(texts)]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [flat_vector(e) for e in await self._embedder.aembed_documents(texts)]

    def _get_image_embedding(self, img_file_path: ImageType) -> list[float]:
        return flat_vector(self._multimodal().embed_image(img_file_path))

    async def _aget_image_embedding(self, img_file_path: ImageType) -> list[float]:
        return flat_vector(await self._multimodal().aembed_image(img_file_path))

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[list[float]]:
        return [flat_vector(e) for e in self._multimodal().embed_images(img_file_paths)]

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[list[float]]:
        return [flat_vector(e) for e in await self._multimodal().aembed_images(img_file_paths)]

    # -- LlamaIndex's batch entry points, checked before LlamaIndex iterates them ----------------------------------

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[list[float]]:
        """Pooled vectors of ``texts`` in chunks of ``embed_batch_size``."""
        return super().get_text_embedding_batch(items(texts, "texts"), show_progress, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[list[float]]:
        """Async twin of :meth:`get_text_embedding_batch`."""
        return await super().aget_text_embedding_batch(items(texts, "texts"), show_progress, **kwargs)

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[list[float]]:
        """Pooled vectors of images in chunks of ``embed_batch_size`` (multimodal embedders)."""
        return super().get_image_embedding_batch(items(img_file_paths, "img_file_paths"), show_progress)

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[list[float]]:
        """Async twin of :meth:`get_image_embedding_batch`."""
        return await super().aget_image_embedding_batch(items(img_file_paths, "img_file_paths"), show_progress)

    # -- multi-vectors ------------------------------------------------------------------------------------------

    def get_query_multivector(self, query: str) -> Embedding:
        """Token vectors of a query: float32 ``(n_tokens, dim)`` (``(dim,)`` for single-vector models)."""
        return self._embedder.embed_query(query)

    async def aget_query_multivector(self, query: str) -> Embedding:
        """Async twin of :meth:`get_query_multivector`."""
        return await self._embedder.aembed_query(query)

    def get_text_multivector_batch(self, texts: Sequence[str], show_progress: bool = False) -> list[Embedding]:
        """Token vectors of document texts, chunked by the embedder's ``embed_batch_size``."""
        return self._embedder.embed_documents_batch(texts, show_progress=show_progress)

    async def aget_text_multivector_batch(self, texts: Sequence[str], show_progress: bool = False) -> list[Embedding]:
        """Async twin of :meth:`get_text_multivector_batch`."""
        return await self._embedder.aembed_documents_batch(texts, show_progress=show_progress)

    def get_image_multivector_batch(self, images: Sequence[ImageInput], show_progress: bool = False) -> list[Embedding]:
        """Patch vectors of images (paths, bytes, BytesIO, PIL images or data URIs)."""
        return self._multimodal().embed_images_batch(images, show_progress=show_progress)

    async def aget_image_multivector_batch(
        self, images: Sequence[ImageInput], show_progress: bool = False
    ) -> list[Embedding]:
        """Async twin of :meth:`get_image_multivector_batch`."""
        return await self._multimodal().aembed_images_batch(images, show_progress=show_progress)

    # -- as a transformation: image nodes are embedded from their image ------------------------------------------

    def _items(self, nodes: Any) -> tuple[list[BaseNode], list[Item]]:
        nodes = check_nodes(nodes)
        items = []
        for i, node in enumerate(nodes):
            modality, content = node_input(node, i, MetadataMode.EMBED)
            if modality == "image":
                self._multimodal()
            items.append(Item(content, modality, label=f"nodes[{i}]"))
        return nodes, items

    # the transformation embeds through LlamaIndex's own batch methods (its callbacks and instrumentation see them)

    def _send(self, request: EmbedRequest, show_progress: bool) -> list[list[float]]:
        if isinstance(request, EmbedImages):
            return self.get_image_embedding_batch(request.images, show_progress=show_progress)
        assert isinstance(request, EmbedDocuments)
        return self.get_text_embedding_batch(request.texts, show_progress=show_progress)

    async def _asend(self, request: EmbedRequest, show_progress: bool) -> list[list[float]]:
        if isinstance(request, EmbedImages):
            return await self.aget_image_embedding_batch(request.images, show_progress=show_progress)
        assert isinstance(request, EmbedDocuments)
        return await self.aget_text_embedding_batch(request.texts, show_progress=show_progress)

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        nodes, items = self._items(nodes)
        show = bool(kwargs.get("show_progress", False))
        vectors = run_sync(embed_items(items), functools.partial(self._send, show_progress=show))
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = list(vector)
        return nodes

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        nodes, items = self._items(nodes)
        show = bool(kwargs.get("show_progress", False))
        vectors = await run_async(embed_items(items), functools.partial(self._asend, show_progress=show))
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = list(vector)
        return nodes
