"""Hybrid search (BM25 + MaxSim): both backends, filters in every branch, the exact-term case, persistence,
typed errors, ``enable_hybrid`` on a collection made without the lexical index."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.store import MultiVectorStore
from multivec.store.backend import LEXICAL
from multivec.store.hybrid import HybridNotEnabledError, HybridScores, HybridSettings

from .conftest import FakeSingleVectorEmbedding, StoreFactory, random_corpus

RARE = "XQ7731"
N_DOCS = 40
TARGET = 23  # the only document holding the rare term


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _corpus() -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Token vectors and texts: common words everywhere, the rare term in the target only; even/odd ``group``.

    Every token vector but the target's has positive values in dimensions 0-7 (where the query lives); the
    target's live in dimensions 8-15 only, so its MaxSim with the query is 0 and every other document's positive:
    MaxSim alone ranks it last.
    """
    rng = np.random.default_rng(5)
    vectors, payloads = [], []
    for i in range(N_DOCS):
        tokens = np.abs(rng.standard_normal((4, 16)))
        tokens[:, 8:] = 0 if i != TARGET else tokens[:, 8:]
        tokens[:, :8] = tokens[:, :8] if i != TARGET else 0
        vectors.append(_unit(tokens))
        words = f"gasket seal pressure valve report {i}"
        if i == TARGET:
            words += f" part {RARE}"
        payloads.append({"content": words, "metadata": {"group": "odd" if i % 2 else "even", "i": i}})
    return vectors, payloads


def _query() -> np.ndarray:
    """Query vectors: document 0's, slightly moved (its nearest neighbour under MaxSim)."""
    base = _corpus()[0][0]
    return _unit(base + 0.01 * np.abs(np.random.default_rng(9).standard_normal(base.shape)) * (base > 0))


@pytest.fixture
def hybrid_store(make_store: StoreFactory) -> MultiVectorStore:
    store = make_store()
    vectors, payloads = _corpus()
    store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
    return store


def test_new_collection_is_hybrid_with_defaults(hybrid_store: MultiVectorStore) -> None:
    assert hybrid_store.hybrid == HybridSettings()


def test_exact_rare_term_found_by_hybrid_missed_by_maxsim(hybrid_store: MultiVectorStore) -> None:
    query = _query()
    maxsim = [h.id for h in hybrid_store.search(query, k=N_DOCS, exact=True)]
    assert maxsim[-1] == str(TARGET) and maxsim[0] == "0"
    for fusion in ("rrf", "dbsf"):
        hits = hybrid_store.search(
            query, k=5, mode="hybrid", lexical_query=f"{RARE} part", hybrid_weight=1.0, hybrid_fusion=fusion
        )
        ids = [h.id for h in hits]
        assert str(TARGET) in ids, (fusion, ids)
        target = hits[ids.index(str(TARGET))]
        assert isinstance(target.hybrid, HybridScores)
        assert target.hybrid.lexical_rank == 1 and target.hybrid.lexical_score is not None
        assert target.hybrid.fusion == fusion and target.hybrid.weight == 1.0
        assert target.score == target.hybrid.score and 0 <= target.relevance <= 1
        top = hits[ids.index("0")]
        assert top.hybrid is not None and top.hybrid.maxsim_rank == 1


def test_hybrid_text_query_and_scores_ordered(hybrid_store: MultiVectorStore) -> None:
    """A text query is its own lexical query; hits come best first by the fused score."""
    hits = hybrid_store.search(RARE, k=10, mode="hybrid", hybrid_weight=1.0)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [h.id for h in hits if h.hybrid and h.hybrid.lexical_rank] == [str(TARGET)]


def test_rerank_shape_scores_are_maxsim(hybrid_store: MultiVectorStore) -> None:
    query = _query()
    exact = hybrid_store.search(query, k=5, exact=True)
    hits = hybrid_store.search(query, k=5, mode="hybrid", lexical_query=RARE, hybrid_fusion="rerank", exact=True)
    assert [h.id for h in hits] == [h.id for h in exact]
    assert [h.score for h in hits] == pytest.approx([h.score for h in exact], abs=1e-4)
    assert all(h.hybrid is not None and h.hybrid.maxsim_rank == r for r, h in enumerate(hits, 1))


