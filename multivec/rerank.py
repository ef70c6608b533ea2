"""MaxSim reranking of candidates from any retriever (BM25, dense, a multivec store).

Both framework adapters' rerankers are thin layers over :func:`rerank` / :func:`arerank`.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=32)
>>> ranked = rerank(fake, "red apples", ["blue cars", "red apples", "green pears"], top_n=1)
>>> [r.index for r in ranked]
[1]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import InvalidInputError
from multivec.scoring import maxsim_many, relevance
from multivec.types import Embedding, ImageInput

__all__ = ["RerankResult", "arerank", "rerank"]

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class RerankResult:
    """One reranked candidate: its position in the input, raw MaxSim score and [0, 1] relevance."""

    index: int
    score: float
    relevance: float


def _split(
    embedding: MultiVectorBaseEmbedding,
    documents: Sequence[str | ImageInput],
    modalities: Sequence[Modality] | None,
) -> tuple[list[int], list[str], list[int], list[ImageInput]]:
    if modalities is None:
        modalities = ["text"] * len(documents)
    if len(modalities) != len(documents):
        raise InvalidInputError(
            f"got {len(documents)} documents but {len(modalities)} modalities; pass one per document"
        )
    text_pos: list[int] = []
    texts: list[str] = []
    image_pos: list[int] = []
    images: list[ImageInput] = []
    for i, (doc, modality) in enumerate(zip(documents, modalities, strict=True)):
        if modality == "text":
            if not isinstance(doc, str):
                raise InvalidInputError(f"documents[{i}] is marked text but is {type(doc).__name__}", index=i)
            text_pos.append(i)
            texts.append(doc)
        elif modality == "image":
            if not isinstance(embedding, MultiVectorMultiModalEmbedding):
                raise InvalidInputError(
                    f"documents[{i}] is an image but {embedding!r} embeds text only; use a multimodal embedder",
                    index=i,
                )
            image_pos.append(i)
            images.append(doc)
        else:
            raise InvalidInputError(f"modalities[{i}] is {modality!r}; use 'text' or 'image'", index=i)
    return text_pos, texts, image_pos, images


def _rank(
    query_vectors: Embedding,
    n_docs: int,
    positions: list[list[int]],
    vectors: list[list[Embedding]],
    top_n: int | None,
) -> list[RerankResult]:
    scores = np.empty(n_docs, dtype=np.float32)
    for pos, vecs in zip(positions, vectors, strict=True):
        if pos:
            scores[pos] = maxsim_many(query_vectors, vecs)
    n_query_tokens = int(np.atleast_2d(query_vectors).shape[0])
    order = np.argsort(-scores, kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [RerankResult(int(i), float(scores[i]), relevance(float(scores[i]), n_query_tokens)) for i in order]


def _check_top_n(top_n: int | None) -> None:
    if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
        raise InvalidInputError(f"top_n must be a positive int or None, got {top_n!r}")


def rerank(
    embedding: MultiVectorBaseEmbedding,
    query: str,
    documents: Sequence[str | ImageInput],
    *,
    modalities: Sequence[Modality] | None = None,
    top_n: int | None = None,
    show_progress: bool = False,
) -> list[RerankResult]:
    """Score ``documents`` against ``query`` by MaxSim and return them best first (at most ``top_n``).

    ``documents`` are texts, or images where ``modalities`` says ``"image"``. Candidates are embedded in chunks of
    the embedder's ``embed_batch_size``; ties keep the input order.
    """
    _check_top_n(top_n)
    text_pos, texts, image_pos, images = _split(embedding, documents, modalities)
    query_vectors = embedding.embed_query(query)
    text_vectors = embedding.embed_documents_batch(texts, show_progress=show_progress) if texts else []
    image_vectors: list[Embedding] = []
    if images:
        assert isinstance(embedding, MultiVectorMultiModalEmbedding)
        image_vectors = embedding.embed_images_batch(images, show_progress=show_progress)
    return _rank(query_vectors, len(documents), [text_pos, image_pos], [text_vectors, image_vectors], top_n)


async def arerank(
    embedding: MultiVectorBaseEmbedding,
    query: str,
    documents: Sequence[str | ImageInput],
    *,
    modalities: Sequence[Modality] | None = None,
    top_n: int | None = None,
    show_progress: bool = False,
) -> list[RerankResult]:
    """Async twin of :func:`rerank`; the query and the candidate chunks are embedded concurrently."""
    _check_top_n(top_n)
    text_pos, texts, image_pos, images = _split(embedding, documents, modalities)

    async def embed_images() -> list[Embedding]:
        if not images:
            return []
        assert isinstance(embedding, MultiVectorMultiModalEmbedding)
        return await embedding.aembed_images_batch(images, show_progress=show_progress)

    async def embed_texts() -> list[Embedding]:
        return await embedding.aembed_documents_batch(texts, show_progress=show_progress) if texts else []

    query_vectors, text_vectors, image_vectors = await asyncio.gather(
        embedding.aembed_query(query), embed_texts(), embed_images()
    )
    return _rank(query_vectors, len(documents), [text_pos, image_pos], [text_vectors, image_vectors], top_n)
