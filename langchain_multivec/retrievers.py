"""A LangChain retriever that searches a :class:`~langchain_multivec.QdrantMultiVectorStore` by MaxSim.

:class:`MaxSimRetriever` is a ``BaseRetriever`` (a Runnable), so it composes in LCEL chains. Every returned
``Document`` carries its scores in metadata: ``score`` (raw MaxSim) and ``relevance_score`` ([0, 1]); hybrid
searches (``mode="hybrid"``) give the fused ones and ``hybrid_scores``, the parts (MaxSim and BM25 score and rank).

>>> from langchain_multivec import MaxSimRetriever, MultiVectorEmbeddings, QdrantMultiVectorStore
>>> store = QdrantMultiVectorStore.from_texts(
...     ["red apples", "green apples", "blue cars"], MultiVectorEmbeddings.fake(dim=32), location=":memory:")
>>> retriever = MaxSimRetriever(vectorstore=store, k=2)
>>> [d.page_content for d in retriever.invoke("red apples")]
['red apples', 'green apples']
>>> [d.page_content for d in retriever.invoke("red apples", k=1)]
['red apples']
>>> retriever.invoke("red apples", k=1)[0].metadata["relevance_score"]
1.0
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from langchain_multivec._qdrant_compat import retrieval_mode
from langchain_multivec.vectorstores import SEARCH_TYPES, QdrantMultiVectorStore, record_to_document
from multivec._options import choice, configuration_errors, known_keys, search_options
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.store import Hit, MultiVectorStore
from multivec.store.hybrid import HybridSettings

__all__ = ["MaxSimRetriever"]

SearchType = Literal["similarity", "mmr", "similarity_score_threshold"]

#: Options a call may override: ``retriever.invoke(query, k=..., filter=...)``.
_CALL_OPTIONS = frozenset(
    {"k", "filter", "score_threshold", "fetch_k", "lambda_mult", "exact", "mode", "hybrid_weight"}
)


def _with_scores(hit: Hit) -> Document:
    doc = record_to_document(hit)
    doc.metadata["score"] = hit.score
    doc.metadata["relevance_score"] = hit.relevance
    if hit.hybrid is not None:
        doc.metadata["hybrid_scores"] = asdict(hit.hybrid)
    return doc


class MaxSimRetriever(BaseRetriever):
    """Retrieve documents from a :class:`~langchain_multivec.QdrantMultiVectorStore` by MaxSim.

    Args:
        vectorstore: the store to search (a core :class:`~multivec.store.MultiVectorStore` is wrapped for you).
        k: how many documents to return; override per call with ``invoke(query, k=...)``.
        filter: a dict filter (see :mod:`multivec.store.filters`) or a ``qdrant_client.models.Filter``.
        search_type: ``"similarity"`` (MaxSim ranking), ``"mmr"`` (maximal marginal relevance over ``fetch_k``
            candidates, ``lambda_mult``), or ``"similarity_score_threshold"`` (similarity, keeping documents whose
            [0, 1] relevance is at least ``score_threshold``).
        exact: exact MaxSim over every matching record instead of prefetch + rerank (similarity search types).
        mode: ``"maxsim"`` or ``"hybrid"`` (BM25 over the stored text fused with MaxSim, see
            :mod:`multivec.store.hybrid`) for the similarity search types; ``None`` (default): the store's
            ``retrieval_mode``. ``"mmr"`` is MaxSim only.
        hybrid_weight: the lexical weight of hybrid searches (MaxSim weighs 1); ``None``: the store's default.

    Per-call overrides: ``invoke(query, k=..., filter=..., score_threshold=..., fetch_k=..., lambda_mult=...,
    exact=..., mode=..., hybrid_weight=...)``. Every document has ``metadata["score"]`` (raw MaxSim; the fused
    score in hybrid mode), ``metadata["relevance_score"]`` ([0, 1]) and, in hybrid mode,
    ``metadata["hybrid_scores"]`` (see :class:`~multivec.store.hybrid.HybridScores`).

    Options are checked by multivec before pydantic sees them: a bad one raises
    :class:`~multivec.errors.ConfigurationError` (constructor) or :class:`~multivec.errors.InvalidInputError`
    (per call) naming it, never a pydantic ``ValidationError``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: QdrantMultiVectorStore
    k: int = Field(default=4, ge=1)
    # a dict filter or a qdrant_client Filter (checked by _checked_fields); Any, so that qdrant_client is imported
    # only by those who use its filters
    filter: Any = None
    search_type: SearchType = "similarity"
    score_threshold: float | None = None
    fetch_k: int = Field(default=20, ge=1)
    lambda_mult: float = Field(default=0.5, ge=0.0, le=1.0)
    exact: bool = False
    mode: Literal["maxsim", "hybrid"] | None = None
    hybrid_weight: float | None = None

    def __init__(self, **data: Any) -> None:
        # checked before pydantic, which would wrap our errors (and its own) in a ValidationError
        checked = _checked_fields(data, type(self).model_fields)
        with configuration_errors("MaxSimRetriever"):
            super().__init__(**checked)

    def _options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        known_keys(overrides, _CALL_OPTIONS, "MaxSimRetriever", InvalidInputError)  # None means "the default"
        given = {key: value for key, value in overrides.items() if value is not None}
        checked = search_options(given, _CALL_OPTIONS, "MaxSimRetriever", relevance_threshold=True)
        options: dict[str, Any] = {
            "k": self.k,
            "filter": self.filter,
            "score_threshold": self.score_threshold,
            "fetch_k": self.fetch_k,
            "lambda_mult": self.lambda_mult,
            "exact": self.exact,
            "mode": self.mode,
            "hybrid_weight": self.hybrid_weight,
        }
        options.update(checked)
        if options["mode"] is not None:
            options["mode"] = retrieval_mode(options["mode"], InvalidInputError)
        return options

    def _documents(self, hits: list[Hit], options: dict[str, Any]) -> list[Document]:
        threshold = options["score_threshold"]
        if self.search_type == "similarity_score_threshold":
            hits = [h for h in hits if h.relevance >= threshold]
        return [_with_scores(h) for h in hits]

    def _request(self, query: str, overrides: dict[str, Any]) -> tuple[bool, tuple[Any, ...], dict[str, Any]]:
        """(is_mmr, arguments of the store's hit method, resolved options): shared by sync and async."""
        o = self._options(overrides)
        if self.search_type == "mmr":
            if o["mode"] == "hybrid" or o["hybrid_weight"] is not None:
                raise InvalidInputError("search_type='mmr' ranks by MaxSim only; mode='hybrid' needs 'similarity'")
            return True, (query, o["k"], o["fetch_k"], o["lambda_mult"], {"filter": o["filter"]}), o
        search: dict[str, Any] = {"filter": o["filter"], "exact": o["exact"]}
        mode = o["mode"] or self.vectorstore.retrieval_mode
        search["mode"] = mode
        if mode == "hybrid" and o["hybrid_weight"] is not None:  # a MaxSim search has no lexical weight
            search["hybrid_weight"] = o["hybrid_weight"]
        return False, (query, o["k"], search), o

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        mmr, args, options = self._request(query, kwargs)
        hits = self.vectorstore._mmr_hits(*args) if mmr else self.vectorstore._hits(*args)
        return self._documents(hits, options)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        mmr, args, options = self._request(query, kwargs)
        hits = await (self.vectorstore._ammr_hits(*args) if mmr else self.vectorstore._ahits(*args))
        return self._documents(hits, options)


