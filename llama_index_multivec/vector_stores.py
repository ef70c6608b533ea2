"""A LlamaIndex vector store doing late-interaction (MaxSim) retrieval over :class:`multivec.store.MultiVectorStore`.

LlamaIndex nodes carry one flat vector, so this store does its own embedding: ``add`` embeds each node's content
into token vectors with the store's multi-vector model, and ``query`` embeds ``query_str`` the same way
(``is_embedding_query = False``: LlamaIndex's retrievers hand the store the query text and no embedding). Any
``node.embedding`` LlamaIndex computed beforehand is ignored.

>>> from llama_index.core import Settings, VectorStoreIndex
>>> from llama_index.core.schema import TextNode
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore
>>> embedder = DeterministicFakeMultiVectorEmbedding(dim=32)
>>> Settings.embed_model = MultiVectorEmbedding(embedder)
>>> store = QdrantMultiVectorStore(embedder, location=":memory:")
>>> store.add([TextNode(text="red apples", id_="a"), TextNode(text="blue cars", id_="b")])
['a', 'b']
>>> retriever = VectorStoreIndex.from_vector_store(store).as_retriever(similarity_top_k=1)
>>> [n.node.get_content() for n in retriever.retrieve("apples")]
['red apples']
>>> store.close()
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from llama_index_multivec._nodes import hit_to_node, metadata_mode, nodes_to_items, record_to_node
from llama_index_multivec.embeddings import MultiVectorEmbedding
from llama_index_multivec.filters import to_store_filter
from multivec._closing import Closing
from multivec._options import ErrorType, configuration_errors, items, number, positive_int, search_options
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.explain import Explanation, aexplain_record, explain_record
from multivec.pdf import DEFAULT_DPI
from multivec.store import Hit, MultiVectorStore, Record
from multivec.store.hybrid import MAX_HYBRID_WEIGHT
from multivec.store.options import mirrors_store_options
from multivec.types import Embedding

__all__ = ["QdrantMultiVectorStore"]

_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR, VectorStoreQueryMode.HYBRID)
#: The ``query`` kwargs each supported mode takes.
_QUERY_KWARGS = {
    VectorStoreQueryMode.DEFAULT: ("exact", "prefetch_limit", "score_threshold", "modality"),
    VectorStoreQueryMode.MMR: ("fetch_k", "modality"),
    VectorStoreQueryMode.HYBRID: ("exact", "prefetch_limit", "score_threshold", "modality", "hybrid_fusion"),
}
#: Node metadata key of a hybrid hit's score parts (:class:`multivec.store.hybrid.HybridScores` as a dict).
HYBRID_SCORES_KEY = "hybrid_scores"
DEFAULT_MMR_LAMBDA = 0.5


def _core_embedder(embedding: MultiVectorBaseEmbedding | MultiVectorEmbedding) -> MultiVectorBaseEmbedding:
    embedder = embedding.embedder if isinstance(embedding, MultiVectorEmbedding) else embedding
    if not isinstance(embedder, MultiVectorBaseEmbedding):
        raise ConfigurationError(
            f"embedding must be a multivec embedder or a MultiVectorEmbedding, got {type(embedding).__name__}"
        )
    return embedder


def query_mode(mode: Any, error: ErrorType = InvalidInputError) -> VectorStoreQueryMode:
    """``mode`` as a supported ``VectorStoreQueryMode`` (``DEFAULT`` or ``MMR``, enum or its value), else ``error``."""
    try:
        parsed = VectorStoreQueryMode(mode)
    except ValueError:
        parsed = None
    if parsed not in _MODES:
        raise error(
            f"query mode {mode!r} is not supported by QdrantMultiVectorStore; use "
            "VectorStoreQueryMode.DEFAULT (MaxSim), VectorStoreQueryMode.HYBRID (BM25 fused with MaxSim) or "
            "VectorStoreQueryMode.MMR"
        )
    return parsed


def query_options(mode: VectorStoreQueryMode, kwargs: Any, error: ErrorType = InvalidInputError) -> dict[str, Any]:
    """The ``query`` kwargs (``exact``, ``prefetch_limit``, ``score_threshold``, ``fetch_k``, ``modality``) checked
    for ``mode``: names and values, else ``error`` naming the option."""
    return search_options(kwargs, _QUERY_KWARGS[mode], f"query (mode {mode.value!r})", error)


def _all_of(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """The store filter matching every given one (``None`` ones ignored)."""
    given = [f for f in filters if f is not None]
    if len(given) <= 1:
        return given[0] if given else None
    return {"$and": given}


def _node_id(node: BaseNode | NodeWithScore | str) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, NodeWithScore):
        return node.node.node_id
    if isinstance(node, BaseNode):
        return node.node_id
    raise InvalidInputError(f"node is {type(node).__name__}; pass a node from this store (or NodeWithScore) or its id")


@dataclass(frozen=True)
class _Search:
    """One store search, built once and sent by the sync or the async path."""

    method: str  # "search" or "mmr_search" (the async twin is "a" + method)
    query: str | Embedding
    kwargs: dict[str, Any]


def hybrid_alpha_weight(alpha: Any) -> float | None:
    """The lexical weight (MaxSim weighs 1) of LlamaIndex's ``alpha`` (1: vector only, 0: keyword only):
    ``(1 - alpha) / alpha``, at most :data:`~multivec.store.hybrid.MAX_HYBRID_WEIGHT`; ``None``: the store's.

    >>> hybrid_alpha_weight(0.5), hybrid_alpha_weight(0.8), hybrid_alpha_weight(1.0), hybrid_alpha_weight(None)
    (1.0, 0.25, 0.0, None)
    """
    if alpha is None:
        return None
    value = number(alpha, "alpha", minimum=0, maximum=1, error=InvalidInputError)
    return MAX_HYBRID_WEIGHT if value == 0 else min(MAX_HYBRID_WEIGHT, round((1 - value) / value, 12))


def _with_parts(node: NodeWithScore, hit: Hit) -> NodeWithScore:
    """``node`` with a hybrid hit's score parts under :data:`HYBRID_SCORES_KEY` (hidden from LLMs and embedders)."""
    if hit.hybrid is None:
        return node
    inner = node.node
    inner.metadata[HYBRID_SCORES_KEY] = asdict(hit.hybrid)
    for keys in (inner.excluded_embed_metadata_keys, inner.excluded_llm_metadata_keys):
        if HYBRID_SCORES_KEY not in keys:
            keys.append(HYBRID_SCORES_KEY)
    return node


