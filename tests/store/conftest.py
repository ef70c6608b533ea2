"""Fixtures for the store suite: every behavioural test runs on both backends (qdrant-edge with a tmp path, and
qdrant-client's ``:memory:`` local mode)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding, MultiVectorBaseEmbedding
from multivec.store import MultiVectorStore
from multivec.types import Embedding

BACKENDS = ["edge", "memory"]


class FakeSingleVectorEmbedding(MultiVectorBaseEmbedding):
    """A single-vector (BiPali-like) embedder: the mean of the fake token vectors."""

    is_multi_vector = False

    def __init__(self, dim: int = 16) -> None:
        super().__init__(model_name="fake-single")
        self._tokens = DeterministicFakeMultiVectorEmbedding(dim=dim)

    @property
    def dim(self) -> int:
        return self._tokens.dim

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return [self._tokens.embed_text(t).mean(axis=0) for t in texts]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


StoreFactory = Callable[..., MultiVectorStore]


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """``make_store(embedding=None, **options)``: a store on the current backend, closed after the test."""
    stores: list[MultiVectorStore] = []

    def make(embedding: MultiVectorBaseEmbedding | None = None, **options: Any) -> MultiVectorStore:
        if backend == "edge":
            options.setdefault("path", tmp_path / "db")
        else:
            options.setdefault("location", ":memory:")
        store = MultiVectorStore(embedding or DeterministicFakeMultiVectorEmbedding(dim=16), **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> MultiVectorStore:
    return make_store()


def random_corpus(n: int, dim: int, seed: int = 0, min_len: int = 3, max_len: int = 12) -> list[np.ndarray]:
    """Unit-norm random multi-vectors of varying lengths (deterministic)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = rng.standard_normal((int(rng.integers(min_len, max_len + 1)), dim)).astype(np.float32)
        out.append(m / np.linalg.norm(m, axis=1, keepdims=True))
    return out
