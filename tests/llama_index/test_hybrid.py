"""``VectorStoreQueryMode.HYBRID`` through LlamaIndex's own machinery: retrievers and query engines of a
``VectorStoreIndex``, ``alpha`` mapped to the lexical weight, ``sparse_top_k`` to each side's candidates."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.schema import MetadataMode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from llama_index_multivec import QdrantMultiVectorStore
from llama_index_multivec.vector_stores import HYBRID_SCORES_KEY
from multivec.errors import InvalidInputError

DOCS = [
    Document(text="Centrifugal pumps move water with an impeller.", id_="pumps", metadata={"kind": "pump"}),
    Document(text="Gate valve QX4471 seals the line under pressure.", id_="valve", metadata={"kind": "valve"}),
    Document(text="Ball valves open and close with a quarter turn.", id_="ball", metadata={"kind": "valve"}),
    Document(text="Tides rise and fall with the moon.", id_="tides", metadata={"kind": "sea"}),
]


def _index(store: QdrantMultiVectorStore) -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(DOCS, storage_context=StorageContext.from_defaults(vector_store=store))


def _ref(node: object) -> str:
    return str(node.node.ref_doc_id)  # type: ignore[attr-defined]


def test_hybrid_retriever_alpha_and_sparse_top_k(store: QdrantMultiVectorStore) -> None:
    index = _index(store)
    retriever = index.as_retriever(similarity_top_k=2, vector_store_query_mode="hybrid", alpha=0.5, sparse_top_k=3)
    nodes = retriever.retrieve("QX4471 gate valve")
    assert _ref(nodes[0]) == "valve"
    parts = nodes[0].node.metadata[HYBRID_SCORES_KEY]
    assert parts["weight"] == 1.0 and parts["lexical_rank"] == 1 and parts["fusion"] == "dbsf"
    assert 0 <= (nodes[0].score or 0) <= 1
    assert HYBRID_SCORES_KEY not in nodes[0].node.get_content(metadata_mode=MetadataMode.LLM)
    weighted = index.as_retriever(similarity_top_k=2, vector_store_query_mode="hybrid", alpha=0.8).retrieve("valve")
    assert all(n.node.metadata[HYBRID_SCORES_KEY]["weight"] == 0.25 for n in weighted)
    default = index.as_retriever(similarity_top_k=2, vector_store_query_mode="hybrid").retrieve("valve")
    assert all(n.node.metadata[HYBRID_SCORES_KEY]["weight"] == store.store.hybrid.weight for n in default)  # type: ignore[union-attr]
    plain = index.as_retriever(similarity_top_k=2).retrieve("valve")
    assert all(HYBRID_SCORES_KEY not in n.node.metadata for n in plain)


def test_hybrid_query_engine_answers_with_filters(store: QdrantMultiVectorStore) -> None:
    index = _index(store)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1, vector_store_query_mode="hybrid", alpha=0.5)
    response = engine.query("Which valve is QX4471?")
    assert [_ref(n) for n in response.source_nodes] == ["valve"] and str(response)
    only_sea = MetadataFilters(filters=[MetadataFilter(key="kind", value="sea", operator=FilterOperator.EQ)])
    filtered = index.as_query_engine(
        llm=MockLLM(), similarity_top_k=3, vector_store_query_mode="hybrid", filters=only_sea
    ).query("QX4471 valve")
    assert [_ref(n) for n in filtered.source_nodes] == ["tides"]
    answer = asyncio.run(engine.aquery("Which valve is QX4471?"))
    assert [_ref(n) for n in answer.source_nodes] == ["valve"]


@pytest.mark.parametrize(
    ("query", "kwargs"),
    [
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.HYBRID, alpha=1.5), {}),
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.HYBRID, alpha=-0.1), {}),
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.HYBRID, sparse_top_k=0), {}),
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.HYBRID), {"hybrid_fusion": "max"}),
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.HYBRID), {"fetch_k": 3}),
        (VectorStoreQuery(query_str="valve", mode=VectorStoreQueryMode.SPARSE), {}),
    ],
)
def test_bad_hybrid_queries_raise_typed_errors(
    store: QdrantMultiVectorStore, query: VectorStoreQuery, kwargs: dict[str, object]
) -> None:
    _index(store)
    with pytest.raises(InvalidInputError):
        store.query(query, **kwargs)


def test_dbsf_and_alpha_zero_through_query(store: QdrantMultiVectorStore) -> None:
    _index(store)
    query = VectorStoreQuery(query_str="QX4471", mode=VectorStoreQueryMode.HYBRID, alpha=0.0, similarity_top_k=1)
    result = store.query(query, hybrid_fusion="dbsf")
    assert result.nodes is not None and result.nodes[0].ref_doc_id == "valve"
    assert result.nodes[0].metadata[HYBRID_SCORES_KEY]["fusion"] == "dbsf"
