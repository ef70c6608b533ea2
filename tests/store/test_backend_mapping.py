"""The mapping both backends share (multivec.store.mapping): the scroll paging, the search stages, the selectors and
the filter translations, checked on the flow itself and against real qdrant-edge and qdrant-client ``:memory:``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import models

from multivec._flow import run_sync
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.store import mapping
from multivec.store.backend import DENSE, LEXICAL, MULTIVECTOR, POOLED, Delete, HybridQuery, Query
from multivec.store.edge import _edge_query, _query_request, to_edge_filter
from multivec.store.filters import compile_filter, to_qdrant_filter
from multivec.store.mapping import delete_target, lexical_plan, query_plan, scroll_flow
from multivec.store.server import QueryPoints, ServerBackend

from .conftest import StoreFactory


class _Record:
    def __init__(self, i: int) -> None:
        self.payload = {"i": i}


class _Engine:
    """A scroll that pages through ``n`` records by integer offsets, recording each page request."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.requests: list[tuple[Any, int]] = []

    def scroll(self, request: tuple[Any, int]) -> tuple[Sequence[_Record], Any]:
        self.requests.append(request)
        offset, size = request
        start = offset or 0
        end = min(start + size, self.n)
        return [_Record(i) for i in range(start, end)], (end if end < self.n else None)


def _scroll(n: int, limit: int | None) -> tuple[list[int], list[tuple[Any, int]]]:
    engine = _Engine(n)
    payloads = run_sync(scroll_flow(limit, lambda offset, size: (offset, size)), engine.scroll)
    return [p["i"] for p in payloads], engine.requests


@pytest.mark.parametrize(
    ("n", "limit", "pages"),
    [
        (10, 7, [(None, 3), (3, 3), (6, 1)]),  # the last page asks only for what the limit still needs
        (10, 6, [(None, 3), (3, 3)]),  # a limit on a page boundary stops without another request
        (10, None, [(None, 3), (3, 3), (6, 3), (9, 3)]),  # no limit: until the engine has no further page
        (9, None, [(None, 3), (3, 3), (6, 3)]),
        (4, 20, [(None, 3), (3, 3)]),  # a limit past the end
        (0, None, [(None, 3)]),
    ],
)
def test_scroll_flow_pages(monkeypatch: pytest.MonkeyPatch, n: int, limit: int | None, pages: list[Any]) -> None:
    monkeypatch.setattr(mapping, "SCROLL_PAGE", 3)
    got, requests = _scroll(n, limit)
    assert got == list(range(min(n, limit if limit is not None else n)))
    assert requests == pages


def test_scroll_flow_default_page_size() -> None:
    got, requests = _scroll(2500, 2100)
    assert got == list(range(2100))
    assert [size for _, size in requests] == [mapping.SCROLL_PAGE, mapping.SCROLL_PAGE, 100]


