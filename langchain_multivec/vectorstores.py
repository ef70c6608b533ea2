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
    exactly what you stored. Image results (from :meth:`~QdrantMultiVectorStore.add_images`) have
    ``page_content`` = the stored image reference (its path/URI, or its id when the image was given as bytes or a
    PIL image), and metadata that points to the image: ``modality="image"``, ``source`` (the path/URI) and
    ``page`` (for PDF pages). These keys are only added when the record has them and never replace your own keys.

Scores
    ``similarity_search_with_score`` gives the raw MaxSim score (sum over query tokens of the best cosine, so it
    grows with the query length); ``similarity_search_with_relevance_scores`` gives the store's relevance in
    [0, 1] (``(score / n_query_tokens + 1) / 2``), comparable across queries, which is what
    ``as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.7})`` filters on.

Filters
    Every search, ``delete`` and :class:`~langchain_multivec.MaxSimRetriever` takes ``filter=``: a dict in the
    store's Mongo-style language over your metadata keys (``{"genre": "fruit"}``, ``{"year": {"$gte": 2000}}``,
    ``{"$or": [...]}``, see :mod:`multivec.store.filters`) or a raw ``qdrant_client.models.Filter`` with keys as
    payload paths (``"metadata.genre"``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
from typing_extensions import Self

from langchain_multivec.embeddings import MultiVectorEmbeddings, as_core_embedder
from multivec._closing import Closing
from multivec._options import choice, configuration_errors, items, known_keys, relevance, search_options
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.explain import Explanation, aexplain_record, explain_record
from multivec.pdf import DEFAULT_DPI, aadd_pdfs, add_pdfs
from multivec.store import Hit, MultiVectorStore, Record
from multivec.store.store import DEFAULT_MULTIVECTOR_DATATYPE, DEFAULT_PREFETCH_LIMIT
from multivec.types import ImageInput

__all__ = ["SEARCH_TYPES", "QdrantMultiVectorStore", "record_to_document"]

#: LangChain's search types, as ``as_retriever(search_type=...)`` and ``search(query, search_type)`` take them.
SEARCH_TYPES = ("similarity", "mmr", "similarity_score_threshold")
_SEARCH_OPTIONS = frozenset({"filter", "exact", "prefetch_limit", "score_threshold"})
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


def _options(kwargs: dict[str, Any], allowed: frozenset[str], method: str) -> dict[str, Any]:
    return search_options(kwargs, allowed, f"{method}()")


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
    content = record.content if record.content is not None else (record.source or "")
    return Document(id=record.id, page_content=content, metadata=metadata)


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
        collection_name: the Qdrant collection (created on first use).
        path: directory of an embedded qdrant-edge store, the default backend (one process at a time); with
            neither ``path`` nor ``url``/``location``, a temporary directory removed on :meth:`close`.
        url, api_key: a Qdrant server, through qdrant-client.
        location: a qdrant-client location, e.g. ``":memory:"`` for an in-process throwaway store.
        prefetch_limit: how many candidates the pooled-vector prefetch passes to MaxSim.
        multivector_datatype: ``"float32"`` or ``"float16"`` storage of the token vectors.
        filterable_fields: ``{"metadata key": "keyword" | "integer" | "float" | "bool" | "text" | "datetime"}``
            to index for faster filtered search.
        write_batch_size: points per upsert request.
        show_progress: progress bars while embedding and writing.
        **collection_options: passed to the collection (``shard_number``, ``replication_factor``, ``on_disk``…).

    Every option is the core store's; see :class:`multivec.store.MultiVectorStore`. To wrap a core store you
    already have, use :meth:`from_store`. Ids may be any strings (or ints, returned as strings). The store is a
    context manager (sync and async); :meth:`close` releases the storage.
    """

    def __init__(
        self,
        embedding: MultiVectorEmbeddings | MultiVectorBaseEmbedding,
        collection_name: str = "multivec",
        *,
        path: str | os.PathLike[str] | None = None,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        prefetch_limit: int = DEFAULT_PREFETCH_LIMIT,
        multivector_datatype: str = DEFAULT_MULTIVECTOR_DATATYPE,
        filterable_fields: dict[str, str] | None = None,
        write_batch_size: int = 64,
        show_progress: bool = False,
        **collection_options: Any,
    ) -> None:
        embedder = as_core_embedder(embedding)
        self._init(
            MultiVectorStore(
                embedder,
                collection_name,
                path=path,
                url=url,
                api_key=api_key,
                location=location,
                prefetch_limit=prefetch_limit,
                multivector_datatype=multivector_datatype,
                filterable_fields=filterable_fields,
                write_batch_size=write_batch_size,
                show_progress=show_progress,
                **collection_options,
            ),
            embedding if isinstance(embedding, MultiVectorEmbeddings) else MultiVectorEmbeddings(embedder),
        )

    def _init(self, store: MultiVectorStore, embeddings: MultiVectorEmbeddings) -> None:
        self.store = store
        self._embeddings = embeddings

    @classmethod
    def from_store(cls, store: MultiVectorStore) -> Self:
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
        self = cls.__new__(cls)
        self._init(store, MultiVectorEmbeddings(store.embedding))
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
        ``metadata["page"]``, and their ``page_content`` is the source (else the id).

        >>> from PIL import Image
        >>> store = QdrantMultiVectorStore(MultiVectorEmbeddings.fake(dim=16), location=":memory:")
        >>> store.add_images([Image.new("RGB", (8, 8), "red")], ids=["p1"], sources=["report.pdf"], pages=[3])
        ['p1']
        >>> store.get_by_ids(["p1"])[0]
        Document(id='p1', metadata={'modality': 'image', 'source': 'report.pdf', 'page': 3}, page_content='report.pdf')
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
        """Add every page of every PDF (:func:`multivec.pdf.add_pdfs`): rendered page images with a multimodal
        embedder (ColPali, ColQwen2, BiPali, Infinity), the page text layer with a text-only one (ColBERT).

        Results have ``metadata["source"]`` (the file) and ``metadata["page"]`` (1-based). ``metadatas`` gives one
        dict per PDF; adding the same file again replaces its pages. Needs the ``pdf`` extra (pypdfium2).
        """
        return add_pdfs(self.store, paths, dpi=dpi, metadatas=metadatas)

    async def aadd_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        dpi: float = DEFAULT_DPI,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_pdfs`."""
        return await aadd_pdfs(self.store, paths, dpi=dpi, metadatas=metadatas)

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
        that id. The :class:`~multivec.explain.Explanation` gives ``.table()`` (each query token, the document token
        it matched, its share of the score) and ``.plot()``: similarity maps over the page for image documents whose
        model knows its patch layout (pages are re-rendered from ``metadata["source"]``/``["page"]`` at ``dpi``, by
        default the one they were indexed with),
        token contributions otherwise. Its ``score`` is this document's ``similarity_search_with_score`` score.

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

    def _hits(self, query: str | np.ndarray, k: int, kwargs: dict[str, Any]) -> list[Hit]:
        return self.store.search(query, k, **_options(kwargs, _SEARCH_OPTIONS, "search"))

    async def _ahits(self, query: str | np.ndarray, k: int, kwargs: dict[str, Any]) -> list[Hit]:
        return await self.store.asearch(query, k, **_options(kwargs, _SEARCH_OPTIONS, "search"))

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
        ``score_threshold``; for MMR ``k``, ``fetch_k``, ``lambda_mult``, ``filter``). With
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
        ``prefetch_limit``, ``score_threshold`` (as in :meth:`multivec.store.MultiVectorStore.search`).
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
