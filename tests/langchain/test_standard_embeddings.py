"""LangChain's standard embeddings suites (langchain-tests), unmodified, on the drop-in MultiVectorEmbeddings.

Two models: the deterministic fake (multi-vector, pooled for LangChain) and the offline MiniLM ColBERT encoder.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_multivec import MultiVectorEmbeddings
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding


@cache
def _colbert() -> Any:
    from multivec.embeddings import ColBERTEmbeddings
    from multivec.testing.tiny_models import minilm_dir

    return ColBERTEmbeddings(str(minilm_dir()))


class TestFakeEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[MultiVectorEmbeddings]:
        return MultiVectorEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": DeterministicFakeMultiVectorEmbedding(dim=16)}


class TestFakeEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MultiVectorEmbeddings]:
        return MultiVectorEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": DeterministicFakeMultiVectorEmbedding(dim=16)}


class TestColBERTEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[MultiVectorEmbeddings]:
        return MultiVectorEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": _colbert()}


class TestColBERTEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MultiVectorEmbeddings]:
        return MultiVectorEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": _colbert()}
