"""Fixtures of the LangChain adapter tests: stores on both backends, the fake and the offline ColBERT embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding

#: The two storage backends every store test runs on: embedded qdrant-edge and qdrant-client's in-process mode.
BACKENDS = ("edge", "memory")


def fake_embeddings(dim: int = 32) -> MultiVectorEmbeddings:
    return MultiVectorEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=dim))


def open_store(backend: str, tmp_dir: Path, embedding: object = None, **options: object) -> QdrantMultiVectorStore:
    """An empty store on ``backend`` ("edge": a qdrant-edge directory under ``tmp_dir``; "memory": ``:memory:``)."""
    emb = embedding if embedding is not None else fake_embeddings()
    if backend == "edge":
        return QdrantMultiVectorStore(emb, path=str(tmp_dir / "edge-store"), **options)  # type: ignore[arg-type]
    if backend == "memory":
        return QdrantMultiVectorStore(emb, location=":memory:", **options)  # type: ignore[arg-type]
    raise ValueError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[QdrantMultiVectorStore]:
    with open_store(backend, tmp_path) as s:
        yield s
