"""Opening an embedded store: the options given apply to an existing store too, and the token vectors are read into
the page cache in the background (the store does not load them before it opens)."""

from __future__ import annotations

from pathlib import Path

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.store.edge import EdgeBackend

from .conftest import random_corpus

DIM = 128
TOKENS = 255  # with the pooled vector, 128 KiB of float32 a document: 8 documents fill 1 MB


def _store(path: Path, **options: object) -> MultiVectorStore:
    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=path, write_batch_size=4, **options)


def _backend(store: MultiVectorStore) -> EdgeBackend:
    backend = store._backend
    assert isinstance(backend, EdgeBackend)
    return backend


def test_segment_mb_given_when_reopening_applies(tmp_path: Path) -> None:
    corpus = random_corpus(48, DIM, seed=4, min_len=TOKENS, max_len=TOKENS)
    with _store(tmp_path) as store:  # created with the default 128 MB segments
        store.add_embeddings(corpus[:8], ids=range(8))
    with _store(tmp_path, segment_mb=1) as store:
        store.add_embeddings(corpus[8:], ids=range(8, 48))
        # the shard's own thresholds follow the new option: a 1 MB segment is sealed (indexed), not left appendable
        assert _backend(store).segment_count >= 5
        assert store.count() == 48


def test_token_vectors_are_warmed_after_opening_unless_on_disk(tmp_path: Path) -> None:
    corpus = random_corpus(40, DIM, seed=5, min_len=TOKENS, max_len=TOKENS)
    token_bytes = sum(d.nbytes for d in corpus)
    query = random_corpus(1, DIM, seed=6, min_len=8, max_len=8)[0]
    with _store(tmp_path, segment_mb=1) as store:
        store.add_embeddings(corpus, ids=range(40))
        store.optimize()
        expected = [h.id for h in store.search(query, k=5)]
    for on_disk, warmed in ((False, True), (True, False)):
        with _store(tmp_path, on_disk=on_disk) as store:
            assert [h.id for h in store.search(query, k=5)] == expected  # answers while the warm-up runs
            warmer = _backend(store)._warmer
            assert warmer.wait(timeout=60)
            if warmed:
                # every written token row was read, and not much more (the chunk files' holes are skipped)
                assert token_bytes <= warmer.read_bytes < 2 * token_bytes
            else:
                assert warmer.read_bytes == 0
