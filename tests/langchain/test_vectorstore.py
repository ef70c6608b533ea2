"""QdrantMultiVectorStore beyond the standard suite, on both backends: scores, filters, vectors, MMR, images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever
from PIL import Image
from qdrant_client import models

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import maxsim
from multivec.store import MultiVectorStore
from tests.langchain.conftest import fake_embeddings, open_store

DOCS = [
    Document("red apples and green pears", metadata={"kind": "fruit", "year": 2001}, id="fruit-1"),
    Document("green apples", metadata={"kind": "fruit", "year": 2010}, id="fruit-2"),
    Document("blue cars and red trucks", metadata={"kind": "vehicle", "year": 1999}, id="car-1"),
    Document("fast red cars", metadata={"kind": "vehicle", "year": 2020}, id="car-2"),
]


@pytest.fixture
def filled(store: QdrantMultiVectorStore) -> QdrantMultiVectorStore:
    assert store.add_documents(DOCS) == [str(d.id) for d in DOCS]
    return store


def test_scores_are_raw_maxsim_and_relevance_in_unit_interval(filled: QdrantMultiVectorStore) -> None:
    emb = filled.embeddings
    query = "red apples pears"
    q = emb.embed_query_multi(query)
    expected = sorted(
        ((d.id, maxsim(q, emb.embed_documents_multi([d.page_content])[0])) for d in DOCS), key=lambda x: -x[1]
    )
    scored = filled.similarity_search_with_score(query, k=4, exact=True)
    assert [d.id for d, _ in scored] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in scored], [s for _, s in expected], rtol=1e-4)
    assert scored[0][1] == pytest.approx(3.0, abs=1e-4)  # every query token found: raw MaxSim = n_query_tokens
    relevance = filled.similarity_search_with_relevance_scores(query, k=4)
    assert [d.id for d, _ in relevance] == [i for i, _ in expected]
    np.testing.assert_allclose([r for _, r in relevance], [(s / 3 + 1) / 2 for _, s in expected], rtol=1e-4)
    assert all(0.0 <= r <= 1.0 for _, r in relevance)


async def test_async_search_matches_sync(filled: QdrantMultiVectorStore) -> None:
    query = "fast red cars"  # no ties among the results
    assert await filled.asimilarity_search(query, k=3) == filled.similarity_search(query, k=3)
    assert await filled.asimilarity_search_with_score(query) == filled.similarity_search_with_score(query)
    assert await filled.asimilarity_search_with_relevance_scores(
        query, score_threshold=0.6
    ) == filled.similarity_search_with_relevance_scores(query, score_threshold=0.6)
    assert await filled.amax_marginal_relevance_search(query, k=2) == filled.max_marginal_relevance_search(query, k=2)


def test_score_threshold_retriever_filters_on_relevance(filled: QdrantMultiVectorStore) -> None:
    retriever = filled.as_retriever(search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.9})
    assert isinstance(retriever, VectorStoreRetriever)
    # "fast red cars" holds all three query words (relevance 1); every other document misses at least one
    assert [d.id for d in retriever.invoke("fast red cars")] == ["car-2"]


def test_documents_are_clean_and_carry_ids(filled: QdrantMultiVectorStore) -> None:
    assert filled.get_by_ids(["car-1", "missing", "fruit-2"]) == [DOCS[2], DOCS[1]]
    assert filled.similarity_search("fast red cars", k=1) == [DOCS[3]]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"kind": "fruit"}, {"fruit-1", "fruit-2"}),
        ({"year": {"$gte": 2010}}, {"fruit-2", "car-2"}),
        ({"$or": [{"kind": "fruit", "year": {"$lt": 2005}}, {"year": 1999}]}, {"fruit-1", "car-1"}),
        ({"kind": {"$nin": ["fruit"]}}, {"car-1", "car-2"}),
        (
            models.Filter(must=[models.FieldCondition(key="metadata.kind", match=models.MatchValue(value="vehicle"))]),
            {"car-1", "car-2"},
        ),
    ],
)
def test_filters_in_every_search(filled: QdrantMultiVectorStore, flt: object, expected: set[str]) -> None:
    assert {d.id for d in filled.similarity_search("red apples", k=10, filter=flt)} == expected
    assert {d.id for d, _ in filled.similarity_search_with_relevance_scores("red", k=10, filter=flt)} == expected
    assert {d.id for d in filled.max_marginal_relevance_search("red", k=10, fetch_k=10, filter=flt)} == expected
    retriever = filled.as_retriever(search_kwargs={"k": 10, "filter": flt})
    assert {d.id for d in retriever.invoke("cars")} == expected


def test_search_by_vector(filled: QdrantMultiVectorStore) -> None:
    q = filled.embeddings.embed_query_multi("fast red cars")
    assert [d.id for d in filled.similarity_search_by_vector(q, k=2)] == [
        d.id for d in filled.similarity_search("fast red cars", k=2)
    ]
    as_lists = q.tolist()
    assert filled.similarity_search_by_vector(as_lists, k=1)[0].id == "car-2"
    scored = filled.similarity_search_with_score_by_vector(q, k=1)
    assert scored[0][0].id == "car-2" and scored[0][1] == pytest.approx(3.0, abs=1e-4)
    # a flat vector is a one-token query: LangChain's pooled query vector works too
    flat = filled.embeddings.embed_query("apples")
    assert filled.similarity_search_by_vector(flat, k=2)[0].id in {"fruit-1", "fruit-2"}
    mmr = filled.max_marginal_relevance_search_by_vector(q, k=2, fetch_k=4, lambda_mult=1.0)
    assert [d.id for d in mmr] == [d.id for d in filled.similarity_search("fast red cars", k=2)]


async def test_async_search_by_vector(filled: QdrantMultiVectorStore) -> None:
    q = filled.embeddings.embed_query_multi("fast red cars")
    assert await filled.asimilarity_search_by_vector(q, k=2) == filled.similarity_search_by_vector(q, k=2)
    assert await filled.asimilarity_search_with_score_by_vector(q) == filled.similarity_search_with_score_by_vector(q)
    assert await filled.amax_marginal_relevance_search_by_vector(
        q, k=2
    ) == filled.max_marginal_relevance_search_by_vector(q, k=2)


def test_mmr_trades_relevance_for_diversity(store: QdrantMultiVectorStore) -> None:
    store.add_texts(["red apples fresh ripe", "red apples fresh", "red apples ripe", "blue cars"], ids=list("abcd"))
    query = "red apples fresh ripe"
    relevant = [d.id for d in store.max_marginal_relevance_search(query, k=2, fetch_k=4, lambda_mult=1.0)]
    diverse = [d.id for d in store.max_marginal_relevance_search(query, k=2, fetch_k=4, lambda_mult=0.0)]
    assert relevant[0] == "a" and relevant[1] in {"b", "c"}
    assert diverse == ["a", "d"]
    mmr_retriever = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.0})
    assert [d.id for d in mmr_retriever.invoke(query)] == ["a", "d"]


def test_delete_by_filter_and_everything(filled: QdrantMultiVectorStore) -> None:
    assert filled.delete(filter={"kind": "vehicle"}) is True
    assert {d.id for d in filled.similarity_search("cars", k=10)} == {"fruit-1", "fruit-2"}
    assert filled.delete() is True
    assert filled.similarity_search("apples", k=10) == []


async def test_async_delete_and_get(filled: QdrantMultiVectorStore) -> None:
    assert await filled.aget_by_ids(["fruit-1"]) == [DOCS[0]]
    await filled.adelete(filter={"year": {"$lt": 2005}})
    assert {d.id for d in filled.get_by_ids([str(d.id) for d in DOCS])} == {"fruit-2", "car-2"}
    await filled.adelete()
    assert await filled.aget_by_ids([str(d.id) for d in DOCS]) == []


def test_any_string_or_partial_ids(store: QdrantMultiVectorStore) -> None:
    ids = store.add_documents([Document("one", id="with space/ünï"), Document("two"), Document("three", id="")])
    assert ids[0] == "with space/ünï" and len(ids) == 3 and ids[1] not in {"", None}
    assert [d.page_content for d in store.get_by_ids(ids)] == ["one", "two", "three"]


def test_unknown_options_are_rejected_before_any_side_effect(filled: QdrantMultiVectorStore) -> None:
    with pytest.raises(InvalidInputError, match="filtre"):
        filled.similarity_search("apples", filtre={"kind": "fruit"})
    with pytest.raises(InvalidInputError, match="exact"):
        filled.max_marginal_relevance_search("apples", exact=True)
    with pytest.raises(InvalidInputError, match="batchsize"):
        filled.add_texts(["x"], batchsize=3)
    with pytest.raises(InvalidInputError, match="ids"):
        filled.add_texts(["x", "y"], ids=["only-one"])
    assert len(filled.similarity_search("x", k=10)) == len(DOCS)


def test_image_documents_point_to_the_image(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (16, 16), (250, 0, 0)).save(red)
    blue = Image.new("RGB", (16, 16), (0, 0, 250))
    ids = store.add_images([red, blue], metadatas=[{"color": "red"}, {"color": "blue"}], ids=["r", "b"])
    store.add_texts(["red apples"], ids=["t"])
    assert ids == ["r", "b"]
    docs = {d.id: d for d in store.get_by_ids(["r", "b", "t"])}
    assert docs["r"] == Document(
        id="r", page_content=str(red), metadata={"color": "red", "modality": "image", "source": str(red)}
    )
    assert docs["b"] == Document(id="b", page_content="b", metadata={"color": "blue", "modality": "image"})
    assert docs["t"].metadata == {}
    # an image query vector finds the same image first
    hits = store.similarity_search_by_vector(store.embeddings.embed_images([blue])[0], k=1)
    assert hits[0].id == "b"
    assert {d.id for d in store.similarity_search("anything", k=5, filter={"color": "red"})} == {"r"}


async def test_async_images(store: QdrantMultiVectorStore) -> None:
    img = Image.new("RGB", (16, 16), (0, 200, 0))
    assert await store.aadd_images([img], ids=["g"], sources=["green.png"], pages=[2]) == ["g"]
    assert (await store.aget_by_ids(["g"]))[0].metadata == {"modality": "image", "source": "green.png", "page": 2}


def test_from_texts_and_documents(backend: str, tmp_path: Path) -> None:
    opts = {"path": str(tmp_path / "a")} if backend == "edge" else {"location": ":memory:"}
    with QdrantMultiVectorStore.from_documents(DOCS, fake_embeddings(), collection_name="docs", **opts) as s:
        assert s.store.collection_name == "docs"
        assert s.get_by_ids(["car-2"]) == [DOCS[3]]
    opts = {"path": str(tmp_path / "b")} if backend == "edge" else {"location": ":memory:"}
    with QdrantMultiVectorStore.from_texts(
        ["x y", "z"], fake_embeddings(), [{"n": 1}, {"n": 2}], ids=["1", "2"], **opts
    ) as s:
        assert s.similarity_search("z", k=1) == [Document("z", metadata={"n": 2}, id="2")]


async def test_afrom_texts_and_documents(backend: str, tmp_path: Path) -> None:
    opts: dict[str, Any] = {"path": str(tmp_path / "a")} if backend == "edge" else {"location": ":memory:"}
    s = await QdrantMultiVectorStore.afrom_documents(DOCS, fake_embeddings(), **opts)
    async with s:
        assert await s.aget_by_ids(["fruit-1"]) == [DOCS[0]]
    opts = {"path": str(tmp_path / "b")} if backend == "edge" else {"location": ":memory:"}
    s = await QdrantMultiVectorStore.afrom_texts(["x y", "z"], fake_embeddings(), ids=["1", "2"], **opts)
    async with s:
        assert (await s.asimilarity_search("x", k=1))[0].id == "1"


def test_from_store_shares_storage_and_embeddings_property(backend: str, tmp_path: Path) -> None:
    emb = fake_embeddings()
    opts = {"path": str(tmp_path / "s")} if backend == "edge" else {"location": ":memory:"}
    with MultiVectorStore(emb.embedder, **opts) as core:  # type: ignore[arg-type]
        wrapped = QdrantMultiVectorStore.from_store(core)
        wrapped.add_texts(["shared text"], ids=["s"])
        assert core.get(["s"])[0].content == "shared text"
        assert isinstance(wrapped.embeddings, MultiVectorEmbeddings)
        assert wrapped.embeddings.embedder is emb.embedder
    with pytest.raises(InvalidInputError, match="MultiVectorStore"):
        QdrantMultiVectorStore.from_store(object())  # type: ignore[arg-type]


def test_store_options_reach_the_core(tmp_path: Path) -> None:
    with open_store("edge", tmp_path, prefetch_limit=7, filterable_fields={"kind": "keyword"}) as s:
        assert s.store.prefetch_limit == 7 and s.store.backend_name == "edge"
    with pytest.raises(ConfigurationError, match="embedder"):
        QdrantMultiVectorStore(object(), location=":memory:")  # type: ignore[arg-type]


async def test_pdfs_become_page_documents(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "wings.pdf", ["Wing flutter", "Shock waves"])
    ids = store.add_pdfs([pdf], dpi=40, metadatas=[{"topic": "aero"}])
    assert len(ids) == 2
    pages = store.get_by_ids(ids)
    assert [(d.metadata["source"], d.metadata["page"], d.metadata["modality"]) for d in pages] == [
        (str(pdf), 1, "image"),
        (str(pdf), 2, "image"),
    ]
    assert all(d.metadata["topic"] == "aero" for d in pages)
    # what a chain sends to the LLM is the page's words (its text layer), not the file name
    assert [d.page_content.strip() for d in pages] == ["Wing flutter", "Shock waves"]
    assert await store.aadd_pdfs([str(pdf)], dpi=40) == ids  # same file: same page ids, replaced
    assert len(store.similarity_search("anything", k=10)) == 2


async def test_langchain_indexing_api(store: QdrantMultiVectorStore) -> None:
    from langchain_core.indexing import InMemoryRecordManager, aindex, index

    manager = InMemoryRecordManager(namespace="multivec")
    manager.create_schema()
    docs = [Document(d.page_content, metadata={**d.metadata, "source": d.id}) for d in DOCS]
    result = index(docs, manager, store, cleanup="full", key_encoder="sha256")
    assert result["num_added"] == 4
    assert index(docs, manager, store, cleanup="full", key_encoder="sha256")["num_skipped"] == 4
    result = await aindex(docs[:2], manager, store, cleanup="full", key_encoder="sha256")
    assert result["num_deleted"] == 2
    assert {d.metadata["source"] for d in store.similarity_search("cars", k=10)} == {"fruit-1", "fruit-2"}
