"""Search semantics on both backends: two-stage vs exact, k edge cases, query kinds, scores, MMR, exactness."""

from __future__ import annotations

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import DimensionMismatchError, InvalidInputError
from multivec.scoring import maxsim, relevance
from multivec.store import MultiVectorStore
from tests.support.rankings import assert_same_ranking

from .conftest import StoreFactory, random_corpus

TEXTS = ["red apples and pears", "blue cars", "green pears", "red cars on a road", "apples"]


@pytest.fixture
def filled(store: MultiVectorStore) -> MultiVectorStore:
    store.add_texts(TEXTS, ids=[f"d{i}" for i in range(len(TEXTS))], metadatas=[{"i": i} for i in range(len(TEXTS))])
    return store


def test_text_query_ranks_the_matching_document_first(filled: MultiVectorStore) -> None:
    hits = filled.search("green pears", k=2)
    assert hits[0].id == "d2"
    assert hits[0].score == pytest.approx(2.0, abs=1e-3)  # two query tokens, each matched exactly
    assert hits[0].relevance == pytest.approx(1.0, abs=1e-3)
    assert hits[0].score >= hits[1].score
    assert hits[1].relevance == pytest.approx(relevance(hits[1].score, 2))


def test_k_larger_than_collection_returns_everything(filled: MultiVectorStore) -> None:
    for exact in (False, True):
        assert len(filled.search("apples", k=100, exact=exact)) == len(TEXTS)


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", True])
def test_bad_k_raises(filled: MultiVectorStore, k: object) -> None:
    with pytest.raises(InvalidInputError, match="k must be"):
        filled.search("apples", k=k)  # type: ignore[arg-type]


def test_bad_prefetch_limit_and_threshold_raise(filled: MultiVectorStore) -> None:
    with pytest.raises(ValueError, match="prefetch_limit"):
        filled.search("apples", prefetch_limit=0)
    with pytest.raises(InvalidInputError, match="score_threshold"):
        filled.search("apples", score_threshold="high")  # type: ignore[arg-type]


def test_score_threshold_drops_weak_hits(filled: MultiVectorStore) -> None:
    all_hits = filled.search("green pears", k=5, exact=True)
    cut = (all_hits[0].score + all_hits[1].score) / 2
    assert [h.id for h in filled.search("green pears", k=5, score_threshold=cut)] == [all_hits[0].id]


def test_precomputed_query_matches_text_query(filled: MultiVectorStore) -> None:
    q = DeterministicFakeMultiVectorEmbedding(dim=16).embed_query("red cars")
    by_text = filled.search("red cars", k=5, exact=True)
    by_vectors = filled.search(q, k=5, exact=True)
    assert_same_ranking([(h.id, h.score) for h in by_text], [(h.id, h.score) for h in by_vectors])
    one_token = filled.search(q[0], k=1, exact=True)  # a 1-D query is one query token
    assert one_token[0].relevance == pytest.approx(1.0, abs=1e-3)


def test_bad_queries_raise(filled: MultiVectorStore) -> None:
    with pytest.raises(DimensionMismatchError):
        filled.search(np.ones((2, 8), np.float32))
    with pytest.raises(InvalidInputError, match="NaN"):
        filled.search(np.full((2, 16), np.nan, np.float32))
    with pytest.raises(InvalidInputError, match="empty"):
        filled.search("   ")
    with pytest.raises(InvalidInputError, match="pass a str"):
        filled.search(42)  # type: ignore[arg-type]


def test_two_stage_equals_exact_when_prefetch_covers_the_corpus(make_store: StoreFactory) -> None:
    corpus = random_corpus(60, 16, seed=1)
    store = make_store(prefetch_limit=60)
    store.add_embeddings(corpus, ids=list(range(60)))
    for q in random_corpus(5, 16, seed=2):
        two_stage = store.search(q, k=10)
        exact = store.search(q, k=10, exact=True)
        assert [h.id for h in two_stage] == [h.id for h in exact]


