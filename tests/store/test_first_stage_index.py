"""The first stage's index: HNSW on the pooled ``dense`` vector in segments past FULL_SCAN_POINTS, a scan below
(exact first stages for small stores), the rerank-only multivector without a graph, and the ``hnsw_ef`` option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError
from multivec.scoring import maxsim, normalize_rows
from multivec.store import MultiVectorStore
from multivec.store.backend import DEFAULT_HNSW_EF, FULL_SCAN_POINTS, Query, full_scan_threshold_kb
from multivec.store.edge import _query_request
from tests.store.conftest import random_corpus
from tests.support.rankings import assert_same_ranking

DIM = 64


def test_edge_shard_config_indexes_the_first_stage_only(tmp_path: Path) -> None:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path, segment_mb=1) as store:
        store.add_embeddings(random_corpus(150, DIM, seed=1, min_len=20, max_len=30), ids=list(range(150)))
        store.optimize()
    shard = tmp_path / "multivec" / "shard"
    vectors = json.loads((shard / "edge_config.json").read_text())["vectors"]
    assert vectors["dense"]["hnsw_config"]["m"] == 16
    assert vectors["dense"]["hnsw_config"]["full_scan_threshold"] == full_scan_threshold_kb(DIM)
    assert vectors["multivector"]["hnsw_config"]["m"] == 0
    graphs = list(shard.glob("segments/*/vector_index-dense/hnsw_config.json"))
    assert graphs, "no sealed segment with a dense HNSW index"
    for graph in graphs:  # the engine turns the KB threshold into points: the same rule whatever the dimension
        assert json.loads(graph.read_text())["full_scan_threshold"] == FULL_SCAN_POINTS
    for file in shard.glob("segments/*/vector_index-multivector/hnsw_config.json"):
        assert json.loads(file.read_text())["m"] == 0


def test_server_collection_config_indexes_the_first_stage_only() -> None:
    client = QdrantClient(location=":memory:")
    try:
        with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), "docs", client=client):
            params = client.get_collection("docs").config.params.vectors
        assert isinstance(params, dict)
        assert params["dense"].hnsw_config is not None
        assert params["dense"].hnsw_config.full_scan_threshold == full_scan_threshold_kb(DIM)
        assert params["multivector"].hnsw_config is not None and params["multivector"].hnsw_config.m == 0
    finally:
        client.close()


def test_hnsw_ef_goes_into_the_first_stage_request() -> None:
    tokens = normalize_rows(np.ones((3, DIM), dtype=np.float32))
    op = Query(dense=tokens[0], multivector=tokens, limit=5, prefetch_limit=50, filter=None)
    request = _query_request(op, 300)
    assert isinstance(request.prefetches[0].params, qe.SearchParams)
    assert request.prefetches[0].params.hnsw_ef == 300
    exact = _query_request(Query(tokens[0], tokens, 5, None, None, exact=True), 300)
    assert exact.params is not None and exact.params.exact


@pytest.mark.parametrize("bad", [0, -1, "many"])
def test_bad_hnsw_ef_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="hnsw_ef"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path, hnsw_ef=bad)
    with pytest.raises(ConfigurationError, match="hnsw_ef"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:", hnsw_ef=bad)


def test_default_hnsw_ef_keeps_recall_headroom_over_the_default_prefetch() -> None:
    from multivec.store.store import DEFAULT_PREFETCH_LIMIT

    assert DEFAULT_HNSW_EF >= DEFAULT_PREFETCH_LIMIT


def test_small_store_first_stage_is_exact_across_sealed_segments(tmp_path: Path) -> None:
    docs = random_corpus(400, DIM, seed=7, min_len=16, max_len=24)
    ids = [str(i) for i in range(len(docs))]
    pooled = normalize_rows(np.stack([normalize_rows(d).mean(axis=0) for d in docs]))
    embedding = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    # a segment_mb of 1 seals several segments, each far below FULL_SCAN_POINTS: every one is scanned
    with MultiVectorStore(embedding, path=tmp_path, segment_mb=1, hnsw_ef=16) as store:
        store.add_embeddings(docs, ids=ids)
        store.optimize()
        assert store._backend.segment_count > 2  # type: ignore[attr-defined]
        for seed in range(8):
            query = random_corpus(1, DIM, seed=100 + seed, min_len=5, max_len=5)[0]
            q_pooled = normalize_rows(query.mean(axis=0))
            candidates = np.argsort(-(pooled @ q_pooled))[:20]  # the exact first stage
            reference = {ids[i]: maxsim(query, docs[i]) for i in candidates}
            hits = store.search(query, k=5, prefetch_limit=20)
            assert_same_ranking([(h.id, h.score) for h in hits], reference, tol=1e-3)


@pytest.mark.slow
def test_a_segment_past_full_scan_points_searches_its_graph_at_the_default_ef(tmp_path: Path) -> None:
    # 20.5k documents of 40 x 16-d tokens: one sealed segment past both FULL_SCAN_POINTS and the indexing threshold
    dim, n = 16, FULL_SCAN_POINTS + 500
    docs = random_corpus(n, dim, seed=11, min_len=40, max_len=40)
    pooled = normalize_rows(np.stack([normalize_rows(d).mean(axis=0) for d in docs]))
    queries = normalize_rows(np.random.default_rng(5).standard_normal((30, dim)).astype(np.float32))
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=dim), path=tmp_path) as store:
        store.add_embeddings(docs, ids=list(range(n)))
        store.optimize()
        shard = store._backend._shard  # type: ignore[attr-defined]

        def recall(limit: int, params: qe.SearchParams) -> float:
            found = 0
            for q in queries:
                request = qe.QueryRequest(
                    limit=limit, query=qe.Query.Nearest(q.tolist(), using="dense"), params=params, with_payload=True
                )
                ids = {int(str((p.payload or {})["id"])) for p in shard.query(request)}
                found += len(ids & set(np.argsort(-(pooled @ q))[:limit].tolist()))
            return found / (limit * len(queries))

        assert recall(100, qe.SearchParams(exact=True)) >= 0.999  # the scan: exact up to float rounding
        # a tiny ef loses neighbours, which only a graph search can: the segment searches its HNSW (a scan is exact)
        assert recall(10, qe.SearchParams(hnsw_ef=10)) < 0.95  # measured 0.81
        # at the store's default ef the first stage's top 100 stays nearly exact
        assert recall(100, qe.SearchParams(hnsw_ef=DEFAULT_HNSW_EF)) >= 0.97  # measured 0.994
