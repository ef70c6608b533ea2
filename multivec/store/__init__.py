"""The multi-vector store: MaxSim retrieval on Qdrant, embedded (qdrant-edge) by default or on a Qdrant server.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.store import MultiVectorStore
>>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
...     ids = store.add_texts(["red apples", "blue cars"], metadatas=[{"genre": "fruit"}, {"genre": "auto"}])
...     [hit.content for hit in store.search("apples", k=1)]
['red apples']
"""

from __future__ import annotations

from multivec.store.records import Hit, Record
from multivec.store.store import MultiVectorStore

__all__ = ["Hit", "MultiVectorStore", "Record"]
