"""LlamaIndex integration of multivec: late-interaction (MaxSim) retrieval on Qdrant.

- :class:`MultiVectorEmbedding`: any multivec embedder as a LlamaIndex ``MultiModalEmbedding`` (pooled vectors).
- :class:`QdrantMultiVectorStore`: a ``BasePydanticVectorStore`` storing token vectors and searching by MaxSim.
- :class:`MaxSimRetriever`: text→text / text→image retrieval with raw and [0, 1] scores.
- :class:`MaxSimRerank`: a node postprocessor reranking any retriever's nodes by MaxSim.

>>> from llama_index.core import Settings, StorageContext, VectorStoreIndex
>>> from llama_index.core.schema import TextNode
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore
>>> embedder = DeterministicFakeMultiVectorEmbedding(dim=32)
>>> Settings.embed_model = MultiVectorEmbedding(embedder)
>>> store = QdrantMultiVectorStore(embedder, location=":memory:")
>>> storage_context = StorageContext.from_defaults(vector_store=store)
>>> index = VectorStoreIndex([TextNode(text="red apples"), TextNode(text="blue cars")], storage_context=storage_context)
>>> [n.node.get_content() for n in index.as_retriever(similarity_top_k=1).retrieve("blue cars")]
['blue cars']
>>> store.close()
"""

from __future__ import annotations

from llama_index_multivec._nodes import RAW_SCORE_KEY
from llama_index_multivec.embeddings import MultiVectorEmbedding
from llama_index_multivec.filters import to_store_filter
from llama_index_multivec.postprocessors import MaxSimRerank
from llama_index_multivec.retrievers import MaxSimRetriever
from llama_index_multivec.vector_stores import QdrantMultiVectorStore

__all__ = [
    "RAW_SCORE_KEY",
    "MaxSimRerank",
    "MaxSimRetriever",
    "MultiVectorEmbedding",
    "QdrantMultiVectorStore",
    "to_store_filter",
]
