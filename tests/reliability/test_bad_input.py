"""Contract 2 and 7 on the core store: whatever a caller passes, a call either works (and what it stored reads back
equal, also after reopening) or raises a ``multivec.errors`` type with the store unchanged.

Examples are generated (hypothesis, derandomized so that every run tries the same cases) over every write, read and
search entry point, on both backends.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError, MultivecError
from multivec.store import MultiVectorStore
from multivec.validation import MAX_METADATA_DEPTH
from tests.reliability.conftest import State, state
from tests.store.conftest import random_corpus

DIM = 8
QUERY = random_corpus(1, DIM, seed=7)[0]
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

strings = st.one_of(
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),  # lone surrogates
    st.sampled_from(["", " ", "\x00", "a\ud800b", "é" * 3]),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings, st.binary(max_size=4))
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(st.one_of(strings, st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=8,
)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


metadata = st.one_of(
    st.none(),
    st.dictionaries(strings, json_like, max_size=3),
    st.integers(MAX_METADATA_DEPTH - 2, 150).map(_nested),
    json_like,
)
ids = st.one_of(strings, st.integers(-(2**70), 2**70), st.booleans(), st.none(), st.floats())
vectors = st.one_of(
    st.sampled_from(["ragged", "nan", "inf", "huge", "tiny", "zeros", "wrong_dim", "flat", "empty", "f64big", "ok"]),
)


def _vector(kind: str, seed: int) -> Any:
    ok = random_corpus(1, DIM, seed=seed)[0]
    return {
        "ragged": [[1.0] * DIM, [1.0] * (DIM - 1)],
        "nan": np.full((2, DIM), np.nan, np.float32),
        "inf": np.full((2, DIM), np.inf, np.float32),
        "huge": ok * np.float32(1e30),
        "tiny": ok * np.float32(1e-30),
        "zeros": np.zeros((2, DIM), np.float32),
        "wrong_dim": np.ones((2, DIM + 1), np.float32),
        "flat": np.ones(DIM, np.float32),
        "empty": np.zeros((0, DIM), np.float32),
        "f64big": np.full((2, DIM), 1e300),
        "ok": ok,
    }[kind]


def _json(value: Any) -> Any:
    """What a JSON store gives back for ``value`` (tuples become lists)."""
    return json.loads(json.dumps(value))


def _open(backend: str, root: Path) -> MultiVectorStore:
    where = {"path": root / "db"} if backend == "edge" else {"location": ":memory:"}
    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), **where)  # type: ignore[arg-type]
    store.add_texts(["seed one", "seed two"], ids=["s1", "s2"], metadatas=[{"n": 1}, {"n": 2}])
    return store


def _typed_or_ok(store: MultiVectorStore, before: State, call: Any) -> Any:
    try:
        return call()
    except MultivecError:
        assert state(store, QUERY) == before
        return None


@pytest.mark.parametrize("backend", ["edge", "memory"])
@SETTINGS
@given(data=st.data())
def test_writes_are_typed_errors_or_read_back_equal(
    backend: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("s")
    store = _open(backend, root)
    try:
        before = state(store, QUERY)
        n = data.draw(st.integers(1, 3))
        metas = data.draw(st.one_of(st.lists(metadata, min_size=n, max_size=n), metadata))
        item_ids = data.draw(st.one_of(st.none(), st.lists(ids, min_size=n, max_size=n)))
        if data.draw(st.booleans()):
            texts = data.draw(st.lists(strings, min_size=n, max_size=n))
            written = _typed_or_ok(store, before, lambda: store.add_texts(texts, metas, item_ids))
            contents: list[Any] = texts
        else:
            kinds = data.draw(st.lists(vectors, min_size=n, max_size=n))
            texts = data.draw(st.lists(strings, min_size=n, max_size=n))
            metas = data.draw(st.lists(metadata, min_size=n, max_size=n))
            payloads = [{"content": c, "metadata": m} for c, m in zip(texts, metas, strict=True)]
            arrays = [_vector(k, i) for i, k in enumerate(kinds)]
            written = _typed_or_ok(store, before, lambda: store.add_embeddings(arrays, payloads, item_ids))
            contents = [p["content"] for p in payloads]
        if written is None:
            return
        records = store.get(written)
        assert [r.content for r in records] == contents
        per_item = [None] * n if metas is None else metas
        assert [r.metadata for r in records] == [_json(m or {}) for m in per_item]
        for vector in store.get_vectors(written):
            assert np.isfinite(vector).all()
            np.testing.assert_allclose(np.linalg.norm(vector, axis=-1), 1.0, atol=1e-5)
        after = state(store, QUERY)
        if backend == "edge":  # what was acknowledged reads back the same from disk
            store.close()
            store = _open(backend, root)
            assert state(store, QUERY) == after
    finally:
        store.close()


filters = st.one_of(
    st.none(),
    st.dictionaries(strings, json_like, max_size=2),
    st.dictionaries(st.sampled_from(["$and", "$or", "$not", "n", "$id"]), json_like, max_size=2),
    st.integers(0, 120).map(lambda d: _nested_filter(d)),
    json_like,
)


def _nested_filter(depth: int) -> Any:
    value: Any = {"n": 1}
    for _ in range(depth):
        value = {"$and": [value]}
    return value


@pytest.mark.parametrize("backend", ["edge", "memory"])
@SETTINGS
@given(data=st.data())
def test_reads_searches_and_deletes_are_typed_errors_or_work(
    backend: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    with _open(backend, tmp_path_factory.mktemp("s")) as store:
        before = state(store, QUERY)
        k = data.draw(st.one_of(st.integers(-2, 5), st.floats(), st.none(), strings))
        flt = data.draw(filters)
        query_kind = data.draw(st.sampled_from(["text", "ragged", "nan", "huge", "wrong_dim", "flat", "empty", "ok"]))
        query: Any = data.draw(strings) if query_kind == "text" else _vector(query_kind, 3)
        calls = {
            "search": lambda: store.search(query, k=k, filter=flt),
            "exact": lambda: store.search(query, k=k, filter=flt, exact=True),
            "mmr": lambda: store.mmr_search(query, k=k, filter=flt, lambda_mult=data.draw(numbers)),
            "get": lambda: store.get(data.draw(st.one_of(st.lists(ids, max_size=3), ids))),
            "count": lambda: store.count(flt),
            "scroll": lambda: store.scroll(flt, limit=k),
            "delete": lambda: store.delete(data.draw(st.one_of(st.none(), st.lists(ids, max_size=2))), filter=flt),
        }
        name = data.draw(st.sampled_from(sorted(calls)))
        try:
            result = calls[name]()
        except MultivecError:
            assert state(store, QUERY) == before
            return
        if name in ("search", "exact", "mmr"):
            assert all(math.isfinite(h.score) and 0.0 <= h.relevance <= 1.0 for h in result)


def test_known_bad_metadata_is_refused_with_the_field_named(tmp_path: Path) -> None:
    with _open("edge", tmp_path) as store:
        cases = {
            "deep": (_nested(MAX_METADATA_DEPTH + 1), "nested more than"),
            "surrogate value": ({"x": "a\ud800"}, r"metadatas\[0\]\['x'\] has a lone surrogate"),
            "surrogate key": ({"\udc80": 1}, "lone surrogate"),
            "big int": ({"x": 2**64}, "64-bit"),
            "nan": ({"x": float("nan")}, "NaN"),
        }
        for meta, message in cases.values():
            with pytest.raises(InvalidInputError, match=message):
                store.add_texts(["text"], [meta], ["id"])
        with pytest.raises(InvalidInputError, match=r"ids\[0\] has a lone surrogate"):
            store.add_texts(["text"], ids=["\ud800"])
        with pytest.raises(InvalidInputError, match="item 0 content has a lone surrogate"):
            store.add_embeddings([_vector("ok", 0)], [{"content": "\ud800"}])
        assert store.count() == 2
    # the store still opens: nothing undecodable reached its write-ahead log
    with _open("edge", tmp_path) as store:
        assert store.count() == 2
