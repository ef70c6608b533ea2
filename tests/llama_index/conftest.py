"""Fixtures of the LlamaIndex adapter tests: stores on both backends, the fake and the offline ColBERT embedder.

Every test sets ``Settings.embed_model`` and ``Settings.llm`` explicitly (the ``llama_settings`` autouse fixture),
so nothing in LlamaIndex reaches for OpenAI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.llms import MockLLM

from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.embeddings.base import MultiVectorBaseEmbedding

#: The two storage backends every store test runs on: embedded qdrant-edge and qdrant-client's in-process mode.
BACKENDS = ("edge", "memory")
#: The embedders the LlamaIndex flows run with: the deterministic fake and ColBERT on the offline MiniLM model.
EMBEDDERS = ("fake", "colbert")


def open_store(
    backend: str, tmp_dir: Path, embedder: MultiVectorBaseEmbedding | None = None, **options: Any
) -> QdrantMultiVectorStore:
    """An empty store on ``backend`` ("edge": a qdrant-edge directory under ``tmp_dir``; "memory": ``:memory:``)."""
    emb = embedder if embedder is not None else DeterministicFakeMultiVectorEmbedding(dim=32)
    if backend == "edge":
        return QdrantMultiVectorStore(emb, path=str(tmp_dir / "edge-store"), **options)
    if backend == "memory":
        return QdrantMultiVectorStore(emb, location=":memory:", **options)
    raise ValueError(backend)


def colbert_embedder(minilm_dir: Path) -> MultiVectorBaseEmbedding:
    """ColBERT-style token vectors from the offline MiniLM model (fails loudly under CI when unavailable)."""
    try:
        from multivec.embeddings.colbert import ColBERTEmbeddings
    except ImportError as err:  # pragma: no cover - depends on the checkout
        if os.environ.get("CI"):
            pytest.fail(f"multivec.embeddings.colbert is required in CI: {err}")
        pytest.skip(f"multivec.embeddings.colbert is not available: {err}")
    return ColBERTEmbeddings(model_name=str(minilm_dir))


@pytest.fixture(autouse=True)
def llama_settings() -> Iterator[None]:
    """Pin LlamaIndex's global embed model and LLM to local ones for the test, and restore them afterwards."""
    saved = (Settings._embed_model, Settings._llm)
    Settings.embed_model = MultiVectorEmbedding(DeterministicFakeMultiVectorEmbedding(dim=32))
    Settings.llm = MockLLM()
    yield
    Settings._embed_model, Settings._llm = saved


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=32)


@pytest.fixture
def store(
    backend: str, tmp_path: Path, fake: DeterministicFakeMultiVectorEmbedding
) -> Iterator[QdrantMultiVectorStore]:
    with open_store(backend, tmp_path, fake) as s:
        yield s


@pytest.fixture(scope="session")
def colbert(minilm_dir: Path) -> MultiVectorBaseEmbedding:
    return colbert_embedder(minilm_dir)


@pytest.fixture(params=EMBEDDERS)
def embedder(request: pytest.FixtureRequest, fake: DeterministicFakeMultiVectorEmbedding) -> MultiVectorBaseEmbedding:
    if request.param == "fake":
        return fake
    return request.getfixturevalue("colbert")


@pytest.fixture
def any_store(backend: str, tmp_path: Path, embedder: MultiVectorBaseEmbedding) -> Iterator[QdrantMultiVectorStore]:
    """A store on each backend with each embedder; ``Settings.embed_model`` wraps the same embedder."""
    Settings.embed_model = MultiVectorEmbedding(embedder)
    with open_store(backend, tmp_path, embedder) as s:
        yield s
