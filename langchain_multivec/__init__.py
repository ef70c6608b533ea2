"""LangChain integration of multivec: late-interaction (MaxSim) retrieval on Qdrant.

- :class:`MultiVectorEmbeddings`: drop-in ``Embeddings`` for every multivec embedder (pooled single vectors for any
  LangChain component, token vectors through ``*_multi`` / ``embed_images``).
- :class:`QdrantMultiVectorStore`: a ``VectorStore`` storing token vectors and searching by MaxSim.
- :class:`MaxSimRetriever`: a ``BaseRetriever`` over that store (similarity, MMR, relevance threshold).
- :class:`MaxSimReranker`: a ``BaseDocumentCompressor`` reranking any retriever's documents by MaxSim.

>>> from langchain_multivec import MaxSimRetriever, MultiVectorEmbeddings, QdrantMultiVectorStore
>>> store = QdrantMultiVectorStore.from_texts(["red apples", "blue cars"], MultiVectorEmbeddings.fake(),
...                                           location=":memory:")
>>> MaxSimRetriever(vectorstore=store, k=1).invoke("apples")[0].page_content
'red apples'
"""

from __future__ import annotations

from langchain_multivec.embeddings import MultiVectorEmbeddings
from langchain_multivec.rerankers import MaxSimReranker
from langchain_multivec.retrievers import MaxSimRetriever
from langchain_multivec.vectorstores import QdrantMultiVectorStore

__all__ = ["MaxSimReranker", "MaxSimRetriever", "MultiVectorEmbeddings", "QdrantMultiVectorStore"]
