"""DeterministicFakeMultiVectorEmbedding, MaxSim scoring and reranking."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.rerank import arerank, rerank
from multivec.scoring import maxsim, maxsim_many, normalize_rows, pool, relevance


def test_fake_is_deterministic_across_instances() -> None:
    a = DeterministicFakeMultiVectorEmbedding(dim=16)
    b = DeterministicFakeMultiVectorEmbedding(dim=16)
    assert np.array_equal(a.embed_query("Hello, world"), b.embed_text("hello world"))
    assert a.embed_query("one two three").shape == (3, 16)
    norms = np.linalg.norm(a.embed_text("x y"), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


def test_fake_identical_text_scores_highest() -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=32)
    docs = ["the cat sat on the mat", "dogs bark loudly", "quantum chromodynamics", "the cat"]
    q = fake.embed_query("dogs bark loudly")
    scores = [maxsim(q, d) for d in fake.embed_documents(docs)]
    assert int(np.argmax(scores)) == 1
    assert scores[1] == pytest.approx(3.0, rel=1e-5)


def test_fake_images_are_deterministic_and_distinguish_content() -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=8, grid=3)
    red, blue = Image.new("RGB", (30, 30), (255, 0, 0)), Image.new("RGB", (30, 30), (0, 0, 255))
    r1, r2, b = fake.embed_images([red, red.copy(), blue])
    assert r1.shape == (9, 8)
    assert np.array_equal(r1, r2)
    assert maxsim(r1, r2) > maxsim(r1, b)


def test_fake_rejects_bad_dim() -> None:
    with pytest.raises(ConfigurationError):
        DeterministicFakeMultiVectorEmbedding(dim=0)


def test_maxsim_many_matches_per_document_maxsim() -> None:
    rng = np.random.default_rng(0)
    q = normalize_rows(rng.standard_normal((5, 8)))
    docs = [normalize_rows(rng.standard_normal((n, 8))) for n in (1, 7, 3, 12)]
    expected = [sum(max(float(qi @ dj) for dj in d) for qi in q) for d in docs]
    np.testing.assert_allclose(maxsim_many(q, docs), expected, rtol=1e-5)
    np.testing.assert_allclose([maxsim(q, d) for d in docs], expected, rtol=1e-5)
    assert maxsim_many(q, []).shape == (0,)


def test_pool_and_relevance() -> None:
    mv = np.array([[1, 0], [0, 1]], dtype=np.float32)
    np.testing.assert_allclose(pool(mv), [2**-0.5, 2**-0.5], rtol=1e-6)
    np.testing.assert_allclose(pool(np.array([3, 4], dtype=np.float32)), [0.6, 0.8], rtol=1e-6)
    assert pool(np.zeros((2, 2), np.float32)).tolist() == [0.0, 0.0]
    assert relevance(4.0, 4) == 1.0
    assert relevance(-4.0, 4) == 0.0
    assert relevance(0.0, 4) == 0.5
    assert relevance(5.0, 4) == 1.0  # clipped
    with pytest.raises(ValueError):
        relevance(1.0, 0)


def test_rerank_orders_by_maxsim_and_handles_images() -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=32)
    docs: list[object] = ["blue car", "red pie", Image.new("RGB", (8, 8)), "red apple"]
    ranked = rerank(fake, "red apple", docs, modalities=["text", "text", "image", "text"])  # type: ignore[arg-type]
    q = fake.embed_query("red apple")
    expected = [
        maxsim(q, fake.embed_text("blue car")),
        maxsim(q, fake.embed_text("red pie")),
        maxsim(q, fake.embed_image(docs[2])),  # type: ignore[arg-type]
        maxsim(q, fake.embed_text("red apple")),
    ]
    assert [r.index for r in ranked] == list(np.argsort(-np.array(expected), kind="stable"))
    assert ranked[0].index == 3
    assert ranked[0].relevance == pytest.approx(1.0)
    assert [r.score for r in ranked] == pytest.approx(sorted(expected, reverse=True), rel=1e-5)
    assert len(rerank(fake, "red apple", ["a", "b", "c"], top_n=2)) == 2


async def test_arerank_equals_rerank() -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=32, embed_batch_size=2)
    docs = ["alpha beta", "gamma", "beta gamma delta", "alpha"]
    assert await arerank(fake, "alpha gamma", docs) == rerank(fake, "alpha gamma", docs)


def test_rerank_bad_inputs() -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=8)
    with pytest.raises(InvalidInputError, match="modalities"):
        rerank(fake, "q", ["a"], modalities=["text", "text"])
    with pytest.raises(InvalidInputError, match="top_n"):
        rerank(fake, "q", ["a"], top_n=0)
    with pytest.raises(InvalidInputError, match=r"documents\[1\] is marked text"):
        rerank(fake, "q", ["a", b"x"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="'video'"):
        rerank(fake, "q", ["a"], modalities=["video"])  # type: ignore[list-item]
