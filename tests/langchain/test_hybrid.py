"""Hybrid retrieval through LangChain's own machinery: ``retrieval_mode``, ``similarity_search(mode=...)``,
``as_retriever(search_kwargs={"mode": "hybrid"})`` and :class:`MaxSimRetriever` invoke, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_multivec import MaxSimRetriever, QdrantMultiVectorStore
from langchain_multivec.vectorstores import RetrievalMode
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.store import MultiVectorStore
from multivec.store.hybrid import HybridNotEnabledError

from .conftest import open_store

RARE = "QX4471"


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _fill(store: MultiVectorStore) -> np.ndarray:
    """20 documents; ``d7`` alone holds the rare term and its vectors are orthogonal to the query's (MaxSim ranks it
    last). Returns the query vectors (document ``d0``'s)."""
    rng = np.random.default_rng(3)
    vectors, payloads = [], []
    for i in range(20):
        tokens = np.abs(rng.standard_normal((3, 32)))
        if i == 7:
            tokens[:, :16] = 0
        else:
            tokens[:, 16:] = 0
        vectors.append(_unit(tokens))
        text = f"valve maintenance note {i}" + (f" part {RARE}" if i == 7 else "")
        payloads.append({"content": text, "metadata": {"group": "a" if i % 2 else "b"}})
    store.add_embeddings(vectors, payloads, ids=[f"d{i}" for i in range(20)])
    return vectors[0]


@pytest.fixture
def hybrid(backend: str, tmp_path: Path) -> Any:
    store = open_store(backend, tmp_path, retrieval_mode="hybrid")
    query = _fill(store.store)
    yield store, query
    store.close()


def test_retrieval_mode_option_is_accepted_and_mirrored(tmp_path: Path) -> None:
    import inspect

    assert "retrieval_mode" in inspect.signature(QdrantMultiVectorStore.__init__).parameters
    for given, mode in [("hybrid", "hybrid"), (RetrievalMode.HYBRID, "hybrid"), ("dense", "maxsim"), (None, None)]:
        options = {} if given is None else {"retrieval_mode": given}
        with open_store("memory", tmp_path, **options) as store:
            assert store.retrieval_mode == (mode or "maxsim")
    for bad, message in [("sparse", "late interaction"), ("bm25", "retrieval_mode must be")]:
        with pytest.raises(ConfigurationError, match=message):
            open_store("edge", tmp_path, retrieval_mode=bad)
    assert not (tmp_path / "edge-store").exists()


def test_langchain_qdrant_retrieval_mode_enum_is_understood(tmp_path: Path) -> None:
    langchain_qdrant = pytest.importorskip("langchain_qdrant")
    with open_store("memory", tmp_path, retrieval_mode=langchain_qdrant.RetrievalMode.HYBRID) as store:
        assert store.retrieval_mode == "hybrid"


def test_similarity_search_by_vector_modes(hybrid: Any) -> None:
    store, query = hybrid
    maxsim = store.similarity_search_by_vector(query, k=3, mode="maxsim")
    assert "d7" not in [d.id for d in maxsim]
    found = store.similarity_search_by_vector(query, k=3, lexical_query=RARE, hybrid_weight=1.0)
    assert "d7" in [d.id for d in found]
    with pytest.raises(InvalidInputError, match="lexical_query"):
        store.similarity_search_by_vector(query, k=3)  # hybrid by default, and no text for BM25


def test_text_search_in_hybrid_mode_with_filters(hybrid: Any) -> None:
    store, _ = hybrid
    docs = store.similarity_search(f"{RARE} valve", k=5, hybrid_weight=1.0)
    assert docs[0].id == "d7"
    filtered = store.similarity_search(f"{RARE} valve", k=5, filter={"group": "b"})
    assert filtered and all(d.metadata["group"] == "b" for d in filtered) and "d7" not in [d.id for d in filtered]
    scored = store.similarity_search_with_relevance_scores(f"{RARE} valve", k=3, hybrid_weight=1.0)
    assert all(0 <= s <= 1 for _, s in scored) and scored[0][0].id == "d7"
    asynced = asyncio.run(store.asimilarity_search(f"{RARE} valve", k=5, hybrid_weight=1.0))
    assert [d.id for d in asynced] == [d.id for d in docs]


def test_as_retriever_with_hybrid_search_kwargs(backend: str, tmp_path: Path) -> None:
    with open_store(backend, tmp_path) as store:  # retrieval_mode left at maxsim
        store.add_documents([Document("valve maintenance note", id="n"), Document(f"part {RARE} gasket", id="p")])
        retriever = store.as_retriever(search_kwargs={"mode": "hybrid", "k": 1, "hybrid_weight": 1.0})
        assert [d.id for d in retriever.invoke(RARE)] == ["p"]
        assert [d.id for d in asyncio.run(retriever.ainvoke(RARE))] == ["p"]
        with pytest.raises(ConfigurationError, match="retrieval_mode must be"):
            store.as_retriever(search_kwargs={"mode": "lexical"})
        with pytest.raises(ConfigurationError):
            store.as_retriever(search_type="mmr", search_kwargs={"mode": "hybrid"})


def test_maxsim_retriever_hybrid_puts_the_parts_in_metadata(hybrid: Any) -> None:
    store, _ = hybrid
    retriever = MaxSimRetriever(vectorstore=store, k=3, mode="hybrid", hybrid_weight=1.0)
    docs = retriever.invoke(f"{RARE} valve")
    assert docs[0].id == "d7"
    parts = docs[0].metadata["hybrid_scores"]
    assert parts["lexical_rank"] == 1 and parts["weight"] == 1.0
    assert docs[0].metadata["score"] == parts["score"]
    maxsim_docs = retriever.invoke(f"{RARE} valve", mode="maxsim")
    assert all("hybrid_scores" not in d.metadata for d in maxsim_docs)
    threshold = MaxSimRetriever(
        vectorstore=store, k=5, search_type="similarity_score_threshold", score_threshold=0.5, hybrid_weight=1.0
    )
    assert all(d.metadata["relevance_score"] >= 0.5 for d in threshold.invoke(f"{RARE} valve"))
    with pytest.raises(ConfigurationError):
        MaxSimRetriever(vectorstore=store, search_type="mmr", mode="hybrid")
    with pytest.raises(ConfigurationError, match="hybrid_weight"):
        MaxSimRetriever(vectorstore=store, hybrid_weight=-2)
    with pytest.raises(InvalidInputError):
        retriever.invoke("valve", mode="sparse")


def test_hybrid_on_a_collection_without_the_lexical_index_names_enable_hybrid(tmp_path: Path) -> None:
    """A collection whose metadata lacks the hybrid settings (made before hybrid search) raises the typed error."""
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    with QdrantMultiVectorStore.from_texts(["valve"], open_store("memory", tmp_path).embeddings, client=client):
        pass
    client.update_collection("multivec", metadata={"hybrid": None})
    with QdrantMultiVectorStore(
        open_store("memory", tmp_path).embeddings, client=client, retrieval_mode="hybrid"
    ) as old:
        with pytest.raises(HybridNotEnabledError, match="enable_hybrid"):
            old.similarity_search("valve", k=1)
        old.store.enable_hybrid()
        assert [d.page_content for d in old.similarity_search("valve", k=1)] == ["valve"]