def test_two_stage_only_reranks_prefetched_candidates(make_store: StoreFactory) -> None:
    # the pooled vector of the best MaxSim document is made far from the query's pooled vector, so a prefetch of
    # 1 cannot find it while exact search does
    dim = 16
    e = np.eye(dim, dtype=np.float32)
    query = np.stack([e[0], e[1]])
    best = np.stack([e[0], e[1], -e[0] - e[1] + 0.01 * e[2], -e[0] - e[1] + 0.02 * e[3]])  # pooled ~ -(e0+e1)
    near_pool = np.stack([(e[0] + e[1] + e[4])])  # pooled close to the query's, weaker MaxSim
    store = make_store(prefetch_limit=1)
    store.add_embeddings([best, near_pool], ids=["best", "near"])
    assert store.search(query, k=1, exact=True)[0].id == "best"
    assert store.search(query, k=1, prefetch_limit=1)[0].id == "near"  # k=1: only one candidate reranked
    assert store.search(query, k=1, prefetch_limit=2)[0].id == "best"


def test_exact_rankings_equal_numpy_maxsim(make_store: StoreFactory) -> None:
    corpus = random_corpus(200, 32, seed=3, min_len=5, max_len=40)
    store = make_store(DeterministicFakeMultiVectorEmbedding(dim=32))
    store.add_embeddings(corpus, ids=list(range(len(corpus))))
    for q in random_corpus(5, 32, seed=4, min_len=4, max_len=16):
        reference = np.array([maxsim(q, d) for d in corpus])
        order = np.argsort(-reference, kind="stable")[:20]
        hits = store.search(q, k=20, exact=True)
        assert [int(h.id) for h in hits] == order.tolist()
        np.testing.assert_allclose([h.score for h in hits], reference[order], rtol=1e-4, atol=1e-4)


def test_float16_storage_keeps_the_ranking(make_store: StoreFactory) -> None:
    corpus = random_corpus(100, 32, seed=5, min_len=5, max_len=30)
    store = make_store(DeterministicFakeMultiVectorEmbedding(dim=32), multivector_datatype="float16")
    assert store.multivector_datatype == "float16"
    store.add_embeddings(corpus, ids=list(range(len(corpus))))
    q = random_corpus(1, 32, seed=6, min_len=8, max_len=8)[0]
    reference = np.array([maxsim(q, d) for d in corpus])
    hits = store.search(q, k=5, exact=True)
    assert {int(h.id) for h in hits[:3]} <= set(np.argsort(-reference)[:5].tolist())
    np.testing.assert_allclose([h.score for h in hits], np.sort(reference)[::-1][:5], atol=2e-2)


def test_mmr_prefers_diverse_results(filled: MultiVectorStore) -> None:
    filled.add_texts(["red apples and pears"], ids=["dup"])  # a duplicate of d0
    plain = [h.id for h in filled.search("red apples and pears", k=2, exact=True)]
    assert set(plain) == {"d0", "dup"}
    diverse = filled.mmr_search("red apples and pears", k=2, fetch_k=10, lambda_mult=0.3)
    assert diverse[0].id in {"d0", "dup"} and diverse[1].id not in {"d0", "dup"}
    assert diverse[0].relevance == pytest.approx(1.0, abs=1e-3)
    relevance_only = [h.id for h in filled.mmr_search("red apples and pears", k=3, lambda_mult=1.0)]
    plain3 = [h.id for h in filled.search("red apples and pears", k=3)]
    assert set(relevance_only[:2]) == set(plain3[:2]) == {"d0", "dup"}  # a tie: either order
    assert relevance_only[2] == plain3[2]


def test_mmr_filters_and_validates(filled: MultiVectorStore) -> None:
    assert {h.id for h in filled.mmr_search("apples", k=5, filter={"i": {"$in": [1, 3]}})} == {"d1", "d3"}
    with pytest.raises(InvalidInputError, match="lambda_mult"):
        filled.mmr_search("apples", lambda_mult=1.5)
    with pytest.raises(InvalidInputError, match="fetch_k"):
        filled.mmr_search("apples", fetch_k=0)


def test_search_on_empty_store(store: MultiVectorStore) -> None:
    assert store.search("anything") == []
    assert store.mmr_search("anything") == []