def _checked_fields(data: dict[str, Any], fields: Any) -> dict[str, Any]:
    """The constructor's fields checked by multivec (a core store wrapped); pydantic then checks only LangChain's
    own fields (``tags``, ``metadata``, ``name``), its errors turned into :class:`ConfigurationError`."""
    known_keys(data, fields, "MaxSimRetriever")
    store = data.get("vectorstore")
    if isinstance(store, MultiVectorStore):
        store = QdrantMultiVectorStore.from_store(store)
    if not isinstance(store, QdrantMultiVectorStore):
        raise ConfigurationError(
            f"vectorstore must be a langchain_multivec.QdrantMultiVectorStore or a multivec MultiVectorStore, "
            f"got {type(store).__name__}"
        )
    search_type = choice(data.get("search_type", "similarity"), "search_type", SEARCH_TYPES)
    options = {key: data[key] for key in _CALL_OPTIONS if key in data}
    if options.get("score_threshold") is None:
        options.pop("score_threshold", None)
        if search_type == "similarity_score_threshold":
            raise ConfigurationError(
                'search_type="similarity_score_threshold" needs score_threshold (a relevance in [0, 1])'
            )
    for key in ("filter", "mode", "hybrid_weight"):
        if options.get(key) is None:
            options.pop(key, None)
    if "hybrid_weight" in options:
        HybridSettings.resolve(None, weight=options["hybrid_weight"])  # raises ConfigurationError naming it
    if "mode" in options:
        options["mode"] = retrieval_mode(options["mode"])
        if search_type == "mmr" and options["mode"] == "hybrid":
            raise ConfigurationError("search_type='mmr' ranks by MaxSim only; mode='hybrid' needs 'similarity'")
    checked = search_options(options, _CALL_OPTIONS, "MaxSimRetriever", ConfigurationError, relevance_threshold=True)
    return {**data, **checked, "vectorstore": store, "search_type": search_type}
