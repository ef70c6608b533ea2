"""The drop-in Embeddings: flat pooled vectors for LangChain, token vectors through the multi-vector view."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from PIL import Image

from langchain_multivec import MultiVectorEmbeddings
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding, MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import pool


class _TextOnly(MultiVectorBaseEmbedding):
    dim = 4

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        return [np.ones((2, 4), np.float32) * (2.0 if is_query else 1.0) for _ in texts]


class _SingleVector(MultiVectorBaseEmbedding):
    is_multi_vector = False
    dim = 3

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        return [np.array([3.0, 0.0, 4.0], np.float32) for _ in texts]


@pytest.fixture
def emb() -> MultiVectorEmbeddings:
    return MultiVectorEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=16, embed_batch_size=2))


def test_is_a_langchain_embeddings_with_pooled_vectors(emb: MultiVectorEmbeddings) -> None:
    assert isinstance(emb, Embeddings)
    texts = ["red apples", "blue cars and trucks", "x"]
    flat = emb.embed_documents(texts)
    multi = emb.embed_documents_multi(texts)
    assert [m.shape for m in multi] == [(2, 16), (4, 16), (1, 16)]
    for f, m in zip(flat, multi, strict=True):
        assert all(type(x) is float for x in f)
        np.testing.assert_allclose(f, pool(m), rtol=1e-6)
        assert np.linalg.norm(f) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(emb.embed_query("red apples"), pool(emb.embed_query_multi("red apples")), rtol=1e-6)


async def test_async_matches_sync(emb: MultiVectorEmbeddings) -> None:
    texts = ["one", "two words", "three little words", "four", "five"]  # 3 chunks of embed_batch_size=2
    assert await emb.aembed_documents(texts) == emb.embed_documents(texts)
    assert await emb.aembed_query("two words") == emb.embed_query("two words")
    for a, b in zip(await emb.aembed_documents_multi(texts), emb.embed_documents_multi(texts), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(await emb.aembed_query_multi("q"), emb.embed_query_multi("q"))


def test_query_side_encoding_is_used() -> None:
    emb = MultiVectorEmbeddings(_TextOnly(model_name="t"))
    assert emb.embed_query_multi("q")[0, 0] == 2.0
    assert emb.embed_documents_multi(["d"])[0][0, 0] == 1.0


def test_single_vector_model_gives_its_native_vector() -> None:
    emb = MultiVectorEmbeddings(_SingleVector(model_name="single"))
    assert not emb.is_multi_vector
    assert emb.embed_query("q") == [3.0, 0.0, 4.0]
    assert emb.embed_documents(["a", "b"]) == [[3.0, 0.0, 4.0]] * 2


def test_images(emb: MultiVectorEmbeddings, tmp_path) -> None:
    red = Image.new("RGB", (16, 16), (255, 0, 0))
    path = tmp_path / "red.png"
    red.save(path)
    multi = emb.embed_images([red, str(path)])
    assert [m.shape for m in multi] == [(16, 16), (16, 16)]  # grid 4x4 patches of dim 16
    np.testing.assert_array_equal(multi[0], multi[1])
    flat = emb.embed_image([str(path)])
    np.testing.assert_allclose(flat[0], pool(multi[0]), rtol=1e-6)
    assert emb.supports_images


async def test_async_images(emb: MultiVectorEmbeddings) -> None:
    img = Image.new("RGB", (8, 8), (0, 0, 255))
    np.testing.assert_array_equal((await emb.aembed_images([img]))[0], emb.embed_images([img])[0])


def test_text_only_embedder_rejects_images() -> None:
    emb = MultiVectorEmbeddings(_TextOnly(model_name="t"))
    assert not emb.supports_images
    with pytest.raises(InvalidInputError, match="text only"):
        emb.embed_images([Image.new("RGB", (8, 8))])


def test_invalid_inputs_raise_before_embedding(emb: MultiVectorEmbeddings) -> None:
    with pytest.raises(InvalidInputError, match=r"texts\[1\]"):
        emb.embed_documents(["fine", "   "])
    with pytest.raises(ConfigurationError, match="multivec embedder"):
        MultiVectorEmbeddings(object())  # type: ignore[arg-type]


def test_wrapping_a_wrapper_unwraps(emb: MultiVectorEmbeddings) -> None:
    again = MultiVectorEmbeddings(emb)  # type: ignore[arg-type]
    assert again.embedder is emb.embedder
    assert again.dim == 16 and again.model_name == "deterministic-fake"
    assert "deterministic-fake" in repr(again)


def test_convenience_constructor() -> None:
    emb = MultiVectorEmbeddings.fake(dim=8)
    assert isinstance(emb.embedder, DeterministicFakeMultiVectorEmbedding)
    assert emb.dim == 8


def test_works_in_any_langchain_vector_store(emb: MultiVectorEmbeddings) -> None:
    store = InMemoryVectorStore(emb)
    store.add_texts(["red apples", "blue cars", "green pears"])
    assert store.similarity_search("blue cars", k=1)[0].page_content == "blue cars"
