"""``store.stats()``: its numbers match what the store holds and what was done to it, on both backends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from multivec.embeddings import CachedEmbeddings, DeterministicFakeMultiVectorEmbedding, MemoryCache
from multivec.errors import InvalidInputError, StoreError
from multivec.store import MultiVectorStore
from multivec.store.stats import DISK_COMPONENTS, disk_usage
from tests.store.conftest import StoreFactory, random_corpus

TEXTS = ["red apples", "blue cars", "green pears and plums", "fast trains"]


def test_counts_and_operations_match_what_was_done(make_store: StoreFactory, backend: str) -> None:
    store = make_store()
    store.add_texts(TEXTS[:3])
    store.add_texts(TEXTS[3:], ids=["t"])
    for query in ("red", "cars", "trains"):
        store.search(query, k=2)
    store.delete(["t"])
    with pytest.raises(InvalidInputError):
        store.search("red", k=0)
    records = store.count()
    stats = store.stats()

    assert stats.records == records == 3
    assert (stats.backend, stats.collection, stats.dim, stats.multi_vector) == (backend, "multivec", 16, True)
    assert stats.model_name == "deterministic-fake" and stats.datatype == "float32"
    add = stats.operations["add_texts"]
    assert (add.calls, add.items, add.errors) == (2, 4, 0)
    assert add.tokens == sum(len(DeterministicFakeMultiVectorEmbedding._tokens(t)) for t in TEXTS)
    search = stats.operations["search"]
    assert (search.calls, search.items, search.errors, search.window) == (4, 6, 1, 4)
    assert search.errors_by_type == {"InvalidInputError": 1}
    assert search.p50_ms is not None and search.p95_ms is not None and search.max_ms is not None
    assert 0 < search.p50_ms <= search.p95_ms <= search.max_ms
    assert stats.operations["delete"].calls == 1
    assert stats.operations["count"].calls == 1  # store.count() above; stats() itself counts nothing
    assert stats.segments is not None and stats.segments >= 1
    assert (stats.prefetch_limit, stats.pooled_limit, stats.tuning) == (100, 30, None)
    assert (stats.token_pooling, stats.pool_factor, stats.embedding_cache) == (None, None, None)
    data = json.loads(json.dumps(stats.as_dict()))
    assert data["operations"]["search"]["errors_by_type"] == {"InvalidInputError": 1}


def test_edge_disk_usage_by_component_is_what_the_files_take(tmp_path: Path) -> None:
    dim, n_docs = 32, 300
    docs = random_corpus(n_docs, dim, min_len=20, max_len=20)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=dim), path=tmp_path, token_pooling=4) as store:
        store.add_embeddings(docs)
        stats = store.stats()
        assert stats.path == str(tmp_path / "multivec")
        assert disk_usage(tmp_path / "multivec") == stats.disk_by_component  # nothing wrote in between
    usage = stats.disk_by_component
    assert stats.disk_bytes == sum(usage.values())
    expected = {"vectors.dense", "vectors.multivector", "vectors.pooled_tokens", "payload", "wal", "multivec"}
    assert expected <= set(usage)
    assert all(name.split(".")[0] + (".<name>" if "." in name else "") in DISK_COMPONENTS for name in usage)
    token_bytes = n_docs * 20 * dim * 4
    # the token vectors take at least their float32 size, and not more than the engine's chunk rounding adds
    assert token_bytes <= usage["vectors.multivector"] < token_bytes + 64 * 2**20
    assert usage["vectors.multivector"] > usage["vectors.pooled_tokens"] > usage["vectors.dense"]
    assert stats.ram_bytes_estimate == stats.disk_bytes - usage["wal"] - usage["multivec"]
    assert stats.token_pooling == 4


def test_on_disk_token_vectors_leave_the_ram_estimate(tmp_path: Path) -> None:
    docs = random_corpus(200, 32, min_len=16, max_len=16)
    emb = DeterministicFakeMultiVectorEmbedding(dim=32)
    with MultiVectorStore(emb, path=tmp_path) as store:
        store.add_embeddings(docs)
    with MultiVectorStore(emb, path=tmp_path) as store:
        warm = store.stats()
    with MultiVectorStore(emb, path=tmp_path, on_disk=True) as store:
        cold = store.stats()
    tokens = cold.disk_by_component["vectors.multivector"]
    assert tokens == warm.disk_by_component["vectors.multivector"] > 0
    assert warm.ram_bytes_estimate is not None and cold.ram_bytes_estimate is not None
    assert warm.ram_bytes_estimate - cold.ram_bytes_estimate == tokens


def test_server_side_stats_come_from_the_collection_info() -> None:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), "notes", location=":memory:") as store:
        store.add_texts(TEXTS)
        stats = store.stats()
    assert (stats.backend, stats.records, stats.status) == ("memory", 4, "green")
    assert stats.segments is not None and stats.path is None
    assert (stats.disk_bytes, stats.disk_by_component, stats.ram_bytes_estimate) == (None, {}, None)


def test_settings_are_reported(tmp_path: Path) -> None:
    emb = DeterministicFakeMultiVectorEmbedding(dim=8)
    options = {"multivector_datatype": "float16", "token_pooling": 2, "prefetch_limit": 40, "pooled_limit": 12}
    with MultiVectorStore(emb, path=tmp_path, pool_factor=2, **options) as store:  # type: ignore[arg-type]
        stats = store.stats()
    assert (stats.datatype, stats.token_pooling, stats.pool_factor) == ("float16", 2, 2)
    assert (stats.prefetch_limit, stats.pooled_limit, stats.tuning) == (40, 12, None)
    assert stats.hybrid == {"fusion": "dbsf", "weight": 0.3, "limit": 30}  # new collections get the lexical index
    with MultiVectorStore(emb, path=tmp_path, hybrid_fusion="rrf") as store:  # type: ignore[arg-type]
        assert store.stats().hybrid == {"fusion": "rrf", "weight": 0.3, "limit": 30}


def test_tuned_limits_are_reported(tmp_path: Path) -> None:
    docs = random_corpus(120, 8, seed=3)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path) as store:
        store.add_embeddings(docs)
        result = store.tune(target_recall=0.9, sample=20, k=5)
        stats = store.stats()
    assert stats.tuning is not None
    assert stats.tuning["prefetch_limit"] == result.prefetch_limit == stats.prefetch_limit
    assert stats.tuning["recall"] == pytest.approx(result.recall)
    assert stats.operations["tune"].calls == 1


def test_embedding_cache_hits_are_reported() -> None:
    emb = CachedEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=8), MemoryCache())
    with MultiVectorStore(emb) as store:
        store.add_texts(TEXTS)
        store.add_texts(TEXTS[:2])  # both embedded before: hits
        store.search("red apples", k=1)
        store.search("red apples", k=1)  # the query embedded before: a hit
        stats = store.stats()
    assert stats.embedding_cache is not None
    assert (stats.embedding_cache.hits, stats.embedding_cache.misses) == (3, 5)
    assert stats.embedding_cache.entries == 5
    embedder = emb.stats()
    assert embedder.cache == stats.embedding_cache
    assert embedder.operations["query"].calls == 2 and embedder.operations["documents"].items == 6


def test_async_twin_and_closed_store(tmp_path: Path) -> None:
    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path)

    async def main() -> int:
        await store.aadd_texts(TEXTS)
        await store.asearch(np.ones((2, 8), np.float32), k=1)
        stats = await store.astats()
        assert stats.operations["search"].calls == 1
        return stats.records

    assert asyncio.run(main()) == 4
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.stats()
