"""MaxSim reranking of any retriever's nodes (BM25, dense, a multivec store), text and image nodes alike.

A thin layer over :func:`multivec.rerank.rerank` / :func:`~multivec.rerank.arerank`: candidates are embedded in
chunks of the embedder's ``embed_batch_size`` (the async path runs chunks concurrently) and scored by MaxSim
against the query's token vectors. ``NodeWithScore.score`` becomes the [0, 1] relevance and the raw MaxSim score
goes to ``node.metadata["maxsim_score"]`` (nodes are copied, never mutated).

>>> from llama_index.core.schema import NodeWithScore, TextNode
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from llama_index_multivec import MaxSimRerank
>>> rerank = MaxSimRerank(embedding=DeterministicFakeMultiVectorEmbedding(dim=32), top_n=1)
>>> nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in ["blue cars", "red apples"]]
>>> [n.node.get_content() for n in rerank.postprocess_nodes(nodes, query_str="red apples")]
['red apples']
"""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle

from llama_index_multivec._nodes import check_nodes, image_input, metadata_mode, scored
from llama_index_multivec.embeddings import MultiVectorEmbedding
from multivec._options import boolean, configuration_errors, known_keys, optional_positive_int
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.embeddings.cache import EmbeddingCache, with_cache
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.rerank import Modality, RerankResult, arerank, rerank
from multivec.types import ImageInput

__all__ = ["MaxSimRerank"]


def _one_query(query_bundle: Any, query_str: Any) -> None:
    if query_bundle is not None and query_str is not None:
        raise InvalidInputError("pass the query as query_str or as query_bundle, not both")


class MaxSimRerank(BaseNodePostprocessor):
    """Rerank nodes by MaxSim with a multi-vector model; keep the ``top_n`` best (``None``: keep all, reordered).

    Args:
        embedding: a :mod:`multivec.embeddings` embedder or a :class:`MultiVectorEmbedding`. Image nodes need a
            multimodal one; they are read from ``image`` (base64), ``image_path`` or ``image_url``.
        top_n: how many nodes to return.
        metadata_mode: which text of a text node is scored (``node.get_content(metadata_mode=...)``); the default
            ``EMBED`` matches what :class:`QdrantMultiVectorStore` embeds.
        show_progress: progress bar while embedding candidates.
        cache: keep the candidates' and queries' embeddings in an embedding cache, so a node that comes back for
            another query is not embedded again (``True``, the default: a :class:`~multivec.embeddings.MemoryCache`;
            or any :class:`~multivec.embeddings.EmbeddingCache`; ``False``: none). A
            :class:`MultiVectorEmbedding` brings its own cache.

    Use it in a query engine: ``index.as_query_engine(node_postprocessors=[MaxSimRerank(embedding=..., top_n=3)])``.
    """

    top_n: int | None = Field(default=None, description="Number of nodes to return; None keeps all.")
    metadata_mode: MetadataMode = Field(default=MetadataMode.EMBED)
    show_progress: bool = Field(default=False)

    _embedder: MultiVectorBaseEmbedding = PrivateAttr()

    def __init__(
        self,
        embedding: MultiVectorBaseEmbedding | MultiVectorEmbedding | None = None,
        *,
        cache: EmbeddingCache | bool = True,
        **kwargs: Any,
    ) -> None:
        if embedding is None:
            raise ConfigurationError("MaxSimRerank needs embedding=, a multivec embedder or a MultiVectorEmbedding")
        embedder = embedding.embedder if isinstance(embedding, MultiVectorEmbedding) else embedding
        if not isinstance(embedder, MultiVectorBaseEmbedding):
            raise ConfigurationError(
                f"embedding must be a multivec embedder or a MultiVectorEmbedding, got {type(embedding).__name__}"
            )
        # checked before pydantic, which would wrap our errors (and its own) in a ValidationError
        known_keys(kwargs, type(self).model_fields, "MaxSimRerank")
        if "top_n" in kwargs:
            kwargs["top_n"] = optional_positive_int(kwargs["top_n"], "top_n")
        if "metadata_mode" in kwargs:
            kwargs["metadata_mode"] = metadata_mode(kwargs["metadata_mode"], "metadata_mode")
        if "show_progress" in kwargs:
            kwargs["show_progress"] = boolean(kwargs["show_progress"], "show_progress")
        embedder = with_cache(embedder, cache)
        with configuration_errors("MaxSimRerank"):
            super().__init__(**kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MaxSimRerank"

    @property
    def embedder(self) -> MultiVectorBaseEmbedding:
        """The multi-vector embedder candidates are scored with."""
        return self._embedder

    def _inputs(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[str, list[str | ImageInput], list[Modality]]:
        if query_bundle is None:
            raise InvalidInputError("MaxSimRerank needs the query: pass query_bundle or query_str")
        if not isinstance(query_bundle, QueryBundle) or not isinstance(query_bundle.query_str, str):
            raise InvalidInputError(f"the query must be a str or a QueryBundle, got {query_bundle!r:.80}")
        documents: list[str | ImageInput] = []
        modalities: list[Modality] = []
        for i, nws in enumerate(check_nodes(nodes, NodeWithScore)):
            node = nws.node
            if isinstance(node, ImageNode):
                documents.append(image_input(node, i))
                modalities.append("image")
                continue
            text = node.get_content(metadata_mode=self.metadata_mode)
            if not text.strip():
                raise InvalidInputError(f"nodes[{i}] ({node.node_id!r}) has no text to rerank", index=i)
            documents.append(text)
            modalities.append("text")
        return query_bundle.query_str, documents, modalities

    def postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
        query_str: str | None = None,
    ) -> list[NodeWithScore]:
        """Rerank ``nodes`` for the query (``query_str`` or ``query_bundle``, not both); see the class docstring."""
        _one_query(query_bundle, query_str)
        return super().postprocess_nodes(nodes, query_bundle, query_str)

    async def apostprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
        query_str: str | None = None,
    ) -> list[NodeWithScore]:
        """Async twin of :meth:`postprocess_nodes`."""
        _one_query(query_bundle, query_str)
        return await super().apostprocess_nodes(nodes, query_bundle, query_str)

    @staticmethod
    def _output(nodes: list[NodeWithScore], ranked: list[RerankResult]) -> list[NodeWithScore]:
        return [scored(nodes[r.index].node, r.score, r.relevance) for r in ranked]

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents, modalities = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        ranked = rerank(
            self._embedder,
            query,
            documents,
            modalities=modalities,
            top_n=self.top_n,
            show_progress=self.show_progress,
        )
        return self._output(nodes, ranked)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, documents, modalities = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        ranked = await arerank(
            self._embedder,
            query,
            documents,
            modalities=modalities,
            top_n=self.top_n,
            show_progress=self.show_progress,
        )
        return self._output(nodes, ranked)