def _result(hits: Sequence[Hit]) -> VectorStoreQueryResult:
    scored: list[NodeWithScore] = [_with_parts(hit_to_node(hit), hit) for hit in hits]
    return VectorStoreQueryResult(
        nodes=[s.node for s in scored],
        similarities=[float(s.score or 0.0) for s in scored],
        ids=[s.node.node_id for s in scored],
    )


class QdrantMultiVectorStore(Closing, BasePydanticVectorStore):
    """LlamaIndex vector store over a multivec :class:`~multivec.store.MultiVectorStore` (MaxSim on Qdrant).

    Args:
        embedding: the multi-vector model, a :mod:`multivec.embeddings` embedder or a :class:`MultiVectorEmbedding`
            (its wrapped embedder is used). Image nodes need a multimodal one (ColPali, Infinity, the fake).
        collection_name: the Qdrant collection.
        **options: every option of :class:`~multivec.store.MultiVectorStore`, passed through unchanged (the
            signature lists them): where the collection lives (``path`` for a qdrant-edge directory — without it
            a temporary one; ``url``/``api_key``, ``host``/``port``/``https``/``prefer_grpc``/``timeout``, or your own
            ``client=``/``aclient=`` for a Qdrant server, as in the LlamaIndex Qdrant store; ``location=":memory:"``
            for tests), ``create_collection=False`` to require an existing collection, search and storage settings
            (``prefetch_limit``, ``multivector_datatype``, ``filterable_fields``...) and backend collection
            options. Declare metadata keys you filter on in ``filterable_fields`` for a payload index
            (``{"year": "integer", "body": "text"}``); filtering works without it.
        text_metadata_mode: what text of a ``TextNode`` is embedded: ``node.get_content(metadata_mode=...)``.
            The default ``MetadataMode.EMBED`` is what every LlamaIndex embedding sees (the text plus the metadata
            not in ``excluded_embed_metadata_keys``); ``MetadataMode.NONE`` embeds the bare text.

    What is stored: the node's token vectors, its bare text as the record's content (image nodes: their path or
    URL) and the whole serialised node (relationships, metadata, image fields) in the record's metadata next to
    the node's own metadata keys and ``doc_id`` / ``ref_doc_id``, so nodes round-trip through ``get_nodes`` and
    ``query``, ``delete(ref_doc_id)`` works, and filters address node metadata keys directly.

    Scores: ``VectorStoreQueryResult.similarities`` (and so ``NodeWithScore.score``) are the [0, 1] relevance
    ``(maxsim / n_query_tokens + 1) / 2``; the raw MaxSim score is in ``node.metadata["maxsim_score"]`` (hidden
    from the LLM and embedders).

    Query modes: ``DEFAULT`` (two-stage: prefetch on pooled vectors, MaxSim rerank), ``HYBRID`` (BM25 over the
    stored text fused with MaxSim, :mod:`multivec.store.hybrid`: ``alpha`` weighs MaxSim against BM25 as in
    LlamaIndex, 1 vector only, 0.5 equal, mapped to the lexical weight ``(1 - alpha) / alpha``; left out, the
    store's ``hybrid_weight``; ``sparse_top_k`` is the candidates of each side, ``hybrid_fusion`` kwarg; scores are
    the fused relevance and ``node.metadata["hybrid_scores"]`` holds the parts) and ``MMR`` (``mmr_threshold``
    is the relevance/diversity weight ``lambda_mult``, default 0.5; ``fetch_k`` kwarg, default 20). Other modes
    raise :class:`~multivec.errors.InvalidInputError`. ``query`` kwargs (also through
    ``as_retriever(vector_store_kwargs={...})``): ``exact``, ``prefetch_limit``, ``score_threshold`` (see
    :meth:`MultiVectorStore.search`), ``fetch_k`` for MMR, and ``modality="text"|"image"`` to search only text
    or only image nodes.

    Every method has an async twin (``async_add``, ``aquery``, ``adelete``, ``adelete_nodes``, ``aget_nodes``,
    ``aclear``) using the store's native async path.
    """

    stores_text: bool = True
    is_embedding_query: bool = False
    flat_metadata: bool = False

    collection_name: str
    text_metadata_mode: MetadataMode = MetadataMode.EMBED

    _store: MultiVectorStore = PrivateAttr()
    _embedder: MultiVectorBaseEmbedding = PrivateAttr()

    @mirrors_store_options(
        inspect.Parameter("text_metadata_mode", inspect.Parameter.KEYWORD_ONLY, default=MetadataMode.EMBED),
        inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, default=None),
    )
    def __init__(
        self,
        embedding: MultiVectorBaseEmbedding | MultiVectorEmbedding,
        collection_name: str = "multivec",
        *,
        text_metadata_mode: MetadataMode = MetadataMode.EMBED,
        store: MultiVectorStore | None = None,
        **options: Any,
    ) -> None:
        embedder = _core_embedder(embedding)
        mode = metadata_mode(text_metadata_mode, "text_metadata_mode")
        if store is not None and not isinstance(store, MultiVectorStore):
            raise ConfigurationError(f"store must be a multivec MultiVectorStore, got {type(store).__name__}")
        if store is None:
            store = MultiVectorStore(embedder, collection_name, **options)
        elif options:
            raise ConfigurationError(
                f"store= is a store already built; give {', '.join(sorted(options))} to it when you build it"
            )
        fields: dict[str, Any] = {"collection_name": collection_name, "text_metadata_mode": mode}
        with configuration_errors("QdrantMultiVectorStore"):
            super().__init__(**fields)
        self._store = store
        self._embedder = embedder

    @classmethod
    def from_store(
        cls, store: MultiVectorStore, *, text_metadata_mode: MetadataMode = MetadataMode.EMBED
    ) -> QdrantMultiVectorStore:
        """Wrap an existing :class:`~multivec.store.MultiVectorStore` (e.g. one a LangChain store also uses)."""
        if not isinstance(store, MultiVectorStore):
            raise InvalidInputError(f"store must be a multivec.store.MultiVectorStore, got {type(store).__name__}")
        return cls(store.embedding, store.collection_name, store=store, text_metadata_mode=text_metadata_mode)

    @classmethod
    def class_name(cls) -> str:
        return "QdrantMultiVectorStore"

    @property
    def client(self) -> MultiVectorStore:
        """The underlying :class:`~multivec.store.MultiVectorStore`."""
        return self._store

    @property
    def store(self) -> MultiVectorStore:
        """The underlying :class:`~multivec.store.MultiVectorStore`."""
        return self._store

    @property
    def embedder(self) -> MultiVectorBaseEmbedding:
        """The multi-vector embedder nodes and queries are embedded with."""
        return self._embedder

    def close(self) -> None:
        """Close the underlying store (releases an embedded store's directory lock)."""
        self._store.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self._store.aclose()

    # -- add ----------------------------------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Embed ``nodes`` (texts and images) with the store's model and upsert them; returns their node ids.

        Everything is validated and embedded before anything is written, and written at once
        (:meth:`multivec.store.MultiVectorStore.add_items`). Re-adding a node id overwrites it.
        """
        items = nodes_to_items(nodes, self.text_metadata_mode)
        return self._store.add_items(items, show_progress=add_kwargs.get("show_progress"))

    def add_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        dpi: float = DEFAULT_DPI,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add every page of every PDF (:meth:`multivec.store.MultiVectorStore.add_pdfs`) and return the page node ids.

        A multimodal embedder (ColPali, ColQwen2, Infinity) indexes the rendered pages: they come back as
        ``ImageNode`` with ``file_path``, ``page_label`` (1-based) and the text layer (``page_text``) in their
        metadata; a text-only
        one (ColBERT) indexes each page's text layer as a ``TextNode``. ``metadatas`` gives one dict per PDF;
        adding the same file again replaces its pages. Needs the ``pdf`` extra (pypdfium2).
        """
        return self._store.add_pdfs(paths, dpi=dpi, metadatas=metadatas)

    async def aadd_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        dpi: float = DEFAULT_DPI,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_pdfs`."""
        return await self._store.aadd_pdfs(paths, dpi=dpi, metadatas=metadatas)

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Async twin of :meth:`add`; texts and images are embedded concurrently."""
        items = nodes_to_items(nodes, self.text_metadata_mode)
        return await self._store.aadd_items(items, show_progress=add_kwargs.get("show_progress"))

    # -- delete -------------------------------------------------------------------------------------------------

    @staticmethod
    def _ref_doc_filter(ref_doc_id: str) -> dict[str, Any]:
        if not isinstance(ref_doc_id, str) or not ref_doc_id:
            raise InvalidInputError(f"ref_doc_id must be a non-empty string, got {ref_doc_id!r}")
        return {"ref_doc_id": ref_doc_id}

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node whose ``ref_doc_id`` (source document) is ``ref_doc_id``."""
        self._store.delete(filter=self._ref_doc_filter(ref_doc_id))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async twin of :meth:`delete`."""
        await self._store.adelete(filter=self._ref_doc_filter(ref_doc_id))

    @staticmethod
    def _selection(node_ids: list[str] | None, filters: MetadataFilters | None) -> dict[str, Any]:
        """Store arguments selecting ``node_ids`` AND ``filters`` (empty or ``None`` ids: no id restriction)."""
        if node_ids is not None and not isinstance(node_ids, list | tuple):
            raise InvalidInputError(f"node_ids must be a list of node ids, got {type(node_ids).__name__}")
        store_filter = to_store_filter(filters)
        if not node_ids:
            return {"filter": store_filter}
        if store_filter is None:
            return {"ids": list(node_ids)}
        return {"filter": _all_of(store_filter, {"$id": {"$in": list(node_ids)}})}

    def _delete_selection(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> dict[str, Any] | None:
        selection = self._selection(node_ids, filters)
        if selection.get("filter", True) is None:
            if node_ids is None:
                raise InvalidInputError(
                    "pass node_ids and/or filters to delete_nodes; use clear() to delete everything"
                )
            return None  # an empty id list selects nothing to delete
        return selection

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Delete the nodes with these ids and/or matching these filters (both given: nodes matching both).

        Neither given raises :class:`~multivec.errors.InvalidInputError` (use :meth:`clear`); an empty
        ``node_ids`` list without filters deletes nothing.
        """
        selection = self._delete_selection(node_ids, filters)
        if selection is not None:
            self._store.delete(**selection)

    async def adelete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Async twin of :meth:`delete_nodes`."""
        selection = self._delete_selection(node_ids, filters)
        if selection is not None:
            await self._store.adelete(**selection)

    def clear(self) -> None:
        """Delete every node (the collection stays)."""
        self._store.clear()

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self._store.aclear()

    # -- get ----------------------------------------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Nodes with these ids (in that order; missing ids skipped) and/or matching ``filters``; all if neither.

        As in LlamaIndex's other stores, an empty ``node_ids`` list means no id restriction.
        """
        selection = self._selection(node_ids, filters)
        records: list[Record] = (
            self._store.get(selection["ids"]) if "ids" in selection else self._store.scroll(filter=selection["filter"])
        )
        return [record_to_node(r) for r in records]

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async twin of :meth:`get_nodes`."""
        selection = self._selection(node_ids, filters)
        if "ids" in selection:
            records = await self._store.aget(selection["ids"])
        else:
            records = await self._store.ascroll(filter=selection["filter"])
        return [record_to_node(r) for r in records]

    # -- explain ------------------------------------------------------------------------------------------------

    def explain(
        self, query: str | np.ndarray, node: BaseNode | NodeWithScore | str, *, dpi: float | None = None
    ) -> Explanation:
        """Why ``node`` matched ``query``: the MaxSim score broken down by query token.

        ``node`` is a node (or ``NodeWithScore``) this store returned, or its ``node_id``. The
        :class:`~multivec.explain.Explanation` gives ``.table()`` (each query word, the node's words it matched, its
        share of the score) and ``.plot()``: over the page for image nodes whose model knows its patch layout, the top
        query words each with the page region it matched outlined (pages re-rendered from the stored source at
        ``dpi``, by default the one they were indexed with), a bar per query word otherwise.

        >>> from llama_index.core.schema import TextNode
        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> store = QdrantMultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=32), text_metadata_mode="none")
        >>> _ = store.add([TextNode(text="red apples", id_="a")])
        >>> [(m.label, m.document_label) for m in store.explain("apples", "a").matches()]
        [('apples', 'apples')]
        >>> store.close()
        """
        return explain_record(self._store, query, _node_id(node), dpi=dpi, text_of=self._embedded_text)

    async def aexplain(
        self, query: str | np.ndarray, node: BaseNode | NodeWithScore | str, *, dpi: float | None = None
    ) -> Explanation:
        """Async twin of :meth:`explain`."""
        return await aexplain_record(self._store, query, _node_id(node), dpi=dpi, text_of=self._embedded_text)

    def _embedded_text(self, record: Record) -> str:
        """The text a text node was embedded from (with its metadata, per ``text_metadata_mode``): its words label
        an explanation's matches."""
        return record_to_node(record).get_content(metadata_mode=self.text_metadata_mode)

    # -- query --------------------------------------------------------------------------------------------------

    def _search(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> _Search:
        if not isinstance(query, VectorStoreQuery):
            raise InvalidInputError(f"query must be a llama_index VectorStoreQuery, got {type(query).__name__}")
        mode = query_mode(query.mode)
        kwargs = query_options(mode, kwargs)
        k = query.similarity_top_k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"similarity_top_k must be a positive int, got {k!r}")
        text_or_vectors = self._query_input(query)

        modality = kwargs.pop("modality", None)
        doc_ids = None if query.doc_ids is None else items(query.doc_ids, "query.doc_ids")
        node_ids = None if query.node_ids is None else items(query.node_ids, "query.node_ids")
        filter_arg = _all_of(
            to_store_filter(query.filters),
            {"ref_doc_id": {"$in": doc_ids}} if doc_ids else None,
            {"$id": {"$in": node_ids}} if node_ids else None,
            {"$modality": modality} if modality is not None else None,
        )

        if mode == VectorStoreQueryMode.HYBRID:
            hybrid: dict[str, Any] = {"mode": "hybrid"}
            weight = hybrid_alpha_weight(query.alpha)
            if weight is not None:
                hybrid["hybrid_weight"] = weight
            if query.sparse_top_k is not None:
                hybrid["hybrid_limit"] = positive_int(query.sparse_top_k, "sparse_top_k", InvalidInputError)
            return _Search("search", text_or_vectors, {"k": k, "filter": filter_arg, **hybrid, **kwargs})
        if mode == VectorStoreQueryMode.MMR:
            lambda_mult = DEFAULT_MMR_LAMBDA if query.mmr_threshold is None else query.mmr_threshold
            return _Search(
                "mmr_search", text_or_vectors, {"k": k, "filter": filter_arg, "lambda_mult": lambda_mult, **kwargs}
            )
        return _Search("search", text_or_vectors, {"k": k, "filter": filter_arg, **kwargs})

    @staticmethod
    def _query_input(query: VectorStoreQuery) -> str | Embedding:
        if query.query_str is not None and not isinstance(query.query_str, str):
            raise InvalidInputError(f"query_str must be a str, got {type(query.query_str).__name__}")
        if query.query_str is not None and query.query_str.strip():
            return query.query_str
        if query.query_embedding is not None:
            try:
                vectors = np.asarray(query.query_embedding, dtype=np.float32)
            except (TypeError, ValueError, OverflowError) as err:
                raise InvalidInputError(f"query_embedding must be equal-length lists of numbers ({err})") from None
            if vectors.ndim == 2:
                return vectors
        raise InvalidInputError(
            "VectorStoreQuery needs a non-empty query_str (embedded with the store's multi-vector model), or a "
            "query_embedding holding query token vectors (a list of lists); a single pooled vector cannot be "
            "scored by MaxSim"
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """MaxSim search for ``query.query_str``: top ``similarity_top_k`` nodes matching the filters.

        ``query.doc_ids`` / ``query.node_ids`` restrict the search when non-empty (``VectorStoreIndex`` passes an
        empty ``node_ids`` list for stores that keep their own nodes, meaning "no restriction").
        """
        search = self._search(query, dict(kwargs))
        return _result(getattr(self._store, search.method)(search.query, **search.kwargs))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async twin of :meth:`query`."""
        search = self._search(query, dict(kwargs))
        return _result(await getattr(self._store, "a" + search.method)(search.query, **search.kwargs))
