"""Multi-vector embedders: the contract, a deterministic fake, an Infinity client and local models.

Heavy embedders (``ColPaliEmbeddings``, ``BiPaliEmbeddings``, ``ColBERTEmbeddings``, ``InfinityEmbeddings``) are
imported lazily, so ``import multivec.embeddings`` needs only the base install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.embeddings.cache import (
    CachedEmbeddings,
    CachedMultiModalEmbeddings,
    CacheStats,
    DiskCache,
    EmbeddingCache,
    MemoryCache,
)
from multivec.embeddings.catalogue import CATALOGUE, KnownModel
from multivec.embeddings.fake import DeterministicFakeMultiVectorEmbedding

if TYPE_CHECKING:
    from multivec.embeddings.colbert import ColBERTEmbeddings, offline_minilm_path
    from multivec.embeddings.colpali import BiPaliEmbeddings, ColPaliEmbeddings
    from multivec.embeddings.infinity import InfinityEmbeddings

__all__ = [
    "CATALOGUE",
    "BiPaliEmbeddings",
    "CacheStats",
    "CachedEmbeddings",
    "CachedMultiModalEmbeddings",
    "ColBERTEmbeddings",
    "ColPaliEmbeddings",
    "DeterministicFakeMultiVectorEmbedding",
    "DiskCache",
    "EmbeddingCache",
    "InfinityEmbeddings",
    "KnownModel",
    "MemoryCache",
    "MultiVectorBaseEmbedding",
    "MultiVectorMultiModalEmbedding",
    "offline_minilm_path",
]

_LAZY = {
    "InfinityEmbeddings": "multivec.embeddings.infinity",
    "ColPaliEmbeddings": "multivec.embeddings.colpali",
    "BiPaliEmbeddings": "multivec.embeddings.colpali",
    "ColBERTEmbeddings": "multivec.embeddings.colbert",
    "offline_minilm_path": "multivec.embeddings.colbert",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'multivec.embeddings' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