@pytest.mark.parametrize("fusion", ["rrf", "dbsf", "rerank"])
def test_filter_applies_to_every_branch(hybrid_store: MultiVectorStore, fusion: str) -> None:
    """The rare term's document is odd: an even-only filter keeps it out of the lexical branch too."""
    query = _query()
    hits = hybrid_store.search(
        query, k=N_DOCS, mode="hybrid", lexical_query=f"{RARE} gasket", filter={"group": "even"}, hybrid_fusion=fusion
    )
    assert hits and all(h.metadata["group"] == "even" for h in hits)
    assert str(TARGET) not in {h.id for h in hits}
    assert any(h.hybrid is not None and h.hybrid.lexical_rank is not None for h in hits)  # gasket: every doc
    odd = hybrid_store.search(query, k=3, mode="hybrid", lexical_query=RARE, filter={"group": "odd"}, hybrid_weight=1)
    assert str(TARGET) in {h.id for h in odd} and all(h.metadata["group"] == "odd" for h in odd)


def test_async_hybrid_matches_sync(hybrid_store: MultiVectorStore) -> None:
    query = _query()
    options: dict[str, Any] = {"mode": "hybrid", "lexical_query": RARE, "hybrid_weight": 0.5}
    sync = hybrid_store.search(query, k=5, **options)
    async_hits = asyncio.run(hybrid_store.asearch(query, k=5, **options))
    assert [h.id for h in async_hits] == [h.id for h in sync]


def test_score_threshold_applies_to_fused_score(hybrid_store: MultiVectorStore) -> None:
    hits = hybrid_store.search(_query(), k=10, mode="hybrid", lexical_query=RARE)
    cut = hits[2].score
    kept = hybrid_store.search(_query(), k=10, mode="hybrid", lexical_query=RARE, score_threshold=cut)
    assert [h.id for h in kept] == [h.id for h in hits if h.score >= cut]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"mode": "bm25"}, InvalidInputError),
        ({"mode": None}, InvalidInputError),
        ({"mode": "hybrid", "hybrid_weight": -0.1}, InvalidInputError),
        ({"mode": "hybrid", "hybrid_weight": float("nan")}, InvalidInputError),
        ({"mode": "hybrid", "hybrid_weight": True}, InvalidInputError),
        ({"mode": "hybrid", "hybrid_fusion": "sum"}, InvalidInputError),
        ({"mode": "hybrid", "hybrid_limit": 0}, InvalidInputError),
        ({"mode": "hybrid", "lexical_query": "  "}, InvalidInputError),
        ({"hybrid_weight": 0.5}, InvalidInputError),  # a hybrid option on a MaxSim search
    ],
)
def test_bad_mode_and_options_raise_typed_errors(
    hybrid_store: MultiVectorStore, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        hybrid_store.search("gasket", k=3, **options)


def test_array_query_needs_lexical_query(hybrid_store: MultiVectorStore) -> None:
    with pytest.raises(InvalidInputError, match="lexical_query"):
        hybrid_store.search(_query(), k=3, mode="hybrid")


@pytest.mark.parametrize(
    "options", [{"hybrid_weight": -1}, {"hybrid_fusion": "max"}, {"hybrid_limit": 0}, {"hybrid_weight": "0.5"}]
)
def test_bad_constructor_options_raise(make_store: StoreFactory, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="hybrid_"):
        make_store(**options)


def test_constructor_defaults_are_recorded_and_used(backend: str, tmp_path: Path) -> None:
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:") if backend == "memory" else None
    where: dict[str, Any] = {"client": client} if client is not None else {"path": tmp_path}
    vectors, payloads = _corpus()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), hybrid_weight=0.7, **where) as store:
        store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
        hits = store.search(_query(), k=3, mode="hybrid", lexical_query=RARE)
        assert all(h.hybrid is not None and h.hybrid.weight == 0.7 for h in hits)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), **where) as reopened:
        assert reopened.hybrid == HybridSettings(weight=0.7)
        again = reopened.search(_query(), k=3, mode="hybrid", lexical_query=RARE)
        assert [h.id for h in again] == [h.id for h in hits]
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), hybrid_fusion="dbsf", **where) as other:
        assert other.hybrid == HybridSettings(fusion="dbsf", weight=0.7)


def test_reopen_keeps_the_text_index(tmp_path: Path) -> None:
    import qdrant_edge as qe

    vectors, payloads = _corpus()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as store:
        store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
        before = store.search(_query(), k=5, mode="hybrid", lexical_query=RARE, hybrid_weight=1.0)
    shard = qe.EdgeShard.load(str(tmp_path / "multivec" / "shard"))
    try:
        assert LEXICAL in shard.info().payload_schema  # the engine kept the index itself
    finally:
        shard.close()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as reopened:
        after = reopened.search(_query(), k=5, mode="hybrid", lexical_query=RARE, hybrid_weight=1.0)
        assert [h.id for h in after] == [h.id for h in before]
        assert str(TARGET) in [h.id for h in after]


