"""Every bad input raises a typed error before any write: the store is unchanged afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from multivec.errors import ConfigurationError, DimensionMismatchError, InvalidInputError
from multivec.store import MultiVectorStore

from .conftest import StoreFactory, random_corpus

GOOD = random_corpus(3, 16, seed=9)


def _nan() -> np.ndarray:
    bad = GOOD[1].copy()
    bad[0, 3] = np.nan
    return bad


def _inf() -> np.ndarray:
    bad = GOOD[1].copy()
    bad[-1, 0] = np.inf
    return bad


BAD_CALLS: list[tuple[str, Callable[[MultiVectorStore], Any], type[Exception], str]] = [
    (
        "dim mismatch",
        lambda s: s.add_embeddings([GOOD[0], np.ones((3, 8), np.float32)]),
        DimensionMismatchError,
        r"embeddings\[1\] has dimension 8",
    ),
    ("nan", lambda s: s.add_embeddings([GOOD[0], _nan()]), InvalidInputError, "NaN"),
    ("inf", lambda s: s.add_embeddings([GOOD[0], _inf()]), InvalidInputError, "inf"),
    (
        "empty multivector",
        lambda s: s.add_embeddings([GOOD[0], np.zeros((0, 16), np.float32)]),
        InvalidInputError,
        "empty multi-vector",
    ),
    (
        "all-zero multivector",
        lambda s: s.add_embeddings([GOOD[0], np.zeros((2, 16), np.float32)]),
        InvalidInputError,
        "all zeros",
    ),
    ("1-d vector", lambda s: s.add_embeddings([GOOD[0], np.ones(16, np.float32)]), InvalidInputError, "shape"),
    ("not numeric", lambda s: s.add_embeddings([GOOD[0], "vectors"]), InvalidInputError, "numeric|shape"),
    ("ids length", lambda s: s.add_texts(["a", "b"], ids=["x"]), InvalidInputError, "2 items but 1 ids"),
    ("metadatas length", lambda s: s.add_texts(["a", "b"], metadatas=[{}]), InvalidInputError, "1 metadatas"),
    ("payloads length", lambda s: s.add_embeddings(GOOD, payloads=[{}]), InvalidInputError, "1 payloads"),
    (
        "duplicate ids",
        lambda s: s.add_texts(["a", "b", "c"], ids=["x", "y", "x"]),
        InvalidInputError,
        r"ids\[2\] \('x'\) repeats ids\[0\]",
    ),
    ("duplicate int/str ids", lambda s: s.add_texts(["a", "b"], ids=[1, "1"]), InvalidInputError, "repeats"),
    ("float id", lambda s: s.add_texts(["a", "b"], ids=["x", 1.5]), InvalidInputError, r"ids\[1\] is float"),
    ("bool id", lambda s: s.add_texts(["a"], ids=[True]), InvalidInputError, "bool"),
    ("None id", lambda s: s.add_texts(["a"], ids=[None]), InvalidInputError, "NoneType"),
    ("empty id", lambda s: s.add_texts(["a"], ids=[""]), InvalidInputError, "empty string"),
    ("ids is a str", lambda s: s.add_texts(["a"], ids="x"), InvalidInputError, "must be a list"),
    (
        "metadata set",
        lambda s: s.add_texts(["a", "b"], metadatas=[{}, {"s": {1, 2}}]),
        InvalidInputError,
        r"metadatas\[1\]\['s'\] is set",
    ),
    (
        "metadata datetime",
        lambda s: s.add_texts(["a"], metadatas=[{"d": dt.date(2020, 1, 1)}]),
        InvalidInputError,
        "not JSON",
    ),
    ("metadata nan", lambda s: s.add_texts(["a"], metadatas=[{"x": [1.0, float("nan")]}]), InvalidInputError, "NaN"),
    ("metadata key", lambda s: s.add_texts(["a"], metadatas=[{1: "x"}]), InvalidInputError, "non-string key"),
    ("metadata not dict", lambda s: s.add_texts(["a"], metadatas=["x"]), InvalidInputError, "must be a dict"),
    ("numpy metadata", lambda s: s.add_texts(["a"], metadatas=[{"n": np.float32(1)}]), InvalidInputError, "not JSON"),
    ("payload key", lambda s: s.add_embeddings(GOOD[:1], payloads=[{"text": "x"}]), InvalidInputError, "unknown key"),
    (
        "payload modality",
        lambda s: s.add_embeddings(GOOD[:1], payloads=[{"modality": "audio"}]),
        InvalidInputError,
        "modality",
    ),
    ("payload page", lambda s: s.add_embeddings(GOOD[:1], payloads=[{"page": "1"}]), InvalidInputError, "page"),
    ("empty text", lambda s: s.add_texts(["a", "  "]), InvalidInputError, r"texts\[1\]"),
    ("non-str text", lambda s: s.add_texts(["a", 3]), InvalidInputError, r"texts\[1\]"),
    ("single text", lambda s: s.add_texts("abc"), InvalidInputError, "list"),
    ("bad image", lambda s: s.add_images([b"not an image"]), InvalidInputError, "not a readable image"),
    ("image sources length", lambda s: s.add_images([b"x"], sources=["a", "b"]), InvalidInputError, "sources"),
    ("image pages type", lambda s: s.add_images([b"x"], pages=["1"]), InvalidInputError, "pages"),
]


@pytest.mark.parametrize(("name", "call", "error", "match"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_and_writes_nothing(
    store: MultiVectorStore, name: str, call: Callable[[MultiVectorStore], Any], error: type[Exception], match: str
) -> None:
    store.add_texts(["existing"], ids=["keep"])
    with pytest.raises(error, match=match):
        call(store)
    assert store.count() == 1
    assert [r.id for r in store.scroll()] == ["keep"]


def test_bad_input_in_a_large_batched_call_writes_nothing(make_store: StoreFactory) -> None:
    store = make_store(write_batch_size=4)
    corpus = [*random_corpus(20, 16, seed=3), np.ones((2, 5), np.float32)]
    with pytest.raises(DimensionMismatchError) as info:
        store.add_embeddings(corpus)
    assert info.value.index == 20
    assert store.count() == 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"multivector_datatype": "int8"}, "multivector_datatype"),
        ({"filterable_fields": {"genre": "string"}}, "filterable_fields"),
        ({"prefetch_limit": 0}, "prefetch_limit"),
        ({"write_batch_size": 0}, "write_batch_size"),
        ({"collection_name": "../escape"}, "collection_name"),
        ({"collection_name": ""}, "collection_name"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_options_raise_configuration_error(make_store: StoreFactory, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make_store(**options)


def test_sharding_options_need_a_server(tmp_path) -> None:
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding

    with pytest.raises(ConfigurationError, match="shard_number"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path, shard_number=2)
    with pytest.raises(ConfigurationError, match="not both"):
        MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path, location=":memory:")
    with pytest.raises(ConfigurationError, match="embedder"):
        MultiVectorStore("not an embedder", path=tmp_path)  # type: ignore[arg-type]
    # server options pass through to create_collection (local mode accepts and ignores them)
    store = MultiVectorStore(
        DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:", shard_number=2, replication_factor=1
    )
    store.add_texts(["x"])
    assert store.count() == 1
    store.close()
