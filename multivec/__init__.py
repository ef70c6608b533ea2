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

# imported eagerly (numpy, PIL, tqdm; no torch, no matplotlib): a lazy ``explain`` would be shadowed by the
# ``multivec.explain`` submodule as soon as that is imported
from multivec.explain import Explanation, aexplain_record, explain, explain_record

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "EmbeddingError",
    "Explanation",
    "InfinityError",
    "InvalidInputError",
    "MultivecError",
    "StoreError",
    "StoreLockedError",
    "__version__",
    "aexplain_record",
    "explain",
    "explain_record",
]
