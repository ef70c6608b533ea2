"""A LlamaIndex retriever doing MaxSim search on a :class:`~llama_index_multivec.QdrantMultiVectorStore`.

It needs no ``VectorStoreIndex``, docstore or ``Settings.embed_model``: the store embeds the query with its
multi-vector model. Text queries retrieve text nodes, image nodes (pages, figures, screenshots embedded by ColPali)
or both (``modality``).

Scores: ``NodeWithScore.score`` is the [0, 1] relevance ``(maxsim / n_query_tokens + 1) / 2`` (comparable across
queries, usable with ``SimilarityPostprocessor(similarity_cutoff=...)``); the raw MaxSim score (sum over query
tokens of the best cosine) is in ``node.metadata["maxsim_score"]``, excluded from what the LLM and embedders see.

>>> from llama_index.core.schema import TextNode
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from llama_index_multivec import MaxSimRetriever, QdrantMultiVectorStore
>>> store = QdrantMultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=32), location=":memory:")
>>> _ = store.add([TextNode(text="red apples"), TextNode(text="blue cars")])
>>> [hit] = MaxSimRetriever(store, similarity_top_k=1).retrieve("red apples")
>>> hit.node.get_content(), round(hit.score, 3), round(hit.node.metadata["maxsim_score"], 3)
('red apples', 1.0, 2.0)
>>> store.close()
"""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, QueryType
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from llama_index_multivec.filters import to_store_filter
from llama_index_multivec.vector_stores import QdrantMultiVectorStore, query_mode, query_options
from multivec._options import boolean, check_filter, choice, number, positive_int
from multivec.errors import ConfigurationError, InvalidInputError

__all__ = ["MaxSimRetriever"]


def _query(query: Any) -> QueryType:
    """A query LlamaIndex can read: a str or a ``QueryBundle`` whose ``query_str`` is a str."""
    if isinstance(query, str) or (isinstance(query, QueryBundle) and isinstance(query.query_str, str)):
        return query
    raise InvalidInputError(f"the query must be a str or a QueryBundle, got {type(query).__name__}")


class MaxSimRetriever(BaseRetriever):
    """Retrieve the ``similarity_top_k`` best nodes by MaxSim from a :class:`QdrantMultiVectorStore`.

    Args:
        vector_store: the store to search.
        similarity_top_k: how many nodes to return.
        filters: LlamaIndex ``MetadataFilters`` on node metadata (see :mod:`llama_index_multivec.filters`).
        modality: ``"text"`` or ``"image"`` to return only text or only image nodes (``ImageNode``); ``None``
            returns both (text→text and text→image retrieval in one ranking).
        mode: ``VectorStoreQueryMode.DEFAULT`` (MaxSim) or ``VectorStoreQueryMode.MMR`` (diversified;
            ``mmr_threshold`` is the relevance/diversity weight, default 0.5).
        search_kwargs: extra store query options: ``exact``, ``prefetch_limit``, ``score_threshold`` (DEFAULT),
            ``fetch_k`` (MMR).

    Every option is checked here: a bad one raises :class:`~multivec.errors.ConfigurationError` naming it, and a
    query that is neither a str nor a ``QueryBundle`` raises :class:`~multivec.errors.InvalidInputError`.
    """

    def __init__(
        self,
        vector_store: QdrantMultiVectorStore,
        *,
        similarity_top_k: int = 4,
        filters: MetadataFilters | None = None,
        modality: Literal["text", "image"] | None = None,
        mode: VectorStoreQueryMode = VectorStoreQueryMode.DEFAULT,
        mmr_threshold: float | None = None,
        search_kwargs: dict[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(vector_store, QdrantMultiVectorStore):
            raise ConfigurationError(
                f"vector_store must be a QdrantMultiVectorStore, got {type(vector_store).__name__}"
            )
        similarity_top_k = positive_int(similarity_top_k, "similarity_top_k")
        choice(modality, "modality", (None, "text", "image"))
        if filters is not None:
            if not isinstance(filters, MetadataFilters):
                raise ConfigurationError(f"filters must be llama_index MetadataFilters, got {type(filters).__name__}")
            check_filter(to_store_filter(filters), "filters", ConfigurationError)
        query_mode_ = query_mode(mode, ConfigurationError)
        if mmr_threshold is not None:
            mmr_threshold = number(mmr_threshold, "mmr_threshold", minimum=0, maximum=1)
        options = query_options(query_mode_, {} if search_kwargs is None else search_kwargs, ConfigurationError)
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise ConfigurationError(
                f"callback_manager must be a CallbackManager, got {type(callback_manager).__name__}"
            )
        super().__init__(callback_manager=callback_manager, verbose=boolean(verbose, "verbose"))
        self._vector_store = vector_store
        self.similarity_top_k = similarity_top_k
        self.filters = filters
        self.modality = modality
        self.mode = query_mode_
        self.mmr_threshold = mmr_threshold
        self.search_kwargs = options

    def retrieve(self, str_or_query_bundle: QueryType) -> list[NodeWithScore]:
        """The ``similarity_top_k`` best nodes for a query (a str or a ``QueryBundle``)."""
        return super().retrieve(_query(str_or_query_bundle))

    async def aretrieve(self, str_or_query_bundle: QueryType) -> list[NodeWithScore]:
        """Async twin of :meth:`retrieve`."""
        return await super().aretrieve(_query(str_or_query_bundle))

    @property
    def vector_store(self) -> QdrantMultiVectorStore:
        """The store this retriever searches."""
        return self._vector_store

    def _query(self, query_bundle: QueryBundle) -> tuple[VectorStoreQuery, dict[str, Any]]:
        query = VectorStoreQuery(
            query_str=query_bundle.query_str,
            similarity_top_k=self.similarity_top_k,
            filters=self.filters,
            mode=self.mode,
            mmr_threshold=self.mmr_threshold,
        )
        kwargs = dict(self.search_kwargs)
        if self.modality is not None:
            kwargs["modality"] = self.modality
        return query, kwargs

    @staticmethod
    def _nodes(result: VectorStoreQueryResult) -> list[NodeWithScore]:
        nodes = result.nodes or []
        scores: list[float | None] = [None] * len(nodes)
        if result.similarities is not None:
            scores = list(result.similarities)
        return [NodeWithScore(node=node, score=score) for node, score in zip(nodes, scores, strict=True)]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query, kwargs = self._query(query_bundle)
        return self._nodes(self._vector_store.query(query, **kwargs))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query, kwargs = self._query(query_bundle)
        return self._nodes(await self._vector_store.aquery(query, **kwargs))
