"""The embedded store's segment layout: the write segment is sealed every ``segment_mb`` MB of vectors, so that
searches spread over the engine's search threads, and sealed segments are not merged back together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError
from multivec.scoring import maxsim
from multivec.store import MultiVectorStore
from multivec.store.edge import EdgeBackend

from .conftest import random_corpus

DIM = 128
# 255 token rows + the pooled vector, float32: 128 KiB a document, so 8 documents fill 1 MB
TOKENS = 255


def _corpus(n: int, seed: int) -> list[np.ndarray]:
    return random_corpus(n, DIM, seed=seed, min_len=TOKENS, max_len=TOKENS)


def _segments(store: MultiVectorStore) -> int:
    backend = store._backend
    assert isinstance(backend, EdgeBackend)
    return backend.segment_count


def _store(path: Path, **options: object) -> MultiVectorStore:
    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=path, write_batch_size=4, **options)


def test_write_segment_is_sealed_every_segment_mb_within_one_call(tmp_path: Path) -> None:
    corpus = _corpus(40, seed=1)
    with _store(tmp_path / "small", segment_mb=1) as store:
        store.add_embeddings(corpus, ids=range(40))
        sealed = _segments(store)
        store.optimize()  # a bulk load's last, partly filled segment; sealed ones stay apart (1.5 MB cap)
        after_optimize = _segments(store)
    with _store(tmp_path / "default") as store:
        store.add_embeddings(corpus, ids=range(40))
        store.optimize()
        default = _segments(store)
    # 40 documents of 1/8 MB: a seal after every 8, one call; the default 128 MB keeps them in one segment
    assert sealed >= 5
    assert after_optimize >= 5
    assert default <= 2


def test_searches_over_many_segments_equal_numpy_maxsim_and_survive_reopen(tmp_path: Path) -> None:
    corpus = _corpus(48, seed=2)
    queries = random_corpus(4, DIM, seed=3, min_len=8, max_len=8)
    with _store(tmp_path, segment_mb=1) as store:
        store.add_embeddings(corpus[:20], ids=range(20))
        store.add_embeddings(corpus[20:], ids=range(20, 48))
        assert _segments(store) >= 5
        exact = [[h.id for h in store.search(q, k=5, exact=True)] for q in queries]
        staged = [[h.id for h in store.search(q, k=5)] for q in queries]
    for q, ids in zip(queries, exact, strict=True):
        reference = np.array([maxsim(q, d) for d in corpus])
        assert ids == [str(i) for i in np.argsort(-reference)[:5]]
    with _store(tmp_path) as reopened:
        assert reopened.count() == 48
        assert [[h.id for h in reopened.search(q, k=5, exact=True)] for q in queries] == exact
        assert [[h.id for h in reopened.search(q, k=5)] for q in queries] == staged


@pytest.mark.parametrize("value", [0, -1, 1.5, "64", True])
def test_segment_mb_must_be_a_positive_int(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigurationError, match="segment_mb must be a positive int"):
        _store(tmp_path, segment_mb=value)
