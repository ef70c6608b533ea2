"""MetadataFilters → store filters: the translation, and every operator against real data on both backends."""

from __future__ import annotations

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from llama_index_multivec import MaxSimRetriever, QdrantMultiVectorStore, to_store_filter
from multivec.errors import InvalidInputError

Op = FilterOperator


def f(key: str, value: object, op: FilterOperator = Op.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)  # type: ignore[arg-type]


def fs(*filters: MetadataFilter | MetadataFilters, condition: FilterCondition = FilterCondition.AND) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


NODES = [
    TextNode(
        id_="a",
        text="red apples",
        metadata={"genre": "fruit", "year": 1999, "rating": 4.5, "tags": ["sweet", "red"], "body": "crisp red apples"},
    ),
    TextNode(
        id_="b",
        text="green pears",
        metadata={"genre": "fruit", "year": 2005, "rating": 3.0, "tags": ["green"], "body": "soft green pears"},
    ),
    TextNode(
        id_="c",
        text="blue cars",
        metadata={"genre": "auto", "year": 2010, "rating": 4.0, "tags": ["fast", "blue"], "body": "fast blue cars"},
    ),
    TextNode(
        id_="d",
        text="yellow bananas",
        metadata={"year": 2020, "rating": 2.5, "tags": ["sweet", "yellow"], "body": "ripe yellow bananas"},
    ),
]

CASES = {
    "eq": (fs(f("genre", "fruit")), {"a", "b"}),
    "ne (missing key matches)": (fs(f("genre", "fruit", Op.NE)), {"c", "d"}),
    "gt": (fs(f("year", 2005, Op.GT)), {"c", "d"}),
    "gte": (fs(f("year", 2005, Op.GTE)), {"b", "c", "d"}),
    "lt": (fs(f("year", 2005, Op.LT)), {"a"}),
    "lte": (fs(f("year", 2005, Op.LTE)), {"a", "b"}),
    "gt float": (fs(f("rating", 3.5, Op.GT)), {"a", "c"}),
    "in": (fs(f("genre", ["auto", "fruit"], Op.IN)), {"a", "b", "c"}),
    "nin": (fs(f("genre", ["fruit"], Op.NIN)), {"c", "d"}),
    "text_match": (fs(f("body", "green", Op.TEXT_MATCH)), {"b"}),
    "contains": (fs(f("tags", "sweet", Op.CONTAINS)), {"a", "d"}),
    "any": (fs(f("tags", ["blue", "green"], Op.ANY)), {"b", "c"}),
    "all": (fs(f("tags", ["sweet", "red"], Op.ALL)), {"a"}),
    "and": (fs(f("genre", "fruit"), f("year", 2000, Op.GT)), {"b"}),
    "or": (fs(f("genre", "auto"), f("year", 2000, Op.LT), condition=FilterCondition.OR), {"a", "c"}),
    "not": (fs(f("genre", "fruit"), f("year", 2020), condition=FilterCondition.NOT), {"c"}),
    "nested": (
        fs(
            f("genre", "fruit"),
            fs(f("year", 2000, Op.LT), f("tags", "green", Op.CONTAINS), condition=FilterCondition.OR),
        ),
        {"a", "b"},
    ),
    "ref_doc_id": (fs(f("ref_doc_id", "None")), {"a", "b", "c", "d"}),
}


def test_translation_of_each_operator() -> None:
    assert to_store_filter(None) is None
    assert to_store_filter(fs()) is None
    assert to_store_filter(fs(f("k", "v"))) == {"k": {"$eq": "v"}}
    assert to_store_filter(fs(f("k", 3, Op.NE))) == {"k": {"$ne": 3}}
    assert to_store_filter(fs(f("k", 1.5, Op.LTE))) == {"k": {"$lte": 1.5}}
    assert to_store_filter(fs(f("k", ["x"], Op.NIN))) == {"k": {"$nin": ["x"]}}
    assert to_store_filter(fs(f("k", "w", Op.TEXT_MATCH))) == {"k": {"$text": "w"}}
    assert to_store_filter(fs(f("k", ["x", "y"], Op.ALL))) == {"$and": [{"k": {"$eq": "x"}}, {"k": {"$eq": "y"}}]}
    assert to_store_filter(fs(f("a", 1), f("b", 2), condition=FilterCondition.OR)) == {
        "$or": [{"a": {"$eq": 1}}, {"b": {"$eq": 2}}]
    }
    assert to_store_filter(fs(f("a", 1), condition=FilterCondition.NOT)) == {"$not": {"a": {"$eq": 1}}}


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (f("k", "v", Op.TEXT_MATCH_INSENSITIVE), "TEXT_MATCH_INSENSITIVE is not supported"),
        (f("k", None, Op.IS_EMPTY), "IS_EMPTY is not supported"),
        (f("k", "v", Op.IN), "non-empty list"),
        (f("k", [], Op.ANY), "non-empty list"),
        (f("k", ["v"], Op.EQ), "single value"),
    ],
)
def test_unsupported_or_malformed_filters_raise(flt: MetadataFilter, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        to_store_filter(fs(flt))


@pytest.fixture
def filled(store: QdrantMultiVectorStore) -> QdrantMultiVectorStore:
    store.add(NODES)
    return store


@pytest.mark.parametrize("case", list(CASES))
def test_every_operator_on_get_query_and_retriever(filled: QdrantMultiVectorStore, case: str) -> None:
    filters, expected = CASES[case]
    assert {n.node_id for n in filled.get_nodes(filters=filters)} == expected
    result = filled.query(VectorStoreQuery(query_str="sweet red fruit", similarity_top_k=10, filters=filters))
    assert set(result.ids or []) == expected
    retrieved = MaxSimRetriever(filled, similarity_top_k=10, filters=filters).retrieve("sweet red fruit")
    assert {n.node.node_id for n in retrieved} == expected


async def test_filters_on_async_paths(filled: QdrantMultiVectorStore) -> None:
    filters, expected = CASES["nested"]
    assert {n.node_id for n in await filled.aget_nodes(filters=filters)} == expected
    result = await filled.aquery(VectorStoreQuery(query_str="fruit", similarity_top_k=10, filters=filters))
    assert set(result.ids or []) == expected
    await filled.adelete_nodes(filters=filters)
    assert {n.node_id for n in await filled.aget_nodes()} == {"c", "d"}


def test_unsupported_filter_raises_before_anything_is_deleted(filled: QdrantMultiVectorStore) -> None:
    with pytest.raises(InvalidInputError):
        filled.delete_nodes(filters=fs(f("genre", None, Op.IS_EMPTY)))
    assert len(filled.get_nodes()) == 4
