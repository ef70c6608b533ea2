"""LangChain's standard RetrieversIntegrationTests (langchain-tests), unmodified, on MaxSimRetriever (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_multivec import MaxSimRetriever, QdrantMultiVectorStore
from tests.langchain.conftest import open_store

TEXTS = [
    "the wing stalls at a high angle of attack",
    "boundary layer separation on a wing",
    "heat transfer in hypersonic flow",
    "lift of thin airfoils",
    "shock waves on a cone",
]


class _MaxSimRetrieverSuite(RetrieversIntegrationTests):
    """The suite over a store pre-populated once per class (the suite builds retrievers from constructor params)."""

    backend: ClassVar[str]
    populated: ClassVar[QdrantMultiVectorStore]

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _populated_store(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        with open_store(cls.backend, tmp_path_factory.mktemp(cls.backend)) as store:
            store.add_texts(TEXTS)
            cls.populated = store
            yield

    @property
    def retriever_constructor(self) -> type[MaxSimRetriever]:
        return MaxSimRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"vectorstore": self.populated, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "why does a wing stall?"


class TestEdgeRetrieverStandard(_MaxSimRetrieverSuite):
    backend = "edge"


class TestMemoryRetrieverStandard(_MaxSimRetrieverSuite):
    backend = "memory"