def _drop_hybrid(tmp_path: Path) -> None:
    """Make the store at ``tmp_path`` look like one made before hybrid search: no settings, no index, no text."""
    import qdrant_edge as qe

    meta_file = tmp_path / "multivec" / "multivec.json"
    meta = json.loads(meta_file.read_text())
    meta.pop("hybrid")
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    (tmp_path / "multivec" / "multivec.state.json").unlink()  # its checksum names the old metadata
    shard = qe.EdgeShard.load(str(tmp_path / "multivec" / "shard"))
    try:
        shard.update(qe.UpdateOperation.delete_field_index(LEXICAL))
        shard.update(qe.UpdateOperation.delete_payload_by_filter(qe.Filter(), [LEXICAL]))
        shard.flush()
        assert LEXICAL not in shard.info().payload_schema
    finally:
        shard.close()


def test_old_collection_raises_until_enable_hybrid_backfills(tmp_path: Path) -> None:
    vectors, payloads = _corpus()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as store:
        store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
    _drop_hybrid(tmp_path)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as old:
        assert old.hybrid is None
        with pytest.raises(HybridNotEnabledError, match=r"store\.enable_hybrid\(\)"):
            old.search(_query(), k=3, mode="hybrid", lexical_query=RARE)
        assert [h.id for h in old.search(_query(), k=3)]  # MaxSim still works
        assert old.enable_hybrid(weight=1.0) == N_DOCS
        hits = old.search(_query(), k=3, mode="hybrid", lexical_query=RARE)
        assert str(TARGET) in [h.id for h in hits]
        assert old.enable_hybrid() == 0  # nothing left to write
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as reopened:
        assert reopened.hybrid == HybridSettings(weight=1.0)
        assert str(TARGET) in [h.id for h in reopened.search(_query(), k=3, mode="hybrid", lexical_query=RARE)]


def test_enable_hybrid_on_qdrant_client_collection() -> None:
    """A qdrant-client collection made without the lexical side (its metadata key removed) gets it back."""
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    vectors, payloads = _corpus()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), client=client) as store:
        store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
        metadata = {k: v for k, v in store._backend.metadata.items() if k != "hybrid"}
    client.update_collection("multivec", metadata={"hybrid": None})
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), client=client) as old:
        assert metadata.items() <= old._backend.metadata.items()
        assert old.hybrid is None
        with pytest.raises(HybridNotEnabledError):
            old.search("gasket", k=3, mode="hybrid")
        assert asyncio.run(old.aenable_hybrid(fusion="rrf")) == 0  # async twin; the text was there, not the settings
        assert old.hybrid == HybridSettings(fusion="rrf")
        assert old.search("gasket", k=3, mode="hybrid")
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), client=client) as reopened:
        assert reopened.hybrid == HybridSettings(fusion="rrf")


def test_image_pages_use_their_text_layer(make_store: StoreFactory) -> None:
    """Image records take part through ``metadata["page_text"]`` (else a caption); one without text is found by
    MaxSim only."""
    store = make_store()
    vectors = random_corpus(4, 16, seed=2)
    payloads = [
        {
            "content": "scan.pdf",
            "modality": "image",
            "source": "scan.pdf",
            "page": 1,
            "metadata": {"page_text": "XQ7731 valve"},
        },
        {"content": "photo.png", "modality": "image", "source": "photo.png", "metadata": {}},
        {"content": "plain text about valves", "metadata": {}},
        {"content": "barn.png", "modality": "image", "metadata": {"caption": "a ZK4410 gasket"}},
    ]
    store.add_embeddings(vectors, payloads, ids=["page", "photo", "text", "captioned"])
    hits = store.search(vectors[1], k=4, mode="hybrid", lexical_query="XQ7731", hybrid_weight=1.0)
    parts = {h.id: h.hybrid for h in hits}
    assert parts["page"] is not None and parts["page"].lexical_rank == 1
    captioned = store.search(vectors[1], k=4, mode="hybrid", lexical_query="ZK4410", hybrid_weight=1.0)
    assert {h.id: h.hybrid.lexical_rank for h in captioned if h.hybrid is not None}["captioned"] == 1
    assert parts["photo"] is not None and parts["photo"].lexical_rank is None and parts["photo"].maxsim_rank == 1
    assert [r.content for r in store.get(["page"])] == ["scan.pdf"]  # the payload the caller sees is unchanged


