"""LangChain's standard VectorStoreIntegrationTests (langchain-tests), unmodified, on both store backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_multivec import QdrantMultiVectorStore
from tests.langchain.conftest import open_store


class _MaxSimStoreSuite(VectorStoreIntegrationTests):
    """The suite, run once per backend by the subclasses below (each test gets a fresh, empty store)."""

    backend: ClassVar[str]

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[QdrantMultiVectorStore]:
        with open_store(self.backend, tmp_path) as store:
            yield store


class TestEdgeStoreStandard(_MaxSimStoreSuite):
    backend = "edge"


class TestMemoryStoreStandard(_MaxSimStoreSuite):
    backend = "memory"
