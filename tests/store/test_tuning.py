"""The recall tuner: it finds the limit a search needs, saves it with the store, and refuses what it cannot tune."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError, StoreCorruptedError
from multivec.store import MultiVectorStore
from multivec.store.layout import META_FILE, TUNING_FILE
from multivec.store.store import DEFAULT_POOLED_LIMIT, DEFAULT_PREFETCH_LIMIT
from multivec.store.tuning import TuningResult, ladder, pseudo_queries_flow
from tests.store.conftest import FakeSingleVectorEmbedding, StoreFactory, random_corpus

DIM = 16
DECOYS, TARGETS, FILLERS = 40, 5, 30


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def decoy_corpus() -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """A corpus where the first stage provably ranks the answers low, and its query.

    The query is the axis e0. Decoys: one token leaning to e0 (cosine 0.4-0.7), so their pooled vectors are the
    closest to it, but their MaxSim is at most 0.7. Targets: one token at e0 (cosine 0.99+) among nine tokens
    along e1/e2, so their pooled vectors are far from the query (cosine about 0.11) but MaxSim is the best.
    Fillers: tokens orthogonal to e0. The exact top 5 are the targets, and the pooled-vector stage ranks all 40
    decoys above them: a prefetch below 45 misses every one.
    """
    eye = np.eye(DIM, dtype=np.float32)
    docs, ids = [], []
    for i in range(DECOYS):
        docs.append(_unit(eye[0] * (0.7 - 0.3 * i / DECOYS) + eye[3 + i % 5] * 0.6)[None, :])
        ids.append(f"decoy{i}")
    for j in range(TARGETS):
        best = _unit(eye[0] + eye[15] * 0.02 * j)
        docs.append(np.stack([best] + [_unit(eye[1] + eye[2] * 0.1 * j)] * 9))
        ids.append(f"target{j}")
    for f in range(FILLERS):
        docs.append(np.stack([_unit(eye[8 + f % 6] + eye[9 + f % 5] * 0.1 * f)] * 3))
        ids.append(f"filler{f}")
    return docs, ids, eye[:1]


def test_the_tuner_finds_the_limit_a_tiny_prefetch_misses(make_store: StoreFactory) -> None:
    docs, ids, query = decoy_corpus()
    store = make_store()
    store.add_embeddings(docs, ids=ids)
    targets = {f"target{j}" for j in range(TARGETS)}
    assert {h.id for h in store.search(query, k=TARGETS, exact=True)} == targets
    assert not targets & {h.id for h in store.search(query, k=TARGETS, prefetch_limit=DECOYS)}

    result = store.tune(target_recall=1.0, queries=[query], k=TARGETS)

    assert result.met and result.recall == 1.0 and result.query_source == "given" and result.queries == 1
    assert result.prefetch_limit == 50  # the first ladder step at or past 40 decoys + 5 targets
    assert [p.prefetch_limit for p in result.curve] == [5, 7, 10, 15, 20, 30, 40, 50]
    assert [p.complete for p in result.curve] == [False] * 7 + [True]
    assert result.curve[-2].recall == 0.0 and result.records == len(docs) and result.pooled_limit is None
    assert store.prefetch_limit == 50 and store.tuning == result
    assert {h.id for h in store.search(query, k=TARGETS)} == targets  # the store now searches with it


def _recall(store: MultiVectorStore, queries: list[np.ndarray], k: int, **options: Any) -> float:
    found = [{h.id for h in store.search(q, k=k, **options)} for q in queries]
    exact = [{h.id for h in store.search(q, k=k, exact=True)} for q in queries]
    return float(np.mean([len(f & e) / len(e) for f, e in zip(found, exact, strict=True)]))


def test_pseudo_queries_meet_the_target_and_the_step_below_does_not(tmp_path: Path) -> None:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path / "db") as store:
        store.add_embeddings(random_corpus(400, DIM, seed=3), ids=list(range(400)))
        result = store.tune(target_recall=0.9, sample=60, k=5)
        again = store.tune(target_recall=0.9, sample=60, k=5)
        queries = store._run(pseudo_queries_flow(store, 60, 0))

    assert result.met and result.query_source == "pseudo" and result.queries == len(queries) == 60
    assert replace(again, seconds=0, tuned_at="") == replace(result, seconds=0, tuned_at="")  # seeded
    assert result.prefetch_limit > 5 and not result.curve[0].complete  # a prefetch of k is not enough here
    # measured independently, on the same pseudo-queries: the chosen limit meets the target, the step below fails
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path / "db") as store:
        assert _recall(store, queries, 5, prefetch_limit=result.prefetch_limit) >= 0.9
        assert _recall(store, queries, 5, prefetch_limit=result.curve[-2].prefetch_limit) < 0.9


def test_pseudo_queries_are_8_to_32_of_a_stored_documents_tokens(store: MultiVectorStore) -> None:
    corpus = random_corpus(30, DIM, seed=1, min_len=40, max_len=60)
    store.add_embeddings(corpus)
    queries = store._run(pseudo_queries_flow(store, 20, seed=7))
    assert len(queries) == 20 and all(8 <= len(q) <= 32 for q in queries)
    rows = {row.tobytes() for doc in store.get_vectors([r.id for r in store.scroll()]) for row in doc}
    assert all(row.tobytes() in rows for q in queries for row in q)
    assert [len(q) for q in store._run(pseudo_queries_flow(store, 20, seed=7))] == [len(q) for q in queries]


def test_tuned_limits_persist_and_an_explicit_one_wins(tmp_path: Path) -> None:
    docs, ids, query = decoy_corpus()
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    with MultiVectorStore(fake, path=tmp_path) as store:
        store.add_embeddings(docs, ids=ids)
        meta = hashlib.sha256((store.path / META_FILE).read_bytes()).hexdigest()  # type: ignore[operator]
        assert store.tuning is None and store.prefetch_limit == DEFAULT_PREFETCH_LIMIT
        result = store.tune(target_recall=1.0, queries=[query], k=TARGETS)
    directory = tmp_path / "multivec"
    assert json.loads((directory / TUNING_FILE).read_text())["prefetch_limit"] == 50
    assert hashlib.sha256((directory / META_FILE).read_bytes()).hexdigest() == meta  # multivec.json untouched

    with MultiVectorStore(fake, path=tmp_path) as store:
        assert store.prefetch_limit == 50 and store.tuning == result
        assert store.verify().ok
    with MultiVectorStore(fake, path=tmp_path, prefetch_limit=7) as store:
        assert store.prefetch_limit == 7 and store.tuning == result
        assert store.pooled_limit == DEFAULT_POOLED_LIMIT


def test_the_server_backend_keeps_them_in_the_collection_metadata() -> None:
    docs, ids, query = decoy_corpus()
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    client = QdrantClient(location=":memory:")
    with MultiVectorStore(fake, "tuned", client=client) as store:
        store.add_embeddings(docs, ids=ids)
        result = store.tune(target_recall=1.0, queries=[query], k=TARGETS)
    metadata = client.get_collection("tuned").config.metadata
    assert metadata is not None and metadata["tuning"]["prefetch_limit"] == 50 and metadata["dim"] == DIM
    with MultiVectorStore(fake, "tuned", client=client) as store:  # opened again: the server's copy is used
        assert store.prefetch_limit == 50 and store.tuning == result
    with MultiVectorStore(fake, "tuned", client=client, prefetch_limit=300) as store:
        assert store.prefetch_limit == 300
    client.close()


def test_three_stages_tune_the_pooled_limit_too(tmp_path: Path) -> None:
    corpus = random_corpus(300, DIM, seed=5, min_len=8, max_len=24)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path, token_pooling=4) as store:
        store.add_embeddings(corpus, ids=list(range(len(corpus))))
        result = store.tune(target_recall=0.8, sample=40, k=5)
        queries = store._run(pseudo_queries_flow(store, 40, 0))
        assert result.met and result.pooled_limit is not None and result.pooled_limit <= result.prefetch_limit
        assert (store.prefetch_limit, store.pooled_limit) == (result.prefetch_limit, result.pooled_limit)
        assert any(p.pooled_limit != p.prefetch_limit for p in result.curve)  # the middle stage was tuned
        assert _recall(store, queries, 5) >= 0.8  # the store's own default search, at both tuned limits
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path) as store:
        assert (store.prefetch_limit, store.pooled_limit) == (result.prefetch_limit, result.pooled_limit)


def test_async_tuning_gives_the_same_result(make_store: StoreFactory) -> None:
    docs, ids, query = decoy_corpus()
    store = make_store()
    store.add_embeddings(docs, ids=ids)
    sync = store.tune(target_recall=1.0, queries=[query], k=TARGETS)
    result = asyncio.run(store.atune(target_recall=1.0, queries=[query], k=TARGETS))
    assert replace(result, seconds=0, tuned_at="") == replace(sync, seconds=0, tuned_at="")
    assert store.tuning == result


def test_text_queries_and_a_store_smaller_than_k(make_store: StoreFactory) -> None:
    store = make_store()
    store.add_texts(["red apples", "green pears", "blue cars"])
    result = store.tune(queries=["red cars", "green apples"], k=10)
    assert result.met and result.recall == 1.0 and result.prefetch_limit == 10 and result.queries == 2
    assert [(p.prefetch_limit, p.complete) for p in result.curve] == [(10, True)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_recall": 0}, "target_recall"),
        ({"target_recall": 1.5}, "target_recall"),
        ({"target_recall": True}, "target_recall"),
        ({"target_recall": "0.9"}, "target_recall"),
        ({"sample": 0}, "sample"),
        ({"k": 0}, "k must"),
        ({"seed": 1.5}, "seed"),
        ({"queries": "red apples"}, "list of queries"),
        ({"queries": np.ones((2, DIM), dtype=np.float32)}, "list of queries"),
        ({"queries": []}, "empty"),
        ({"queries": [np.ones((2, 3), dtype=np.float32)]}, "dim"),
    ],
)
def test_bad_arguments_are_typed_errors(store: MultiVectorStore, kwargs: dict[str, object], message: str) -> None:
    store.add_texts(["red apples", "blue cars"])
    with pytest.raises(InvalidInputError, match=message):
        store.tune(**kwargs)  # type: ignore[arg-type]
    assert store.tuning is None and store.prefetch_limit == DEFAULT_PREFETCH_LIMIT


def test_an_empty_or_single_vector_store_is_refused(make_store: StoreFactory) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        make_store().tune()
    single = make_store(FakeSingleVectorEmbedding(dim=DIM), collection_name="single")
    single.add_texts(["red apples"])
    with pytest.raises(ConfigurationError, match="multi-vector"):
        single.tune()
    with pytest.raises(ConfigurationError, match="prefetch_limit"):
        make_store(collection_name="bad", prefetch_limit=0)


def test_a_damaged_settings_file_is_reported_not_ignored(tmp_path: Path) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    with MultiVectorStore(fake, path=tmp_path) as store:
        store.add_texts(["red apples", "blue cars"])
        store.tune(sample=2, k=1)
    file = tmp_path / "multivec" / TUNING_FILE
    for damage in ("{not json", json.dumps({"multivec_tuning": 1, "prefetch_limit": 0})):
        file.write_text(damage)
        with pytest.raises(StoreCorruptedError, match=TUNING_FILE) as err:
            MultiVectorStore(fake, path=tmp_path)
        assert err.value.path == str(file)
    file.unlink()
    with MultiVectorStore(fake, path=tmp_path) as store:  # deleting it drops the tuned limits, as the error says
        assert store.tuning is None and store.count() == 2


def test_the_ladder_steps_by_about_1_4x() -> None:
    steps = ladder(10, 10_000)
    assert steps[0] == 10 and steps[-1] == 10_000 and len(steps) == 22
    assert all(1.2 <= b / a <= 1.5 for a, b in itertools.pairwise(steps))
    assert TuningResult.from_dict(json.loads(json.dumps(_result().as_dict())), "x") == _result()


def _result() -> TuningResult:
    from multivec.store.tuning import TuningPoint

    curve = (TuningPoint(10, 10, 0.5, 3, False), TuningPoint(15, 15, 0.96, 20))
    return TuningResult(15, 15, 0.96, 0.95, True, 10, 20, "pseudo", 99, 0.25, curve, "2026-01-01T00:00:00+00:00")
