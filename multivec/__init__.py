"""multivec: late-interaction (multi-vector, MaxSim) retrieval stored in Qdrant, for LangChain and LlamaIndex.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> DeterministicFakeMultiVectorEmbedding(dim=8).embed_query("hello world").shape
(2, 8)
"""

from __future__ import annotations

from multivec.errors import (
    ConfigurationError,
    EmbeddingError,
    InfinityError,
    InvalidInputError,
    MultivecError,
    StoreError,
    StoreLockedError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "EmbeddingError",
    "InfinityError",
    "InvalidInputError",
    "MultivecError",
    "StoreError",
    "StoreLockedError",
    "__version__",
]
