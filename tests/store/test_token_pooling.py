"""token_pooling: the pooled-token middle stage (pooled vector → pooled tokens → all tokens), on both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError
from multivec.scoring import maxsim, normalize_rows, pool_groups
from multivec.store import MultiVectorStore
from tests.store.conftest import FakeSingleVectorEmbedding, StoreFactory, random_corpus
from tests.support.rankings import assert_same_ranking

GROUP = 3


def _pooled_maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    return maxsim(normalize_rows(query), pool_groups(normalize_rows(doc), GROUP))


def test_pool_groups_means_consecutive_rows() -> None:
    rows = normalize_rows(np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32))
    pooled = pool_groups(rows, 3)
    expected = normalize_rows(np.stack([rows[0:3].mean(0), rows[3:6].mean(0), rows[6:7].mean(0)]))
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)


def test_middle_stage_decides_which_candidates_reach_full_maxsim(make_store: StoreFactory) -> None:
    docs = random_corpus(40, 16, seed=3, min_len=6, max_len=12)
    store = make_store(token_pooling=GROUP, pooled_limit=1, prefetch_limit=40)
    store.add_embeddings(docs, ids=[str(i) for i in range(len(docs))])
    assert store.token_pooling == GROUP
    differs = 0
    for seed in range(12):
        query = random_corpus(1, 16, seed=100 + seed, min_len=4, max_len=4)[0]
        pooled_best = int(np.argmax([_pooled_maxsim(query, d) for d in docs]))
        full_best = int(np.argmax([maxsim(query, d) for d in docs]))
        [hit] = store.search(query, k=1)
        assert hit.id == str(pooled_best)  # only the pooled stage's top candidate reached the final stage
        assert hit.score == pytest.approx(maxsim(query, docs[pooled_best]), abs=1e-4)  # scored by full MaxSim
        differs += pooled_best != full_best
        [exact] = store.search(query, k=1, exact=True)
        assert exact.id == str(full_best)
    assert differs > 0  # the corpus exercises a pruning that matters


def test_with_enough_candidates_three_stages_equal_exact(make_store: StoreFactory) -> None:
    docs = random_corpus(30, 16, seed=5)
    store = make_store(token_pooling=GROUP, pooled_limit=30, prefetch_limit=30)
    store.add_embeddings(docs, ids=list(range(len(docs))))
    for query in random_corpus(5, 16, seed=9):
        staged = [(h.id, h.score) for h in store.search(query, k=5)]
        exact = [(h.id, h.score) for h in store.search(query, k=len(docs), exact=True)]
        assert_same_ranking(staged, exact)


def test_filters_apply_in_every_stage(make_store: StoreFactory) -> None:
    docs = random_corpus(20, 16, seed=7)
    store = make_store(token_pooling=GROUP, pooled_limit=2)
    payloads = [{"metadata": {"even": i % 2 == 0}} for i in range(len(docs))]
    store.add_embeddings(docs, payloads, ids=list(range(len(docs))))
    hits = store.search(docs[3][:2], k=5, filter={"even": True})
    assert len(hits) == 5 and all(int(h.id) % 2 == 0 for h in hits)
    assert all(h.metadata["even"] for h in hits)


def test_k_above_pooled_limit_still_returns_k(make_store: StoreFactory) -> None:
    store = make_store(token_pooling=GROUP, pooled_limit=2)
    store.add_embeddings(random_corpus(10, 16, seed=1), ids=list(range(10)))
    assert len(store.search(random_corpus(1, 16, seed=2)[0], k=6)) == 6


def test_the_setting_is_kept_by_the_collection(tmp_path: Path) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=16)
    with MultiVectorStore(fake, path=tmp_path / "db", token_pooling=GROUP) as store:
        store.add_texts(["red apples and green pears"], ids=["a"])
    with MultiVectorStore(fake, path=tmp_path / "db") as reopened:
        assert reopened.token_pooling == GROUP
        assert reopened.search("green pears", k=1)[0].id == "a"
        assert reopened.get_vectors(["a"])[0].shape == (5, 16)  # the token vectors, not the pooled ones
    with MultiVectorStore(fake, path=tmp_path / "plain") as plain:
        assert plain.token_pooling is None


@pytest.mark.parametrize("bad", [0, 1, -3, 2.5, "32", True])
def test_bad_settings(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="token_pooling"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:", token_pooling=bad)


def test_single_vector_embedders_have_no_tokens_to_pool() -> None:
    with pytest.raises(ConfigurationError, match="multi-vector"):
        MultiVectorStore(FakeSingleVectorEmbedding(dim=8), location=":memory:", token_pooling=4)
    with pytest.raises(ConfigurationError, match="pooled_limit"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:", pooled_limit=0)
