"""Opening an embedded store: the options given apply to an existing store too, the ones left out have their defaults
(none sticks from an earlier open), and the token vectors are read into the page cache in the background (the store
does not load them before it opens)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError
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


def _search_pool_threads() -> dict[int, set[int]]:
    """The engine's search threads in this process: thread id -> the CPUs it may run on."""
    threads = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            if Path(f"/proc/self/task/{tid}/comm").read_text().startswith("edge-search"):
                threads[int(tid)] = os.sched_getaffinity(int(tid))
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            pass
    return threads


def _opened_pool(path: Path, **options: object) -> list[set[int]]:
    before = _search_pool_threads()
    with _store(path, **options):
        return [cpus for tid, cpus in _search_pool_threads().items() if tid not in before]


def test_search_pool_options_apply_to_one_open_only(tmp_path: Path) -> None:
    default = _opened_pool(tmp_path / "fresh")
    all_cpus = os.sched_getaffinity(0)
    assert default and all(cpus == all_cpus for cpus in default)
    core = min(all_cpus)
    assert _opened_pool(tmp_path / "store", max_search_threads=1, search_pool_core=core) == [{core}]
    # reopened without them: the engine's own defaults again, not the options of the earlier open
    assert _opened_pool(tmp_path / "store") == default
    assert len(_opened_pool(tmp_path / "store", max_search_threads=2)) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_search_threads": 0}, "max_search_threads must be a positive int, got 0"),
        ({"max_search_threads": "2"}, "max_search_threads must be a positive int, got '2'"),
        ({"search_pool_core": -1}, "search_pool_core must be an int >= 0, got -1"),
        ({"search_pool_core": True}, "search_pool_core must be an int >= 0, got True"),
    ],
)
def test_bad_search_pool_options_raise_before_anything_is_written(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _store(tmp_path, **options)
    assert not any(tmp_path.iterdir())
