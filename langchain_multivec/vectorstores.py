"""A LangChain ``VectorStore`` with late-interaction (MaxSim) search on Qdrant.

:class:`QdrantMultiVectorStore` is a thin LangChain face of :class:`multivec.store.MultiVectorStore`: every text or
image is stored as its token vectors and searched by MaxSim (a pooled-vector prefetch, then exact MaxSim on the
candidates). The storage is embedded qdrant-edge (``path=...``, the default), or a Qdrant server through
qdrant-client (``url=...``, or ``location=":memory:"`` for tests).

>>> from langchain_core.documents import Document
>>> from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
>>> store = QdrantMultiVectorStore(MultiVectorEmbeddings.fake(dim=32), location=":memory:")
>>> store.add_documents([Document("red apples", metadata={"genre": "fruit"}, id="a"),
...                      Document("blue cars", metadata={"genre": "auto"}, id="b")])
['a', 'b']
>>> [(d.id, d.page_content) for d in store.similarity_search("apples", k=1)]
[('a', 'red apples')]
>>> [d.id for d in store.similarity_search("cars", k=2, filter={"genre": "fruit"})]
['a']
>>> [(d.id, round(s, 2)) for d, s in store.similarity_search_with_relevance_scores("red apples", k=1)]
[('a', 1.0)]
>>> store.close()

Documents
    Text results are ``Document(id=<your id>, page_content=<text>, metadata=<your metadata>)``; the metadata is
    exactly what you stored. Image results (from :meth:`~QdrantMultiVectorStore.add_images` and ``add_pdfs``) have
    a ``page_content`` a chain can send to an LLM: the page's text layer (``metadata["page_text"]``, which PDF pages
    get), else a ``metadata["caption"]`` you stored, else the image reference (its path/URI, or its id when the
    image was given as bytes or a PIL image); and metadata that points to the image: ``modality="image"``, ``source`` (the path/URI) and
    ``page`` (for PDF pages). These keys are only added when the record has them and never replace your own keys.

Scores
    ``similarity_search_with_score`` gives the raw MaxSim score (sum over query tokens of the best cosine, so it
    grows with the query length); ``similarity_search_with_relevance_scores`` gives the store's relevance in
    [0, 1] (``(score / n_query_tokens + 1) / 2``), comparable across queries, which is what
    ``as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.7})`` filters on.

Hybrid retrieval
    ``retrieval_mode="hybrid"`` (or :attr:`RetrievalMode.HYBRID`; langchain-qdrant's ``RetrievalMode`` works too)
    makes every similarity search fuse BM25 over the stored text with MaxSim (:mod:`multivec.store.hybrid`); a
    search's ``mode="maxsim"|"hybrid"`` overrides it, as does ``as_retriever(search_kwargs={"mode": "hybrid"})``.
    ``hybrid_weight`` (lexical weight; MaxSim weighs 1), ``hybrid_fusion`` and ``lexical_query`` (the BM25 text of
    a search by vector) pass through. Scores are then the fused ones; MMR stays MaxSim.

Filters
    Every search, ``delete`` and :class:`~langchain_multivec.MaxSimRetriever` takes ``filter=``: a dict in the
    store's Mongo-style language over your metadata keys (``{"genre": "fruit"}``, ``{"year": {"$gte": 2000}}``,
    ``{"$or": [...]}``, see :mod:`multivec.store.filters`) or a raw ``qdrant_client.models.Filter`` with keys as
    payload paths (``"metadata.genre"``).
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
from typing_extensions import Self

from langchain_multivec._qdrant_compat import langchain_qdrant_options
from langchain_multivec._qdrant_compat import retrieval_mode as mode_of
from langchain_multivec.embeddings import MultiVectorEmbeddings, as_core_embedder
from multivec._closing import Closing
from multivec._options import choice, configuration_errors, items, known_keys, relevance, search_options
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.explain import Explanation, aexplain_record, explain_record
from multivec.pdf import DEFAULT_DPI
from multivec.store import Hit, MultiVectorStore, Record
from multivec.store.options import mirrors_store_options
from multivec.types import ImageInput

__all__ = ["SEARCH_TYPES", "QdrantMultiVectorStore", "RetrievalMode", "record_to_document"]

#: LangChain's search types, as ``as_retriever(search_type=...)`` and ``search(query, search_type)`` take them.
SEARCH_TYPES = ("similarity", "mmr", "similarity_score_threshold")
_SEARCH_OPTIONS = frozenset(
    {
        "filter",
        "exact",
        "prefetch_limit",
        "score_threshold",
        "mode",
        "lexical_query",
        "hybrid_weight",
        "hybrid_fusion",
        "hybrid_limit",
    }
)
_MMR_OPTIONS = frozenset({"filter"})
_DELETE_OPTIONS = frozenset({"filter"})
#: ``batch_size`` is accepted because LangChain's indexing API (``langchain_core.indexing.index``) passes it;
#: batching follows the embedder's ``embed_batch_size`` and the store's ``write_batch_size``.
_ADD_OPTIONS = frozenset({"batch_size"})
#: What ``as_retriever(search_kwargs=...)`` may hold for each search type.
_RETRIEVER_OPTIONS = {
    "similarity": frozenset({"k", *_SEARCH_OPTIONS}),
    "similarity_score_threshold": frozenset({"k", *_SEARCH_OPTIONS}),
    "mmr": frozenset({"k", "fetch_k", "lambda_mult", *_MMR_OPTIONS}),
}
#: ``as_retriever`` options besides the search: the retriever's own LangChain fields.
_AS_RETRIEVER_OPTIONS = frozenset({"search_type", "search_kwargs", "tags", "name", "metadata"})


class RetrievalMode(str, Enum):
    """How similarity searches rank, in the spirit of langchain-qdrant's ``RetrievalMode``.

    >>> RetrievalMode("hybrid") is RetrievalMode.HYBRID
    True
    """

    #: late interaction alone (two-stage MaxSim)
    MAXSIM = "maxsim"
    #: BM25 over the stored text fused with MaxSim (:mod:`multivec.store.hybrid`)
    HYBRID = "hybrid"


def _options(kwargs: dict[str, Any], allowed: frozenset[str], method: str) -> dict[str, Any]:
    options = search_options(kwargs, allowed, f"{method}()")
    if "mode" in options:
        options["mode"] = mode_of(options["mode"], InvalidInputError)
    return options


def _documents(documents: Any) -> list[Document]:
    checked = items(documents, "documents")
    for i, document in enumerate(checked):
        if not isinstance(document, Document):
            raise InvalidInputError(f"documents[{i}] is {type(document).__name__}; pass LangChain Documents", index=i)
    return checked


def record_to_document(record: Record) -> Document:
    """The LangChain ``Document`` for a stored record (see "Documents" in the module docstring)."""
    metadata = dict(record.metadata)
    if record.modality == "image":
        metadata.setdefault("modality", "image")
    if record.source is not None:
        metadata.setdefault("source", record.source)
    if record.page is not None:
        metadata.setdefault("page", record.page)
    return Document(id=record.id, page_content=record.text, metadata=metadata)


def _document_id(document: Document | str) -> str:
    if isinstance(document, str):
        return document
    if isinstance(document, Document) and document.id:
        return document.id
    if isinstance(document, Document):
        raise InvalidInputError("the document has no id; explain documents this store returned (search, get_by_ids)")
    raise InvalidInputError(f"document is {type(document).__name__}; pass a Document from this store or its id")


def _fill_ids(ids: Sequence[str | None] | None, n: int) -> list[str] | None:
    """LangChain passes one id per document, ``None`` (or ``""``) where a ``Document`` has none: as in LangChain's
    own stores, those get a fresh uuid4 string."""
    if ids is None:
        return None
    ids = items(ids, "ids")
    if not any(ids):
        return None
    if len(ids) != n:
        raise InvalidInputError(f"got {n} items but {len(ids)} ids; pass one id per item")
    return [i if i or i == 0 else str(uuid.uuid4()) for i in ids]


class QdrantMultiVectorStore(Closing, VectorStore):
    """LangChain ``VectorStore`` over :class:`multivec.store.MultiVectorStore` (MaxSim search on Qdrant).

    Args:
        embedding: a :class:`~langchain_multivec.MultiVectorEmbeddings` or a core multivec embedder; it embeds the
            documents, images and queries.
        collection_name: the Qdrant collection (created on first use unless ``create_collection=False``).
        **options: every option of :class:`multivec.store.MultiVectorStore`, passed through unchanged (the
            signature lists them): where the store lives (``path`` for the embedded store, the default; ``url``,
            ``api_key``, ``host``/``port``/``https``/``prefer_grpc``/``timeout``, or your own ``client=``/``aclient=``
            for a Qdrant server; ``location=":memory:"`` for tests), search and storage settings
            (``prefetch_limit``, ``multivector_datatype``, ``filterable_fields``, ...), and backend collection
            options (``shard_number``, ``replication_factor``, ``on_disk``...). langchain-qdrant's own keyword
            arguments are translated where they have a meaning here (``batch_size`` is ``write_batch_size``,
            ``collection_create_options`` are collection options) and refused, naming the alternative, where they
            do not (``distance``, ``vector_name``, ``force_recreate``...).
        retrieval_mode: ``"maxsim"`` (default) or ``"hybrid"`` (a :class:`RetrievalMode`, or langchain-qdrant's):
            the mode of every similarity search that does not pass its own ``mode=`` (see "Hybrid retrieval").

    To wrap a core store you already have, use :meth:`from_store`; to open a collection that must already exist,
    :meth:`from_existing_collection`. Ids may be any strings (or ints, returned as strings). The store is a context
    manager (sync and async); :meth:`close` releases the storage (never a ``client=`` you passed).

    >>> from qdrant_client import QdrantClient
    >>> client = QdrantClient(":memory:")
    >>> store = QdrantMultiVectorStore(MultiVectorEmbeddings.fake(dim=16), "docs", client=client)
    >>> store.add_texts(["hello"], ids=["h"])
    ['h']
    >>> client.count("docs").count
    1
    """

    @mirrors_store_options(
        inspect.Parameter("retrieval_mode", inspect.Parameter.KEYWORD_ONLY, default=RetrievalMode.MAXSIM)
    )
    def __init__(
        self,
        embedding: MultiVectorEmbeddings | MultiVectorBaseEmbedding,
        collection_name: str = "multivec",
        **options: Any,
    ) -> None:
        embedder = as_core_embedder(embedding)
        mode = mode_of(options.pop("retrieval_mode", RetrievalMode.MAXSIM))
        self._init(
            MultiVectorStore(embedder, collection_name, **langchain_qdrant_options(options)),
            embedding if isinstance(embedding, MultiVectorEmbeddings) else MultiVectorEmbeddings(embedder),
            mode,
        )

    def _init(self, store: MultiVectorStore, embeddings: MultiVectorEmbeddings, mode: str = "maxsim") -> None:
        self.store = store
        self._embeddings = embeddings
        #: the mode of similarity searches that do not pass ``mode=``: ``"maxsim"`` or ``"hybrid"``
        self.retrieval_mode = mode

    @classmethod
    def from_store(cls, store: MultiVectorStore, *, retrieval_mode: Any = RetrievalMode.MAXSIM) -> Self:
        """Wrap an existing core :class:`~multivec.store.MultiVectorStore` (shares its storage and embedder).

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> core = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), location=":memory:")
        >>> QdrantMultiVectorStore.from_store(core).add_texts(["hello"], ids=["h"])
        ['h']
        >>> core.get(["h"])[0].content
        'hello'
        """
        if not isinstance(store, MultiVectorStore):
            raise InvalidInputError(f"store must be a multivec.store.MultiVectorStore, got {type(store).__name__}")
        mode = mode_of(retrieval_mode)
        self = cls.__new__(cls)
        self._init(store, MultiVectorEmbeddings(store.embedding), mode)
        return self

    @property
    def embeddings(self) -> MultiVectorEmbeddings:
        """The store's embedder as a drop-in LangChain ``Embeddings`` (pooled vectors; ``*_multi`` for tokens)."""
        return self._embeddings

    def close(self) -> None:
        """Release the storage (the edge store's directory lock, client connections)."""
        self.store.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self.store.aclose()

    # -- adding ----------------------------------------------------------------------------------------------------

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Embed and store ``Document`` objects (their ``id`` is used unless ``ids=`` is passed); see :meth:`add_texts`."""
        return super().add_documents(_documents(documents), **kwargs)

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Async twin of :meth:`add_documents`."""
        return await super().aadd_documents(_documents(documents), **kwargs)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store texts; returns their ids (generated uuid4 strings where none is given).

        Adding an id that exists replaces that record. ``add_documents`` (inherited) uses ``Document.id`` unless
        ``ids=`` is passed. Everything is validated before anything is written.
        """
        _options(kwargs, _ADD_OPTIONS, "add_texts")
        texts = items(texts, "texts")
        return self.store.add_texts(texts, metadatas, _fill_ids(ids, len(texts)))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async twin of :meth:`add_texts`."""
        _options(kwargs, _ADD_OPTIONS, "aadd_texts")
        texts = items(texts, "texts")
        return await self.store.aadd_texts(texts, metadatas, _fill_ids(ids, len(texts)))

    def add_images(
        self,
        images: Sequence[ImageInput],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        sources: Sequence[str | None] | None = None,
        pages: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Embed and store images (file paths, bytes, ``BytesIO`` or PIL images) with a multimodal embedder.

        Pixels are not stored. ``sources`` records where each image came from (default: the file path of path
        inputs), ``pages`` page numbers (PDF pages); search results point to them in ``metadata["source"]`` and
        ``metadata["page"]``, and their ``page_content`` is ``metadata["page_text"]`` or ``metadata["caption"]``
        when you store one, else the source (else the id).

        >>> from PIL import Image
        >>> store = QdrantMultiVectorStore(MultiVectorEmbeddings.fake(dim=16), location=":memory:")
        >>> store.add_images([Image.new("RGB", (8, 8), "red")], ids=["p1"], sources=["report.pdf"], pages=[3])
        ['p1']
        >>> store.get_by_ids(["p1"])[0]
        Document(id='p1', metadata={'modality': 'image', 'source': 'report.pdf', 'page': 3}, page_content='report.pdf')
        >>> _ = store.add_images([Image.new("RGB", (8, 8))], [{"caption": "Q3 revenue by region"}], ids=["p2"])
        >>> store.get_by_ids(["p2"])[0].page_content
        'Q3 revenue by region'
        """
        images = items(images, "images")
        return self.store.add_images(images, metadatas, _fill_ids(ids, len(images)), sources, pages)

    async def aadd_images(
        self,
        images: Sequence[ImageInput],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        sources: Sequence[str | None] | None = None,
        pages: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_images`."""
        images = items(images, "images")
        return await self.store.aadd_images(images, metadatas, _fill_ids(ids, len(images)), sources, pages)

    def add_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        dpi: float = DEFAULT_DPI,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add every page of every PDF (:meth:`multivec.store.MultiVectorStore.add_pdfs`): rendered page images with a multimodal
        embedder (ColPali, ColQwen2, BiPali, Infinity), the page text layer with a text-only one (ColBERT).

        Results have ``metadata["source"]`` (the file) and ``metadata["page"]`` (1-based). ``metadatas`` gives one
        dict per PDF; adding the same file again replaces its pages. Needs the ``pdf`` extra (pypdfium2).
        """
        return self.store.add_pdfs(paths, dpi=dpi, metadatas=metadatas)

    async def aadd_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        dpi: float = DEFAULT_DPI,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_pdfs`."""
        return await self.store.aadd_pdfs(paths, dpi=dpi, metadatas=metadatas)

    # -- reading and deleting --------------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order given; missing ids are skipped."""
        return [record_to_document(r) for r in self.store.get(items(ids, "ids"))]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async twin of :meth:`get_by_ids`."""
        return [record_to_document(r) for r in await self.store.aget(items(ids, "ids"))]

    # -- explaining -----------------------------------------------------------------------------------------------

    def explain(self, query: str | np.ndarray, document: Document | str, *, dpi: float | None = None) -> Explanation:
        """Why ``document`` matched ``query``: the MaxSim score broken down by query token.

        ``document`` is a ``Document`` this store returned (search, ``get_by_ids``; its ``id`` names the record) or
        that id. The :class:`~multivec.explain.Explanation` gives ``.table()`` (each query word, the document words it
        matched, its share of the score) and ``.plot()``: for image documents whose model knows its patch layout, the
        top query words each with the page region it matched outlined (pages are re-rendered from
        ``metadata["source"]``/``["page"]`` at ``dpi``, by default the one they were indexed with), a bar per query
        word otherwise. Its ``score`` is this document's ``similarity_search_with_score`` score.

        >>> from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
        >>> store = QdrantMultiVectorStore.from_texts(["red apples", "blue cars"], MultiVectorEmbeddings.fake(dim=32))
        >>> top = store.similarity_search("apples", k=1)[0]
        >>> [(m.label, m.document_label) for m in store.explain("apples", top).matches()]
        [('apples', 'apples')]
        >>> store.close()
        """
        return explain_record(self.store, query, _document_id(document), dpi=dpi)

    async def aexplain(
        self, query: str | np.ndarray, document: Document | str, *, dpi: float | None = None
    ) -> Explanation:
        """Async twin of :meth:`explain`."""
        return await aexplain_record(self.store, query, _document_id(document), dpi=dpi)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete by ids and/or ``filter=``; with neither, delete everything (LangChain's convention).

        Missing ids are ignored. Returns ``True``.
        """
        options = _options(kwargs, _DELETE_OPTIONS, "delete")
        if ids is None and options.get("filter") is None:
            self.store.clear()
        else:
            self.store.delete(ids=ids, filter=options.get("filter"))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Async twin of :meth:`delete`."""
        options = _options(kwargs, _DELETE_OPTIONS, "adelete")
        if ids is None and options.get("filter") is None:
            await self.store.aclear()
        else:
            await self.store.adelete(ids=ids, filter=options.get("filter"))
        return True

    # -- search: shared request building ---------------------------------------------------------------------------

    @staticmethod
    def _query_vectors(embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Precomputed query vectors as the store takes them (it reads a flat vector as a one-token query)."""
        if isinstance(embedding, str | bytes | Mapping) or embedding is None:
            raise InvalidInputError(f"embedding must be query vectors (n_tokens, dim), got {type(embedding).__name__}")
        try:
            # values beyond float32 become inf, which the store refuses with a typed error
            with np.errstate(over="ignore", invalid="ignore"):
                return np.asarray(embedding, dtype=np.float32)
        except (TypeError, ValueError, OverflowError) as err:
            raise InvalidInputError(
                f"embedding must be query vectors: a (n_tokens, dim) array or equal-length lists of numbers ({err})"
            ) from None

    def _search_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        options = _options(kwargs, _SEARCH_OPTIONS, "search")
        options.setdefault("mode", self.retrieval_mode)
        return options

    def _hits(self, query: str | np.ndarray, k: int, kwargs: dict[str, Any]) -> list[Hit]:
        return self.store.search(query, k, **self._search_options(kwargs))

    async def _ahits(self, query: str | np.ndarray, k: int, kwargs: dict[str, Any]) -> list[Hit]:
        return await self.store.asearch(query, k, **self._search_options(kwargs))

    def _mmr_hits(
        self, query: str | np.ndarray, k: int, fetch_k: int, lambda_mult: float, kwargs: dict[str, Any]
    ) -> list[Hit]:
        options = _options(kwargs, _MMR_OPTIONS, "max_marginal_relevance_search")
        return self.store.mmr_search(query, k, fetch_k=fetch_k, lambda_mult=lambda_mult, **options)

    async def _ammr_hits(
        self, query: str | np.ndarray, k: int, fetch_k: int, lambda_mult: float, kwargs: dict[str, Any]
    ) -> list[Hit]:
        options = _options(kwargs, _MMR_OPTIONS, "max_marginal_relevance_search")
        return await self.store.ammr_search(query, k, fetch_k=fetch_k, lambda_mult=lambda_mult, **options)

    @staticmethod
    def _docs(hits: list[Hit]) -> list[Document]:
        return [record_to_document(h) for h in hits]

    @staticmethod
    def _scored(hits: list[Hit], score: Callable[[Hit], float]) -> list[tuple[Document, float]]:
        return [(record_to_document(h), score(h)) for h in hits]

    # -- LangChain's generic entry points, checked before LangChain reads them ------------------------------------

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """Search by ``search_type`` (``"similarity"``, ``"mmr"`` or ``"similarity_score_threshold"``)."""
        choice(search_type, "search_type", SEARCH_TYPES, InvalidInputError)
        return super().search(query, search_type, **kwargs)

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        """Async twin of :meth:`search`."""
        choice(search_type, "search_type", SEARCH_TYPES, InvalidInputError)
        return await super().asearch(query, search_type, **kwargs)

    def as_retriever(self, **kwargs: Any) -> VectorStoreRetriever:
        """LangChain's ``VectorStoreRetriever`` over this store, its options checked first.

        ``search_type``: ``"similarity"`` (default), ``"mmr"`` or ``"similarity_score_threshold"``;
        ``search_kwargs``: the search's options (``k``, ``filter``, ``exact``, ``prefetch_limit``,
        ``score_threshold``, ``mode`` (``"hybrid"``: BM25 fused with MaxSim), ``hybrid_weight``, ``hybrid_fusion``;
        for MMR ``k``, ``fetch_k``, ``lambda_mult``, ``filter``). With
        ``similarity_score_threshold``, ``search_kwargs["score_threshold"]`` is required: a relevance in [0, 1].
        Anything else raises :class:`~multivec.errors.ConfigurationError` naming it. For MaxSim scores in the
        documents' metadata, use :class:`~langchain_multivec.MaxSimRetriever`.
        """
        known_keys(kwargs, _AS_RETRIEVER_OPTIONS, "as_retriever()")
        search_type = choice(kwargs.get("search_type", "similarity"), "search_type", SEARCH_TYPES)
        threshold = search_type == "similarity_score_threshold"
        given = kwargs.get("search_kwargs")
        search_kwargs = search_options(
            {} if given is None else given,
            _RETRIEVER_OPTIONS[search_type],
            "search_kwargs",
            ConfigurationError,
            relevance_threshold=threshold,
        )
        if "mode" in search_kwargs:
            search_kwargs["mode"] = mode_of(search_kwargs["mode"])
        if threshold and search_kwargs.get("score_threshold") is None:
            raise ConfigurationError(
                'search_type="similarity_score_threshold" needs search_kwargs["score_threshold"], a relevance in [0, 1]'
            )
        with configuration_errors("as_retriever"):
            return super().as_retriever(**{**kwargs, "search_type": search_type, "search_kwargs": search_kwargs})

    def similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` best documents with their [0, 1] relevance; ``score_threshold`` (a relevance) drops lower ones."""
        relevance(kwargs.get("score_threshold"), "score_threshold")
        return super().similarity_search_with_relevance_scores(query, k, **kwargs)

    async def asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async twin of :meth:`similarity_search_with_relevance_scores`."""
        relevance(kwargs.get("score_threshold"), "score_threshold")
        return await super().asimilarity_search_with_relevance_scores(query, k, **kwargs)

    # -- similarity search -----------------------------------------------------------------------------------------

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents with the highest MaxSim against the query.

        Options: ``filter``, ``exact`` (exact MaxSim over all matching records instead of prefetch + rerank),
        ``prefetch_limit``, ``score_threshold``, ``mode`` (``"maxsim"`` or ``"hybrid"``; default: the store's
        ``retrieval_mode``), ``hybrid_weight``, ``hybrid_fusion``, ``hybrid_limit``, ``lexical_query`` (as in
        :meth:`multivec.store.MultiVectorStore.search`).
        """
        return self._docs(self._hits(query, k, kwargs))

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Async twin of :meth:`similarity_search`."""
        return self._docs(await self._ahits(query, k, kwargs))

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Like :meth:`similarity_search`, with the raw MaxSim score of each document."""
        return self._scored(self._hits(query, k, kwargs), lambda h: h.score)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async twin of :meth:`similarity_search_with_score`."""
        return self._scored(await self._ahits(query, k, kwargs), lambda h: h.score)

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self._scored(self._hits(query, k, kwargs), lambda h: h.relevance)

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self._scored(await self._ahits(query, k, kwargs), lambda h: h.relevance)

    def similarity_search_by_vector(
        self, embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray, k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Search with precomputed query vectors: a multi-vector ``(n_tokens, dim)`` (e.g. from
        ``store.embeddings.embed_query_multi``), or a flat vector, which counts as a one-token query."""
        return self._docs(self._hits(self._query_vectors(embedding), k, kwargs))

    async def asimilarity_search_by_vector(
        self, embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray, k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`similarity_search_by_vector`."""
        return self._docs(await self._ahits(self._query_vectors(embedding), k, kwargs))

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """:meth:`similarity_search_by_vector` with the raw MaxSim score of each document."""
        return self._scored(self._hits(self._query_vectors(embedding), k, kwargs), lambda h: h.score)

    async def asimilarity_search_with_score_by_vector(
        self, embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Async twin of :meth:`similarity_search_with_score_by_vector`."""
        return self._scored(await self._ahits(self._query_vectors(embedding), k, kwargs), lambda h: h.score)

    # -- maximal marginal relevance --------------------------------------------------------------------------------

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` documents chosen among the ``fetch_k`` best for relevance and diversity (``lambda_mult`` 1:
        relevance only, 0: diversity only). Option: ``filter``."""
        return self._docs(self._mmr_hits(query, k, fetch_k, lambda_mult, kwargs))

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search`."""
        return self._docs(await self._ammr_hits(query, k, fetch_k, lambda_mult, kwargs))

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search` with precomputed query vectors (as :meth:`similarity_search_by_vector`)."""
        return self._docs(self._mmr_hits(self._query_vectors(embedding), k, fetch_k, lambda_mult, kwargs))

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """Async twin of :meth:`max_marginal_relevance_search_by_vector`."""
        return self._docs(await self._ammr_hits(self._query_vectors(embedding), k, fetch_k, lambda_mult, kwargs))

    # -- construction from data --------------------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Any,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Create a store (``kwargs`` are the constructor's options) and add ``texts`` to it.

        >>> store = QdrantMultiVectorStore.from_texts(["red apples", "blue cars"], MultiVectorEmbeddings.fake(),
        ...                                           location=":memory:", collection_name="demo")
        >>> store.similarity_search("cars", k=1)[0].page_content
        'blue cars'
        """
        store = cls(embedding, **kwargs)
        try:
            store.add_texts(texts, metadatas, ids=ids)
        except BaseException:
            store.close()  # an embedded store's directory must not stay locked by a store nobody holds
            raise
        return store

    @classmethod
    def from_existing_collection(
        cls,
        collection_name: str,
        embedding: MultiVectorEmbeddings | MultiVectorBaseEmbedding,
        **options: Any,
    ) -> Self:
        """Open a collection that must already exist (a missing one raises
        :class:`~multivec.errors.CollectionNotFoundError` instead of starting an empty store).

        ``options`` are the constructor's (``path=`` for an embedded store, ``url=``/``client=`` for a server...).

        >>> from qdrant_client import QdrantClient
        >>> client = QdrantClient(":memory:")
        >>> QdrantMultiVectorStore.from_texts(["blue cars"], MultiVectorEmbeddings.fake(), client=client,
        ...                                   collection_name="cars").close()
        >>> store = QdrantMultiVectorStore.from_existing_collection("cars", MultiVectorEmbeddings.fake(), client=client)
        >>> store.similarity_search("cars", k=1)[0].page_content
        'blue cars'
        >>> QdrantMultiVectorStore.from_existing_collection("bikes", MultiVectorEmbeddings.fake(), client=client)
        Traceback (most recent call last):
        ...
        multivec.errors.CollectionNotFoundError: there is no collection 'bikes' on this Qdrant server; ...
        """
        return cls(embedding, collection_name, create_collection=False, **options)

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Any,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """Async twin of :meth:`from_texts`."""
        store = cls(embedding, **kwargs)
        try:
            await store.aadd_texts(texts, metadatas, ids=ids)
        except BaseException:
            await store.aclose()
            raise
        return store
