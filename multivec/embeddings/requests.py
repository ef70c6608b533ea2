"""What a flow (:mod:`multivec._flow`) asks of an embedder, as typed requests, and the one place that answers them.

The store, the ingestion flow (:mod:`multivec.items`), the rerankers and explanations yield these requests; the
sync and async drivers answer them with :func:`embed` / :func:`aembed`, which differ only in how they call the
embedder.

>>> from multivec._flow import run_sync
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=8)
>>> def flow():
...     vectors = yield EmbedDocuments(["a text", "another"])
...     return [v.shape[1] for v in vectors]
>>> run_sync(flow(), lambda request: embed(fake, request))
[8, 8]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EmbedDocuments", "EmbedImageQuery", "EmbedImages", "EmbedQuery", "EmbedRequest", "aembed", "embed"]


@dataclass(frozen=True)
class EmbedDocuments:
    """The token vectors of document texts."""

    texts: list[str]
    show_progress: bool = False


@dataclass(frozen=True)
class EmbedImages:
    """The vectors of document images."""

    images: list[Any]
    show_progress: bool = False


@dataclass(frozen=True)
class EmbedQuery:
    """The vectors of a text query."""

    text: str


@dataclass(frozen=True)
class EmbedImageQuery:
    """The vectors of an image query."""

    image: Any


#: What a flow may ask of the embedder.
EmbedRequest = EmbedDocuments | EmbedImages | EmbedQuery | EmbedImageQuery


def embed(embedding: Any, request: EmbedRequest) -> Any:
    """Answer ``request`` with ``embedding`` (any multivec embedder)."""
    match request:
        case EmbedDocuments(texts, show_progress):
            return embedding.embed_documents_batch(texts, show_progress=show_progress)
        case EmbedImages(images, show_progress):
            return embedding.embed_images_batch(images, show_progress=show_progress)
        case EmbedQuery(text):
            return embedding.embed_query(text)
        case EmbedImageQuery(image):
            return embedding.embed_image(image)
    raise TypeError(f"not an embedder request: {request!r}")


async def aembed(embedding: Any, request: EmbedRequest) -> Any:
    """Async twin of :func:`embed`."""
    match request:
        case EmbedDocuments(texts, show_progress):
            return await embedding.aembed_documents_batch(texts, show_progress=show_progress)
        case EmbedImages(images, show_progress):
            return await embedding.aembed_images_batch(images, show_progress=show_progress)
        case EmbedQuery(text):
            return await embedding.aembed_query(text)
        case EmbedImageQuery(image):
            return await embedding.aembed_image(image)
    raise TypeError(f"not an embedder request: {request!r}")
