"""MaxSim reranking of any retriever's documents, as a LangChain document compressor.

:class:`MaxSimReranker` re-scores the candidates of any retriever (BM25, a dense store, ours) with a multi-vector
embedder and keeps the best ``top_n``. It is a ``BaseDocumentCompressor``, so it plugs into
``ContextualCompressionRetriever`` (``langchain_classic.retrievers``) or any pipeline that calls
``compress_documents``. Scoring is :func:`multivec.rerank.rerank`: candidates are embedded in batches of the
embedder's ``embed_batch_size``.

>>> from langchain_core.documents import Document
>>> from langchain_multivec import MaxSimReranker, MultiVectorEmbeddings
>>> reranker = MaxSimReranker(embedding=MultiVectorEmbeddings.fake(dim=32), top_n=1)
>>> docs = [Document(page_content="blue cars"), Document(page_content="red apples")]
>>> best = reranker.compress_documents(docs, "red apples")
>>> best[0].page_content, best[0].metadata["relevance_score"]
('red apples', 1.0)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from langchain_multivec.embeddings import MultiVectorEmbeddings, as_core_embedder
from multivec._options import boolean, configuration_errors, items, known_keys, optional_positive_int
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.embeddings.cache import with_cache
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.pdf import check_dpi
from multivec.rerank import Modality, RerankResult, arerank, rerank
from multivec.source_images import page_dpi, source_image
from multivec.types import ImageInput

__all__ = ["MaxSimReranker"]


def _candidates(documents: Sequence[Document], pdf_dpi: float | None) -> tuple[list[str | ImageInput], list[Modality]]:
    """What to embed for each document: its text, or for image documents (``metadata["modality"] == "image"``,
    as returned by :class:`~langchain_multivec.QdrantMultiVectorStore`) the image at ``metadata["source"]`` (for a
    PDF, page ``metadata["page"]`` rendered at ``pdf_dpi`` or the page's own ``page_dpi``)."""
    inputs: list[str | ImageInput] = []
    modalities: list[Modality] = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InvalidInputError(f"documents[{i}] is {type(doc).__name__}; pass LangChain Documents", index=i)
        if doc.metadata.get("modality") == "image":
            source = doc.metadata.get("source")
            if not source:
                raise InvalidInputError(
                    f"documents[{i}] is an image document without metadata['source']; set it to the image's path",
                    index=i,
                )
            inputs.append(source_image(source, doc.metadata.get("page"), dpi=page_dpi(doc.metadata, pdf_dpi)))
            modalities.append("image")
        else:
            inputs.append(doc.page_content)
            modalities.append("text")
    return inputs, modalities


def _reranked(documents: Sequence[Document], results: list[RerankResult]) -> list[Document]:
    """Copies of the documents in result order, with ``relevance_score`` ([0, 1]) and raw MaxSim ``score``."""
    out = []
    for r in results:
        doc = documents[r.index]
        metadata = {**doc.metadata, "relevance_score": r.relevance, "score": r.score}
        out.append(doc.model_copy(update={"metadata": metadata}))
    return out


class MaxSimReranker(BaseDocumentCompressor):
    """Rerank documents by MaxSim against the query with a multi-vector embedder; keep the best ``top_n``.

    Args:
        embedding: a :class:`~langchain_multivec.MultiVectorEmbeddings` or a core multivec embedder.
        top_n: how many documents to keep (``None``: keep all, reordered). Default 3, like LangChain's other
            rerankers.
        pdf_dpi: resolution at which PDF pages are rendered for scoring. ``None`` (default): the one each page was
            indexed with (``metadata["page_dpi"]``, set by ``add_pdfs``), so pages score as they do in the store;
            :data:`multivec.pdf.DEFAULT_DPI` for pages without it.
        show_progress: progress bar while embedding the candidates.
        cache: the candidates' and queries' embeddings are kept in an embedding cache, so a document that comes
            back for another query is not embedded again (``True``, the default: a
            :class:`~multivec.embeddings.MemoryCache`; or any :class:`~multivec.embeddings.EmbeddingCache`, e.g. a
            ``DiskCache``; ``False``: none). See :func:`multivec.embeddings.cache.with_cache`.

    Returned documents are copies (the inputs are not modified) with ``metadata["relevance_score"]`` (MaxSim mapped
    to [0, 1], comparable across queries) and ``metadata["score"]`` (raw MaxSim). Image documents
    (``metadata["modality"] == "image"``) are embedded from the image at ``metadata["source"]`` (for PDF pages,
    page ``metadata["page"]`` rendered at ``pdf_dpi``), which needs a multimodal embedder.

    Reranking a BM25 retriever::

        from langchain_classic.retrievers import ContextualCompressionRetriever
        from langchain_community.retrievers import BM25Retriever

        bm25 = BM25Retriever.from_texts(texts, k=20)
        reranker = MaxSimReranker(embedding=MultiVectorEmbeddings.create("colbert", "colbert-ir/colbertv2.0"), top_n=4)
        retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=bm25)
        retriever.invoke("how do wings stall?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    embedding: MultiVectorBaseEmbedding
    top_n: int | None = Field(default=3, ge=1)
    pdf_dpi: float | None = Field(default=None, gt=0)
    show_progress: bool = False

    def __init__(self, **data: Any) -> None:
        # checked before pydantic, which would wrap our errors (and its own) in a ValidationError
        cache = data.pop("cache", True)
        known_keys(data, type(self).model_fields, "MaxSimReranker")
        if "embedding" not in data:
            raise ConfigurationError("MaxSimReranker needs embedding=, a multivec embedder or MultiVectorEmbeddings")
        checked = {**data, "embedding": with_cache(as_core_embedder(data["embedding"]), cache)}
        if "top_n" in data:
            checked["top_n"] = optional_positive_int(data["top_n"], "top_n")
        if data.get("pdf_dpi") is not None:
            checked["pdf_dpi"] = check_dpi(data["pdf_dpi"], "pdf_dpi")
        if "show_progress" in data:
            checked["show_progress"] = boolean(data["show_progress"], "show_progress")
        with configuration_errors("MaxSimReranker"):
            super().__init__(**checked)

    @property
    def embeddings(self) -> MultiVectorEmbeddings:
        """The embedder as a drop-in LangChain ``Embeddings``."""
        return MultiVectorEmbeddings(self.embedding)

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (copies with scores in metadata)."""
        documents = items(documents, "documents")
        if not documents:
            return []
        inputs, modalities = _candidates(documents, self.pdf_dpi)
        results = rerank(
            self.embedding, query, inputs, modalities=modalities, top_n=self.top_n, show_progress=self.show_progress
        )
        return _reranked(documents, results)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async twin of :meth:`compress_documents` (the query and candidates are embedded concurrently)."""
        documents = items(documents, "documents")
        if not documents:
            return []
        inputs, modalities = await asyncio.to_thread(_candidates, documents, self.pdf_dpi)
        results = await arerank(
            self.embedding, query, inputs, modalities=modalities, top_n=self.top_n, show_progress=self.show_progress
        )
        return _reranked(documents, results)
