"""multivec.pooling: hierarchical token pooling of one document's token vectors (Ward, cosine geometry)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from multivec.errors import InvalidInputError
from multivec.pooling import pool_documents, pool_tokens, pooled_count
from multivec.scoring import maxsim, normalize_rows


def _doc(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    return normalize_rows(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def _topics(lengths: list[int], dim: int = 48, seed: int = 0, noise: float = 0.08) -> list[np.ndarray]:
    """Documents whose tokens are noisy copies of a few topic directions each (like real token vectors: repeated
    and related words sit close together)."""
    rng = np.random.default_rng(seed)
    centres = normalize_rows(rng.standard_normal((64, dim)).astype(np.float32))
    docs = []
    for n in lengths:
        picks = centres[rng.choice(64, 6, replace=False)][rng.integers(0, 6, n)]
        docs.append(normalize_rows(picks + noise * rng.standard_normal((n, dim)).astype(np.float32)))
    return docs


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 31, 185])
def test_keeps_n_over_factor_rows_never_more(n: int, factor: int) -> None:
    pooled = pool_tokens(_doc(n, seed=n), factor)
    assert pooled.shape == (pooled_count(n, factor), 32) == (min(n, max(n // factor, 1)), 32)
    assert pooled.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)


def test_same_input_same_output() -> None:
    doc = _topics([120], seed=3)[0]
    first = pool_tokens(doc, 3)
    assert np.array_equal(first, pool_tokens(doc.copy(), 3))
    assert np.array_equal(first, pool_documents([doc], 3)[0])
    other_layout = pool_tokens(np.asfortranarray(doc), 3)  # rounding may differ in the last bit, the clusters not
    np.testing.assert_allclose(other_layout, first, atol=1e-6)


def test_one_row_and_factor_one_come_back_normalised() -> None:
    doc = np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32) * 5
    np.testing.assert_allclose(pool_tokens(doc, 1), normalize_rows(doc), atol=1e-6)
    np.testing.assert_allclose(pool_tokens(doc[:1], 4), normalize_rows(doc[:1]), atol=1e-6)


def test_clusters_are_the_groups_of_similar_tokens_in_first_seen_order() -> None:
    centres = np.eye(3, 8, dtype=np.float32)  # three orthogonal "words"
    order = [1, 0, 1, 2, 0, 2]  # B A B C A C: the pooled rows follow first appearance: B, A, C
    rng = np.random.default_rng(0)
    doc = normalize_rows(centres[order] + 0.05 * rng.standard_normal((6, 8)).astype(np.float32))
    pooled = pool_tokens(doc, 2)
    expected = normalize_rows(np.stack([doc[[0, 2]].mean(0), doc[[1, 4]].mean(0), doc[[3, 5]].mean(0)]))
    np.testing.assert_allclose(pooled, expected, atol=1e-6)


def test_duplicates_merge_first_and_stay_exact() -> None:
    word = normalize_rows(np.arange(1, 9, dtype=np.float32))
    other = normalize_rows(np.arange(8, 0, -1, dtype=np.float32))
    doc = np.stack([word] * 6 + [other] * 2)
    pooled = pool_tokens(doc, 4)  # 2 clusters: the six copies, the two others
    np.testing.assert_allclose(pooled, np.stack([word, other]), atol=1e-6)
    assert pool_tokens(np.stack([word] * 9), 2).shape == (4, 8)  # all ties: still the asked-for count


def test_opposite_tokens_forced_together_keep_a_unit_row() -> None:
    word = normalize_rows(np.arange(1, 5, dtype=np.float32))
    pooled = pool_tokens(np.stack([word, -word]), 2)  # one cluster whose mean is zero
    np.testing.assert_allclose(pooled, word[None, :], atol=1e-6)


def test_partition_is_scipy_ward_tree_cut() -> None:
    # the reference: Ward linkage on the unit rows (Euclidean = sqrt(2 - 2 cos)) cut by fcluster's maxclust
    for seed, doc in enumerate(_topics([40, 77, 150], seed=11)):
        keep = pooled_count(len(doc), 3)
        reference = fcluster(linkage(doc.astype(np.float64), method="ward"), t=keep, criterion="maxclust")
        expected = [normalize_rows(doc[reference == label].mean(0)) for label in np.unique(reference)]
        pooled = pool_tokens(doc, 3)
        assert len(pooled) == len(expected) == keep, seed
        for row in expected:  # the same clusters (order aside)
            assert np.max(pooled @ row) > 1 - 1e-5, seed


def test_each_token_is_still_matched_by_its_pooled_row() -> None:
    for doc in _topics([60, 185], seed=5):
        for factor, worst, mean in ((2, 0.85, 0.93), (4, 0.8, 0.89)):  # measured: 0.92 / 0.95, 0.87 / 0.91
            best = (pool_tokens(doc, factor) @ doc.T).max(axis=0)  # each token's cosine with its closest pooled row
            assert best.min() > worst and best.mean() > mean, (len(doc), factor, best.min(), best.mean())


def test_maxsim_ranking_survives_pooling() -> None:
    docs = _topics([80] * 30, seed=9)
    pooled = pool_documents(docs, 3)
    rng = np.random.default_rng(2)
    for target in range(0, 30, 3):  # a query made of some of a document's own tokens finds that document
        query = docs[target][rng.choice(80, 12, replace=False)]
        scores = [maxsim(query, d) for d in pooled]
        assert int(np.argmax(scores)) == target
        assert scores[target] > 0.88 * maxsim(query, docs[target])  # measured: 0.92 to 0.94


@pytest.mark.parametrize("factor", [0, -1, 1.5, True, "2", None])
def test_bad_factor_is_refused(factor: object) -> None:
    with pytest.raises(InvalidInputError, match="pool_factor"):
        pool_tokens(_doc(4), factor)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.zeros((0, 4)), np.zeros(4), np.zeros((2, 0)), np.zeros((2, 2, 2))])
def test_bad_vectors_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInputError, match="non-empty"):
        pool_tokens(bad, 2)
