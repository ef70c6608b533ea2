"""CRUD on both backends: ids, upsert, get, scroll, delete, clear, count, images, precomputed embeddings."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from PIL import Image

from multivec.errors import InvalidInputError, StoreError
from multivec.store import MultiVectorStore, Record

from .conftest import StoreFactory, random_corpus

TEXTS = ["red apples", "blue cars", "green pears"]


def test_add_texts_returns_ids_and_get_returns_records(store: MultiVectorStore) -> None:
    ids = store.add_texts(TEXTS, metadatas=[{"n": 1}, {"n": 2}, None], ids=["a", "b", "c"])
    assert ids == ["a", "b", "c"]
    assert store.count() == 3
    records = store.get(["c", "missing", "a"])
    assert records == [
        Record(id="c", content="green pears", metadata={}, modality="text", source=None, page=None),
        Record(id="a", content="red apples", metadata={"n": 1}, modality="text", source=None, page=None),
    ]


def test_generated_ids_are_uuid4_strings(store: MultiVectorStore) -> None:
    ids = store.add_texts(TEXTS)
    assert len(set(ids)) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert sorted(r.id for r in store.get(ids)) == sorted(ids)


def test_int_and_str_ids_are_the_same_id(store: MultiVectorStore) -> None:
    assert store.add_texts(["seven"], ids=[7]) == ["7"]
    assert [r.content for r in store.get([7])] == ["seven"]
    store.add_texts(["seven again"], ids=["7"])
    assert store.count() == 1
    assert store.get(["7"])[0].content == "seven again"


def test_any_string_id_is_accepted(store: MultiVectorStore) -> None:
    odd = ["with space", "ünïcødé/ä?#", "x" * 500, "-1", "0"]
    store.add_texts([f"text {i}" for i in range(len(odd))], ids=odd)
    assert [r.id for r in store.get(odd)] == odd


def test_upsert_replaces_content_metadata_and_vectors(store: MultiVectorStore) -> None:
    store.add_texts(["red apples"], metadatas=[{"v": 1}], ids=["x"])
    store.add_texts(["blue cars"], metadatas=[{"v": 2}], ids=["x"])
    assert store.count() == 1
    assert store.get(["x"])[0].metadata == {"v": 2}
    hit = store.search("blue cars", k=1, exact=True)[0]
    assert (hit.id, hit.relevance) == ("x", pytest.approx(1.0))


def test_delete_by_ids_filter_and_both(store: MultiVectorStore) -> None:
    store.add_texts([*TEXTS, "red cars"], metadatas=[{"c": "r"}, {"c": "b"}, {"c": "g"}, {"c": "r"}], ids=[1, 2, 3, 4])
    store.delete(ids=[2, "missing"])
    assert sorted(r.id for r in store.scroll()) == ["1", "3", "4"]
    store.delete(ids=[1, 3], filter={"c": "r"})  # only 1 is red
    assert sorted(r.id for r in store.scroll()) == ["3", "4"]
    store.delete(filter={"c": "r"})
    assert [r.id for r in store.scroll()] == ["3"]
    with pytest.raises(InvalidInputError, match="clear"):
        store.delete()
    assert store.count() == 1


def test_clear_keeps_the_collection_usable(store: MultiVectorStore) -> None:
    store.add_texts(TEXTS)
    store.clear()
    assert store.count() == 0
    assert store.search("red", k=3) == []
    store.add_texts(["again"], ids=["z"])
    assert [h.id for h in store.search("again", k=3)] == ["z"]


def test_scroll_filter_and_limit(store: MultiVectorStore) -> None:
    store.add_texts([f"text {i}" for i in range(25)], metadatas=[{"i": i} for i in range(25)])
    assert len(store.scroll()) == 25
    assert len(store.scroll(limit=7)) == 7
    assert sorted(r.metadata["i"] for r in store.scroll({"i": {"$lt": 5}})) == [0, 1, 2, 3, 4]
    assert store.count({"i": {"$gte": 20}}) == 5


def test_add_images_stores_references_not_pixels(store: MultiVectorStore, tmp_path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (16, 16), "red").save(red)
    blue = Image.new("RGB", (16, 16), "blue")
    ids = store.add_images(
        [red, blue, red.read_bytes()],
        ids=["r", "b", "raw"],
        sources=[None, "blue.png", None],
        pages=[None, 3, None],
        metadatas=[{"k": 1}, None, None],
    )
    assert ids == ["r", "b", "raw"]
    r, b, raw = store.get(ids)
    assert (r.modality, r.source, r.content, r.metadata) == ("image", str(red), str(red), {"k": 1})
    assert (b.source, b.content, b.page) == ("blue.png", "blue.png", 3)
    assert (raw.source, raw.content) == (None, "raw")
    hits = store.search(Image.new("RGB", (16, 16), "blue"), k=1, exact=True)
    assert hits[0].id == "b" and hits[0].relevance == pytest.approx(1.0)


def test_add_embeddings_with_payloads(store: MultiVectorStore) -> None:
    vectors = random_corpus(3, 16)
    payloads = [
        {"content": "p1", "modality": "image", "source": "doc.pdf", "page": 1, "metadata": {"a": [1, 2]}},
        {"content": "t"},
        None,
    ]
    ids = store.add_embeddings(vectors, payloads, ids=["p1", "t", "n"])
    p1, t, n = store.get(ids)
    assert (p1.modality, p1.source, p1.page, p1.metadata) == ("image", "doc.pdf", 1, {"a": [1, 2]})
    assert (t.content, t.modality, t.page) == ("t", "text", None)
    assert (n.content, n.metadata) == (None, {})
    hit = store.search(vectors[2], k=1, exact=True)[0]
    assert hit.id == "n" and hit.score == pytest.approx(len(vectors[2]), rel=1e-3)


def test_empty_inputs_write_nothing(store: MultiVectorStore) -> None:
    assert store.add_texts([]) == []
    assert store.add_embeddings([]) == []
    assert store.get([]) == []
    store.delete(ids=[])
    assert store.count() == 0


def test_closed_store_refuses_calls(make_store: StoreFactory) -> None:
    store = make_store()
    store.add_texts(["x"])
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()


def test_context_manager_closes(make_store: StoreFactory) -> None:
    with make_store() as store:
        store.add_texts(["x"])
    with pytest.raises(StoreError):
        store.search("x")


def test_single_vector_embedder_gets_a_dense_collection(make_store: StoreFactory) -> None:
    from .conftest import FakeSingleVectorEmbedding

    store = make_store(FakeSingleVectorEmbedding(dim=16))
    assert not store.is_multi_vector
    store.add_texts(TEXTS, ids=["a", "b", "c"], metadatas=[{"c": 1}, {"c": 2}, {"c": 1}])
    for exact in (False, True):
        hits = store.search("green pears", k=2, exact=exact)
        assert hits[0].id == "c" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].relevance == pytest.approx(1.0, abs=1e-5)
    assert [h.id for h in store.search("green pears", k=3, filter={"c": 1})] == ["c", "a"]
    assert next(h.id for h in store.mmr_search("green pears", k=2)) == "c"
    with pytest.raises(InvalidInputError, match="shape"):
        store.add_embeddings([np.ones((2, 16), np.float32)])