def test_scroll_spans_pages_on_both_engines(make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()
    store.add_texts([f"text {i}" for i in range(10)], metadatas=[{"i": i} for i in range(10)])
    everything = store.scroll()  # one page
    monkeypatch.setattr(mapping, "SCROLL_PAGE", 3)
    assert store.scroll() == everything  # four pages, joined in storage order
    assert len(everything) == 10
    for limit in (1, 3, 6, 7, 10, 25):
        assert store.scroll(limit=limit) == everything[:limit]
    odd = store.scroll({"i": {"$in": [1, 3, 5, 7, 9]}})
    assert sorted(r.metadata["i"] for r in odd) == [1, 3, 5, 7, 9]
    assert store.scroll({"i": {"$in": [1, 3, 5, 7, 9]}}, limit=4) == odd[:4]


async def test_async_scroll_spans_pages(make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()
    store.add_texts([f"text {i}" for i in range(8)])
    everything = store.scroll()
    monkeypatch.setattr(mapping, "SCROLL_PAGE", 3)
    assert await store.ascroll() == everything
    assert await store.ascroll(limit=5) == everything[:5]


# -- search stages --------------------------------------------------------------------------------------------------

TOKENS = np.eye(3, 8, dtype=np.float32)


def _op(**kwargs: Any) -> Query:
    defaults: dict[str, Any] = {
        "dense": TOKENS[0],
        "multivector": TOKENS,
        "limit": 5,
        "prefetch_limit": 50,
        "filter": None,
    }
    return Query(**{**defaults, **kwargs})


def _shape(stage: mapping.Stage) -> Any:
    return (stage.using, stage.limit, [_shape(inner) for inner in stage.prefetch])


@pytest.mark.parametrize(
    ("op", "text", "shape"),
    [
        (_op(), None, (MULTIVECTOR, 5, [(DENSE, 50, [])])),
        (_op(prefetch_limit=None, exact=True), None, (MULTIVECTOR, 5, [])),
        (_op(multivector=None, prefetch_limit=None), None, (DENSE, 5, [])),
        (_op(pooled_limit=20), None, (MULTIVECTOR, 5, [(POOLED, 20, [(DENSE, 50, [])])])),
        (_op(), "words", (MULTIVECTOR, 5, [(DENSE, 50, []), (LEXICAL, 7, [])])),
        (_op(pooled_limit=20), "words", (MULTIVECTOR, 5, [(POOLED, 20, [(DENSE, 50, []), (LEXICAL, 7, [])])])),
    ],
)
def test_query_plan_stages(op: Query, text: str | None, shape: Any) -> None:
    plan = query_plan(op, text, 7)
    assert _shape(plan.stage) == shape
    assert plan.exact == op.exact and plan.filter is op.filter


def test_both_engines_get_the_same_stages() -> None:
    flt = compile_filter({"genre": "fruit"})
    op = _op(pooled_limit=20, filter=flt, with_dense=True, score_threshold=0.5)
    edge = _query_request(op, 300, "words", 7)
    assert edge.limit == 5 and edge.score_threshold == 0.5 and edge.filter is not None
    [pooled] = edge.prefetches
    assert pooled.limit == 20 and pooled.params is None
    dense, lexical = pooled.prefetches
    assert dense.limit == 50 and dense.params.hnsw_ef == 300
    assert lexical.limit == 7 and lexical.params is None
    assert all(stage.filter is not None for stage in (pooled, dense, lexical))

    server = ServerBackend.__new__(ServerBackend)  # the request building of a server (not local) backend only
    server.local, server._hnsw_ef = False, 300
    request = server._query(query_plan(op, "words", 7))
    assert isinstance(request, QueryPoints)
    assert request.using == MULTIVECTOR and request.limit == 5 and request.with_vectors == [DENSE]
    assert request.query_filter == to_qdrant_filter({"genre": "fruit"})
    assert isinstance(request.prefetch, models.Prefetch) and request.prefetch.using == POOLED
    inner = request.prefetch.prefetch
    assert isinstance(inner, list) and [p.using for p in inner] == [DENSE, LEXICAL]
    assert inner[0].params == models.SearchParams(hnsw_ef=300) and inner[1].params is None
    assert request.batch_request().prefetch == request.prefetch


def test_lexical_side_of_a_hybrid_query() -> None:
    op = HybridQuery(_op(filter=compile_filter({"a": 1})), "red apples", lexical_limit=9)
    plan = lexical_plan(op)
    assert _shape(plan.stage) == (LEXICAL, 9, []) and plan.stage.query == "red apples"
    edge = _edge_query(plan, 300)
    assert edge.limit == 9 and edge.params is None and not edge.prefetches and edge.filter is not None


# -- selectors and filters ------------------------------------------------------------------------------------------


def test_delete_targets() -> None:
    flt = compile_filter({"a": 1})
    assert delete_target(Delete(["x", "y"], None)) == ["x", "y"]
    assert delete_target(Delete(None, flt)) is flt
    both = delete_target(Delete(["x"], flt))
    assert not isinstance(both, list)
    assert to_qdrant_filter(both) == models.Filter(
        must=[models.HasIdCondition(has_id=["x"]), models.Filter(must=[_match("metadata.a", 1)])]
    )
    with pytest.raises(TypeError):
        delete_target(Delete(None, None))


def _match(key: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def test_compiled_filters_translate_like_the_qdrant_client_form() -> None:
    flt = {
        "$or": [
            {"genre": "fruit", "fresh": True},
            {"year": {"$gte": 2000, "$lt": 2010}, "when": {"$lt": "2021-01-01T00:00:00"}},
            {"tags": {"$in": ["a", "b"]}, "note": {"$text": "red"}, "price": 2.5},
        ],
        "$not": {"genre": {"$nin": [1, 2]}},
    }
    compiled = compile_filter(flt)
    client = to_qdrant_filter(flt)
    # the same engine filter whichever form the edge backend is given
    assert repr(to_edge_filter(compiled)) == repr(to_edge_filter(client))
    assert to_qdrant_filter(compiled) == client


def test_delete_ids_with_a_raw_qdrant_filter(make_store: StoreFactory) -> None:
    store = make_store()
    store.add_texts(["a", "b", "c"], metadatas=[{"g": "x"}, {"g": "y"}, {"g": "x"}], ids=["a", "b", "c"])
    raw = models.Filter(must=[_match("metadata.g", "x")])
    store.delete(ids=["a", "b"], filter=raw)  # the ids that also match the raw filter: "a"
    assert sorted(r.id for r in store.scroll()) == ["b", "c"]


FILTERS: list[dict[str, Any]] = [
    {"genre": "fruit"},
    {"fresh": True},
    {"fresh": {"$ne": True}},
    {"year": {"$gte": 2000, "$lt": 2015}},
    {"price": 2.25},
    {"tags": {"$in": ["blue", "green"]}},
    {"when": {"$gte": "2021-01-01T00:00:00+00:00"}},
    {"$or": [{"genre": "veg"}, {"year": 2005}]},
    {"$not": {"$or": [{"genre": "fruit"}, {"genre": "auto"}]}},
    {"$id": {"$in": ["apple", "onion"]}},
]


def test_dict_and_qdrant_client_forms_select_the_same_records(make_store: StoreFactory) -> None:
    rows = [
        {"genre": "fruit", "year": 1999, "price": 1.5, "fresh": True, "tags": ["red"], "when": "2020-01-05T00:00:00Z"},
        {"genre": "auto", "year": 2005, "price": 2.0, "fresh": False, "tags": ["blue"], "when": "2021-06-01T00:00:00Z"},
        {"genre": "fruit", "year": 2010, "price": 2.25, "fresh": False, "tags": ["green"], "when": "2022-03-01T00:00Z"},
        {"genre": "veg", "year": 2020, "price": 0.5, "when": "2023-01-01T00:00:00Z"},
    ]
    store = make_store(DeterministicFakeMultiVectorEmbedding(dim=16))
    store.add_texts(["apple", "car", "pear", "onion"], metadatas=rows, ids=["apple", "car", "pear", "onion"])
    for flt in FILTERS:
        by_dict = {r.id for r in store.scroll(flt)}
        assert by_dict, flt
        assert {r.id for r in store.scroll(to_qdrant_filter(flt))} == by_dict, flt
        assert store.count(to_qdrant_filter(flt)) == store.count(flt) == len(by_dict), flt
        assert {h.id for h in store.search("apple", k=4, filter=flt)} == by_dict, flt


def test_qe_filter_classes_are_used_for_dict_filters() -> None:
    edge = to_edge_filter(compile_filter({"fresh": True, "$id": "a"}))
    assert isinstance(edge, qe.Filter)


def test_unknown_filter_objects_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="filter must be a dict"):
        compile_filter(["genre", "fruit"])
    with pytest.raises(InvalidInputError, match="filter must be a dict"):
        compile_filter(models.FieldCondition(key="a", match=models.MatchValue(value=1)))
