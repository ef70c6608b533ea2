"""MaxSimRetriever: search types, per-call overrides, scores in metadata, and an LCEL RAG chain."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_multivec import MaxSimRetriever, QdrantMultiVectorStore
from multivec.errors import ConfigurationError, InvalidInputError

TEXTS = {
    "a": "red apples fresh ripe",
    "b": "red apples fresh",
    "c": "red apples ripe",
    "d": "blue cars",
    "e": "green pears",
}
META = {"a": {"shelf": 1}, "b": {"shelf": 2}, "c": {"shelf": 1}, "d": {"shelf": 3}, "e": {"shelf": 2}}


@pytest.fixture
def filled(store: QdrantMultiVectorStore) -> QdrantMultiVectorStore:
    store.add_texts(list(TEXTS.values()), [META[i] for i in TEXTS], ids=list(TEXTS))
    return store


def _ids(docs: list[Document]) -> list[str | None]:
    return [d.id for d in docs]


def test_similarity_with_scores_in_metadata(filled: QdrantMultiVectorStore) -> None:
    docs = MaxSimRetriever(vectorstore=filled, k=3).invoke("red apples fresh ripe")
    expected = filled.similarity_search_with_score("red apples fresh ripe", k=3)
    assert _ids(docs) == [d.id for d, _ in expected] and docs[0].id == "a"
    assert [d.metadata["score"] for d in docs] == [s for _, s in expected]
    relevance = dict((d.id, r) for d, r in filled.similarity_search_with_relevance_scores("red apples fresh ripe"))
    assert all(d.metadata["relevance_score"] == relevance[d.id] for d in docs)
    assert docs[0].metadata == {"shelf": 1, "score": pytest.approx(4.0, abs=1e-4), "relevance_score": 1.0}
    assert filled.get_by_ids(["a"])[0].metadata == {"shelf": 1}  # scores are on the returned copies only


def test_k_and_filter_per_call(filled: QdrantMultiVectorStore) -> None:
    retriever = MaxSimRetriever(vectorstore=filled, k=4, filter={"shelf": 1})
    assert set(_ids(retriever.invoke("apples"))) == {"a", "c"}
    assert len(retriever.invoke("apples", k=1)) == 1
    assert set(_ids(retriever.invoke("apples", filter={"shelf": {"$gte": 2}}))) == {"b", "d", "e"}


async def test_async_matches_sync(filled: QdrantMultiVectorStore) -> None:
    for search_type, extra in [("similarity", {}), ("mmr", {"fetch_k": 5}), ("similarity_score_threshold", {})]:
        retriever = MaxSimRetriever(vectorstore=filled, k=3, search_type=search_type, score_threshold=0.8, **extra)
        query = "red apples fresh ripe"  # no ties among the results
        assert await retriever.ainvoke(query, k=2) == retriever.invoke(query, k=2)


def test_mmr(filled: QdrantMultiVectorStore) -> None:
    retriever = MaxSimRetriever(vectorstore=filled, k=2, search_type="mmr", fetch_k=5, lambda_mult=0.0)
    diverse = retriever.invoke("red apples fresh ripe")
    assert diverse[0].id == "a" and diverse[1].id in {"d", "e"}
    assert _ids(retriever.invoke("red apples fresh ripe", lambda_mult=1.0))[1] in {"b", "c"}
    assert all("relevance_score" in d.metadata for d in diverse)


def test_score_threshold(filled: QdrantMultiVectorStore) -> None:
    retriever = MaxSimRetriever(vectorstore=filled, k=5, search_type="similarity_score_threshold", score_threshold=0.9)
    docs = retriever.invoke("red apples fresh")
    assert set(_ids(docs)) == {"a", "b"}  # each holds all three query words: relevance 1
    assert all(d.metadata["relevance_score"] >= 0.9 for d in docs)
    assert len(retriever.invoke("red apples fresh", score_threshold=0.0)) == 5


def test_invalid_configuration(filled: QdrantMultiVectorStore) -> None:
    with pytest.raises(ConfigurationError, match="score_threshold"):
        MaxSimRetriever(vectorstore=filled, search_type="similarity_score_threshold")
    with pytest.raises(ConfigurationError, match="search_type"):
        MaxSimRetriever(vectorstore=filled, search_type="hybrid")
    with pytest.raises(ConfigurationError, match="k must be a positive int"):
        MaxSimRetriever(vectorstore=filled, k=0)
    with pytest.raises(InvalidInputError, match="top_k"):
        MaxSimRetriever(vectorstore=filled).invoke("apples", top_k=3)


def test_accepts_a_core_store(filled: QdrantMultiVectorStore) -> None:
    retriever = MaxSimRetriever(vectorstore=filled.store, k=1)
    assert isinstance(retriever.vectorstore, QdrantMultiVectorStore)
    assert _ids(retriever.invoke("blue cars")) == ["d"]


def _format_docs(docs: list[Document]) -> str:
    return "\n".join(f"[{d.id}] {d.page_content}" for d in docs)


async def test_lcel_rag_chain(filled: QdrantMultiVectorStore) -> None:
    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chain = (
        {"context": MaxSimRetriever(vectorstore=filled, k=2) | _format_docs, "question": RunnablePassthrough()}
        | prompt
        | ParrotFakeChatModel()  # answers with the prompt it got, so the output shows the retrieved context
        | StrOutputParser()
    )
    expected = "Context:\n[d] blue cars\n[a] red apples fresh ripe\n\nQuestion: which blue cars?"
    assert filled.similarity_search("which blue cars?", k=2)[1].id == "a"
    assert chain.invoke("which blue cars?") == expected
    assert await chain.ainvoke("which blue cars?") == expected
