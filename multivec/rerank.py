"""MaxSim reranking of candidates from any retriever (BM25, dense, a multivec store).

Both framework adapters' rerankers are thin layers over :func:`rerank` / :func:`arerank`.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=32)
>>> ranked = rerank(fake, "red apples", ["blue cars", "red apples", "green pears"], top_n=1)
>>> [r.index for r in ranked]
[1]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from multivec._flow import Concurrently, Flow, run_async, run_sync
from multivec._options import items as as_list
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.embeddings.requests import EmbedQuery, aembed, embed
from multivec.errors import InvalidInputError
from multivec.items import MODALITIES, Item, Modality, check_items, embed_items
from multivec.scoring import maxsim_many, relevance
from multivec.types import ImageInput

__all__ = ["RerankResult", "arerank", "rerank"]


@dataclass(frozen=True)
class RerankResult:
    """One reranked candidate: its position in the input, raw MaxSim score and [0, 1] relevance."""

    index: int
    score: float
    relevance: float


def _items(
    embedding: MultiVectorBaseEmbedding,
    documents: Sequence[str | ImageInput],
    modalities: Sequence[Modality] | None,
) -> list[Item]:
    if isinstance(documents, str | bytes):
        raise InvalidInputError("documents must be a list; wrap a single document in a list")
    documents = as_list(documents, "documents")
    if modalities is None:
        modalities = ["text"] * len(documents)
    if len(modalities) != len(documents):
        raise InvalidInputError(
            f"got {len(documents)} documents but {len(modalities)} modalities; pass one per document"
        )
    out = []
    for i, (doc, modality) in enumerate(zip(documents, modalities, strict=True)):
        if modality not in MODALITIES:
            raise InvalidInputError(f"modalities[{i}] is {modality!r}; use 'text' or 'image'", index=i)
        if modality == "text" and not isinstance(doc, str):
            raise InvalidInputError(f"documents[{i}] is marked text but is {type(doc).__name__}", index=i)
        out.append(Item(doc, modality, id=i, label=f"documents[{i}]"))
    return check_items(out, embedding)


def _check_top_n(top_n: int | None) -> None:
    if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
        raise InvalidInputError(f"top_n must be a positive int or None, got {top_n!r}")


def _rerank_flow(
    embedding: MultiVectorBaseEmbedding,
    query: str,
    documents: Sequence[str | ImageInput],
    modalities: Sequence[Modality] | None,
    top_n: int | None,
    show_progress: bool,
) -> Flow[list[RerankResult]]:
    _check_top_n(top_n)
    items = _items(embedding, documents, modalities)
    query_vectors, vectors = yield Concurrently((EmbedQuery(query), embed_items(items, show_progress=show_progress)))
    scores = maxsim_many(query_vectors, vectors)
    n_query_tokens = int(np.atleast_2d(query_vectors).shape[0])
    order = np.argsort(-scores, kind="stable")
    if top_n is not None:
        order = order[:top_n]
    return [RerankResult(int(i), float(scores[i]), relevance(float(scores[i]), n_query_tokens)) for i in order]


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

    ``documents`` are texts, or images where ``modalities`` says ``"image"``; they are checked and embedded like
    stored items (:mod:`multivec.items`), in chunks of the embedder's ``embed_batch_size``; ties keep the input
    order.
    """
    flow = _rerank_flow(embedding, query, documents, modalities, top_n, show_progress)
    return run_sync(flow, functools.partial(embed, embedding))


async def arerank(
    embedding: MultiVectorBaseEmbedding,
    query: str,
    documents: Sequence[str | ImageInput],
    *,
    modalities: Sequence[Modality] | None = None,
    top_n: int | None = None,
    show_progress: bool = False,
) -> list[RerankResult]:
    """Async twin of :func:`rerank`; the query and the candidates are embedded concurrently."""
    flow = _rerank_flow(embedding, query, documents, modalities, top_n, show_progress)
    return await run_async(flow, functools.partial(aembed, embedding))
