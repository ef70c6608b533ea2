"""pool_factor: ingest-time hierarchical token pooling in the store, on both backends; recorded and enforced on reopen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qdrant_client import QdrantClient

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, StoreCorruptedError
from multivec.pooling import pool_tokens, pooled_count
from multivec.scoring import maxsim, normalize_rows, pool, pool_groups
from multivec.store import MultiVectorStore
from multivec.store.backend import DENSE, POOLED, RetrieveVectors
from multivec.store.layout import META_FILE, read_metadata
from multivec.validation import point_id
from tests.store.conftest import FakeSingleVectorEmbedding, StoreFactory, random_corpus

DIM = 16


def _stored(store: MultiVectorStore, item: str, using: str) -> np.ndarray:
    [(_, vector)] = store._backend.execute(RetrieveVectors([point_id(item)], using))
    return vector


def test_documents_are_stored_pooled_with_the_full_mean_as_first_stage(make_store: StoreFactory) -> None:
    docs = random_corpus(12, DIM, seed=1, min_len=1, max_len=20)
    store = make_store(pool_factor=3)
    assert store.pool_factor == 3
    store.add_embeddings(docs, ids=[str(i) for i in range(len(docs))])
    for i, (doc, stored) in enumerate(zip(docs, store.get_vectors([str(i) for i in range(len(docs))]), strict=True)):
        assert len(stored) == pooled_count(len(doc), 3) <= len(doc)
        np.testing.assert_allclose(stored, pool_tokens(doc, 3), atol=1e-5)
        # the first stage is the mean of the original tokens, not of the pooled ones
        np.testing.assert_allclose(_stored(store, str(i), DENSE), pool(normalize_rows(doc)), atol=1e-5)
    assert store.verify().ok


def test_search_scores_the_full_query_against_the_pooled_document(make_store: StoreFactory) -> None:
    docs = random_corpus(20, DIM, seed=2, min_len=10, max_len=16)
    store = make_store(pool_factor=2)
    store.add_embeddings(docs, ids=list(range(len(docs))))
    query = random_corpus(1, DIM, seed=50, min_len=12, max_len=12)[0]  # 12 tokens: pooled would be 6
    hits = store.search(query, k=len(docs), exact=True)
    expected = {str(i): maxsim(query, pool_tokens(d, 2)) for i, d in enumerate(docs)}
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.id], abs=1e-4)
        assert hit.relevance == pytest.approx((hit.score / 12 + 1) / 2, abs=1e-6)
    assert [h.id for h in hits[:3]] == sorted(expected, key=expected.__getitem__, reverse=True)[:3]


def test_every_write_path_pools(make_store: StoreFactory) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    store = make_store(fake, pool_factor=2)
    text = "wing tip stall spreads inward as the angle of attack grows past the critical value"
    store.add_texts([text], ids=["t"])
    image = Image.new("RGB", (32, 32), "red")
    image.paste(Image.new("RGB", (16, 16), "blue"), (0, 0))
    store.add_images([image], ids=["i"])
    [text_rows, image_rows] = store.get_vectors(["t", "i"])
    assert len(text_rows) == pooled_count(len(fake.embed_text(text)), 2) < len(fake.embed_text(text))
    np.testing.assert_allclose(text_rows, pool_tokens(fake.embed_text(text), 2), atol=1e-5)
    np.testing.assert_allclose(image_rows, pool_tokens(fake.embed_image(image), 2), atol=1e-5)


async def test_async_writes_pool_too(make_store: StoreFactory) -> None:
    doc = random_corpus(1, DIM, seed=4, min_len=9, max_len=9)[0]
    store = make_store(pool_factor=4)
    await store.aadd_embeddings([doc], ids=["a"])
    [stored] = await store.aget_vectors(["a"])
    np.testing.assert_allclose(stored, pool_tokens(doc, 4), atol=1e-5)


def test_token_pooling_stage_is_built_from_the_stored_tokens(make_store: StoreFactory) -> None:
    docs = random_corpus(6, DIM, seed=6, min_len=8, max_len=15)
    store = make_store(pool_factor=2, token_pooling=3)
    store.add_embeddings(docs, ids=[str(i) for i in range(len(docs))])
    for i, doc in enumerate(docs):
        np.testing.assert_allclose(_stored(store, str(i), POOLED), pool_groups(pool_tokens(doc, 2), 3), atol=1e-5)
    assert store.verify().ok  # its check: ceil(stored tokens / 3) pooled rows


@pytest.mark.parametrize("bad", [1, 0, -2, 2.0, "2", True])
def test_bad_pool_factor_is_refused(make_store: StoreFactory, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="pool_factor"):
        make_store(pool_factor=bad)


def test_single_vector_embedders_cannot_pool(make_store: StoreFactory) -> None:
    with pytest.raises(ConfigurationError, match=r"pool_factor.*multi-vector"):
        make_store(FakeSingleVectorEmbedding(dim=DIM), pool_factor=2)


def test_embedded_reopen_keeps_or_refuses(tmp_path: Path) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    doc = random_corpus(1, DIM, seed=7, min_len=10, max_len=10)[0]
    with MultiVectorStore(fake, path=tmp_path, pool_factor=2) as store:
        store.add_embeddings([doc], ids=["a"])
    assert json.loads((tmp_path / "multivec" / META_FILE).read_text())["pool_factor"] == 2
    with MultiVectorStore(fake, path=tmp_path) as store:  # left out: the collection's own
        assert store.pool_factor == 2
        store.add_embeddings([doc], ids=["b"])
        assert [len(v) for v in store.get_vectors(["a", "b"])] == [5, 5]
    with MultiVectorStore(fake, path=tmp_path, pool_factor=2) as store:  # the same: fine
        assert store.count() == 2
    with pytest.raises(ConfigurationError, match=r"pool_factor=2 but pool_factor=3"):
        MultiVectorStore(fake, path=tmp_path, pool_factor=3)
    with MultiVectorStore(fake, path=tmp_path) as store:  # the refused open changed nothing
        assert store.pool_factor == 2 and store.count() == 2


def test_unpooled_collection_refuses_a_pool_factor(make_store: StoreFactory, backend: str, tmp_path: Path) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    if backend == "edge":
        make_store(fake).close()
        with pytest.raises(ConfigurationError, match=r"pool_factor=None but pool_factor=2"):
            MultiVectorStore(fake, path=tmp_path / "db", pool_factor=2)
        return
    client = QdrantClient(location=":memory:")
    try:
        MultiVectorStore(fake, client=client, pool_factor=3).close()
        metadata = client.get_collection("multivec").config.metadata
        assert metadata is not None and metadata["pool_factor"] == 3
        with pytest.raises(ConfigurationError, match=r"pool_factor=3 but pool_factor=2"):
            MultiVectorStore(fake, client=client, pool_factor=2)
        with MultiVectorStore(fake, client=client) as store:
            assert store.pool_factor == 3
    finally:
        client.close()


def test_a_store_made_before_pooling_existed_opens_unpooled(tmp_path: Path) -> None:
    fake = DeterministicFakeMultiVectorEmbedding(dim=DIM)
    doc = random_corpus(1, DIM, seed=8, min_len=10, max_len=10)[0]
    with MultiVectorStore(fake, path=tmp_path) as store:
        store.add_embeddings([doc], ids=["a"])
    directory = tmp_path / "multivec"
    meta = json.loads((directory / META_FILE).read_text())
    del meta["pool_factor"]
    (directory / META_FILE).write_text(json.dumps(meta))
    (directory / "multivec.state.json").unlink()  # such a store had no bookkeeping file either
    with MultiVectorStore(fake, path=tmp_path) as store:
        assert store.pool_factor is None
        store.add_embeddings([doc], ids=["b"])
        assert [len(v) for v in store.get_vectors(["a", "b"])] == [10, 10]
    with pytest.raises(ConfigurationError, match=r"pool_factor=None but pool_factor=2"):
        MultiVectorStore(fake, path=tmp_path, pool_factor=2)


@pytest.mark.parametrize("bad", [1, "2", 2.5, True])
def test_damaged_pool_factor_in_the_metadata_file_is_refused(tmp_path: Path, bad: object) -> None:
    file = tmp_path / META_FILE
    meta = {"multivec": 1, "model_name": "m", "dim": 4, "multi_vector": True, "datatype": "float32"}
    file.write_text(json.dumps({**meta, "pool_factor": bad}))
    with pytest.raises(StoreCorruptedError, match="pool_factor"):
        read_metadata(file)
    file.write_text(json.dumps(meta))
    assert read_metadata(file)[0]["pool_factor"] is None