def test_single_vector_store_fuses_bm25_with_cosine(make_store: StoreFactory) -> None:
    store = make_store(FakeSingleVectorEmbedding(dim=16))
    store.add_texts(["red apples", f"part {RARE} bolt", "blue cars"], ids=["a", "p", "c"])
    hits = store.search(RARE, k=3, mode="hybrid", hybrid_weight=1.0)
    parts = {h.id: h.hybrid for h in hits}
    assert parts["p"] is not None and parts["p"].lexical_rank == 1
    with pytest.raises(InvalidInputError, match="single-vector"):
        store.search("apples", k=1, mode="hybrid", hybrid_fusion="rerank")


@pytest.mark.slow
def test_hybrid_quality_on_a_cranfield_subset(minilm_dir: Path, tmp_path: Path) -> None:
    """Regression guard: with real MiniLM token vectors, hybrid search (the defaults) ranks a fixed Cranfield subset
    at least as well as MaxSim two-stage, and its lexical side alone is far above chance."""
    from ranx import Qrels, Run, evaluate

    from multivec.embeddings import ColBERTEmbeddings
    from tests.support.cranfield import cranfield_subset

    data = cranfield_subset(n_queries=40, n_docs=200)
    ids = list(data.corpus)
    encoder = ColBERTEmbeddings(model_name=str(minilm_dir), device="cpu")
    runs: dict[str, dict[str, dict[str, float]]] = {"maxsim": {}, "hybrid": {}, "bm25": {}}
    with MultiVectorStore(encoder, path=tmp_path) as store:
        store.add_texts([data.corpus[i] for i in ids], ids=ids)
        for qid, text in data.queries.items():
            vectors = encoder.embed_query(text)
            runs["maxsim"][qid] = {h.id: h.score for h in store.search(vectors, k=100)}
            hits = store.search(vectors, k=100, mode="hybrid", lexical_query=text)
            runs["hybrid"][qid] = {h.id: h.score for h in hits}
            lexical = [h for h in hits if h.hybrid is not None and h.hybrid.lexical_rank is not None]
            runs["bm25"][qid] = {h.id: -float(h.hybrid.lexical_rank) for h in lexical if h.hybrid is not None}
    qrels = Qrels(data.qrels)
    ndcg = {name: float(evaluate(qrels, Run(run), "ndcg@10")) for name, run in runs.items()}
    # measured: MaxSim 0.597, hybrid 0.604, the lexical ranks 0.564 (random ranking: about 0.05)
    assert ndcg["bm25"] > 0.45, ndcg
    assert ndcg["hybrid"] >= ndcg["maxsim"] - 0.005, ndcg
    assert ndcg["hybrid"] > 0.57, ndcg


_ENABLE_CHILD = """
import sys
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from tests.reliability.conftest import kill_at

path, n, after = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "after"
store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=path, write_batch_size=8)
kill_at(store, n, after=after)
store.enable_hybrid(weight=1.0)
print("returned", flush=True)
"""


@pytest.mark.parametrize(("n", "after"), [(1, False), (2, True), (5, False), (5, True)])
def test_enable_hybrid_killed_midway_leaves_the_store_openable_and_runs_again(
    tmp_path: Path, n: int, after: bool
) -> None:
    """SIGKILL at a deterministic request of ``enable_hybrid`` (0: the scroll, 1-5: the 40 texts in batches of 8,
    6: the index): the store opens with every record as it was, and a second run completes the first."""
    import subprocess
    import sys

    vectors, payloads = _corpus()
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as store:
        store.add_embeddings(vectors, payloads, ids=[str(i) for i in range(N_DOCS)])
        before = {r.id: (r.content, r.metadata) for r in store.scroll()}
    _drop_hybrid(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", _ENABLE_CHILD, str(tmp_path), str(n), "after" if after else "before"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9 and "returned" not in child.stdout, child.stderr
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path) as store:
        assert store.hybrid is None  # killed before the index was made
        assert {r.id: (r.content, r.metadata) for r in store.scroll()} == before
        written = store.enable_hybrid(weight=1.0)
        assert written == N_DOCS - 8 * min(n - (0 if after else 1), 5)  # what the first run had written stays
        hits = store.search(_query(), k=3, mode="hybrid", lexical_query=RARE)
        assert str(TARGET) in [h.id for h in hits]
