"""The dict filter language (every operator, nesting, raw Qdrant filters) on both backends, and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import models

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.store import MultiVectorStore
from multivec.store.filters import to_qdrant_filter

from .conftest import BACKENDS, StoreFactory

ROWS = [
    {
        "genre": "fruit",
        "year": 1999,
        "price": 1.5,
        "fresh": True,
        "tags": ["red", "sweet"],
        "when": "2020-01-05T00:00:00Z",
        "note": "crisp red apples",
        "author": {"name": "ann"},
    },
    {
        "genre": "auto",
        "year": 2005,
        "price": 20000.0,
        "fresh": False,
        "tags": ["blue"],
        "when": "2021-06-01T00:00:00Z",
        "note": "fast blue cars",
        "author": {"name": "bob"},
    },
    {
        "genre": "fruit",
        "year": 2010,
        "price": 2.25,
        "fresh": False,
        "tags": ["green"],
        "when": "2022-03-01T00:00:00Z",
        "note": "green pears",
        "author": {"name": "ann"},
    },
    {"genre": "veg", "year": 2020, "price": 0.5, "when": "2023-01-01T00:00:00Z", "note": "red onions"},
]
IDS = ["apple", "car", "pear", "onion"]

CASES = [
    ({"genre": "fruit"}, {"apple", "pear"}),
    ({"genre": {"$eq": "veg"}}, {"onion"}),
    ({"genre": {"$ne": "fruit"}}, {"car", "onion"}),
    ({"year": 2005}, {"car"}),
    ({"year": {"$gt": 2005}}, {"pear", "onion"}),
    ({"year": {"$gte": 2005}}, {"car", "pear", "onion"}),
    ({"year": {"$lt": 2005}}, {"apple"}),
    ({"year": {"$lte": 2005}}, {"apple", "car"}),
    ({"year": {"$gte": 2000, "$lt": 2015}}, {"car", "pear"}),
    ({"price": 2.25}, {"pear"}),
    ({"price": {"$lt": 2}}, {"apple", "onion"}),
    ({"fresh": True}, {"apple"}),
    ({"fresh": False}, {"car", "pear"}),
    ({"fresh": {"$ne": True}}, {"car", "pear", "onion"}),  # records without the key match $ne
    ({"genre": {"$in": ["veg", "auto"]}}, {"car", "onion"}),
    ({"year": {"$in": [1999, 2020]}}, {"apple", "onion"}),
    ({"fresh": {"$in": [True]}}, {"apple"}),
    ({"genre": {"$nin": ["fruit"]}}, {"car", "onion"}),
    ({"tags": "red"}, {"apple"}),  # a list field matches when any element matches
    ({"tags": {"$in": ["blue", "green"]}}, {"car", "pear"}),
    ({"tags": {"$nin": ["red"]}}, {"car", "pear", "onion"}),
    ({"note": {"$text": "red"}}, {"apple", "onion"}),
    ({"when": {"$gte": "2021-01-01T00:00:00+00:00"}}, {"car", "pear", "onion"}),
    ({"when": {"$lt": "2021-01-01T00:00:00"}}, {"apple"}),
    ({"author.name": "ann"}, {"apple", "pear"}),
    ({"genre": "fruit", "year": {"$gt": 2000}}, {"pear"}),
    ({"$and": [{"genre": "fruit"}, {"fresh": True}]}, {"apple"}),
    ({"$or": [{"genre": "veg"}, {"year": 2005}]}, {"car", "onion"}),
    ({"$not": {"genre": "fruit"}}, {"car", "onion"}),
    ({"$or": [{"$and": [{"genre": "fruit"}, {"$not": {"fresh": True}}]}, {"price": {"$lt": 1}}]}, {"pear", "onion"}),
    ({"$not": {"$or": [{"genre": "fruit"}, {"genre": "auto"}]}}, {"onion"}),
    ({"missing_key": "x"}, set()),  # unknown keys are not errors: positive conditions match nothing
    ({"missing_key": {"$ne": "x"}}, set(IDS)),
    (models.Filter(must=[models.FieldCondition(key="metadata.genre", match=models.MatchValue(value="auto"))]), {"car"}),
    (
        models.Filter(
            must=[models.FieldCondition(key="modality", match=models.MatchValue(value="text"))],
            must_not=[models.FieldCondition(key="metadata.year", range=models.Range(lt=2010))],
        ),
        {"pear", "onion"},
    ),
    (models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="metadata.tags"))]), {"onion"}),
    (
        models.Filter(
            must=[models.FieldCondition(key="metadata.genre", match=models.MatchExcept(**{"except": ["fruit"]}))]
        ),
        {"car", "onion"},
    ),
]


FIELDS = {"genre": "keyword", "year": "integer", "price": "float", "fresh": "bool", "note": "text", "when": "datetime"}


def _fill(store: MultiVectorStore) -> MultiVectorStore:
    store.add_texts([r["note"] for r in ROWS], metadatas=ROWS, ids=IDS)
    return store


@pytest.fixture(scope="module", params=BACKENDS)
def filtered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiVectorStore]:
    """One filled store per backend, shared by the read-only tests of this module."""
    where = {"path": tmp_path_factory.mktemp("filters")} if request.param == "edge" else {"location": ":memory:"}
    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), filterable_fields=FIELDS, **where)
    yield _fill(store)
    store.close()


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_filter_selects_the_expected_records(filtered: MultiVectorStore, flt: object, expected: set[str]) -> None:
    assert {r.id for r in filtered.scroll(flt)} == expected
    assert filtered.count(flt) == len(expected)
    for exact in (False, True):
        assert {h.id for h in filtered.search("red apples", k=10, filter=flt, exact=exact)} == expected


def test_filter_applies_before_the_top_k(filtered: MultiVectorStore) -> None:
    # "red apples" is closest to apple; with the filter the best remaining match comes first
    hits = filtered.search("red apples", k=1, filter={"genre": {"$ne": "fruit"}}, prefetch_limit=1)
    assert [h.id for h in hits] == ["onion"]


def test_delete_by_filter_language(make_store: StoreFactory) -> None:
    filtered = _fill(make_store(filterable_fields=FIELDS))
    filtered.delete(filter={"$or": [{"genre": "auto"}, {"year": {"$gte": 2020}}]})
    assert sorted(r.id for r in filtered.scroll()) == ["apple", "pear"]


@pytest.mark.parametrize(
    ("flt", "match"),
    [
        ({"genre": {"$regex": "f.*"}}, "unknown operator"),
        ({"$xor": [{"a": 1}]}, "unknown operator"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$not": "x"}, "non-empty dict"),
        ({"genre": {"$in": []}}, "non-empty list"),
        ({"genre": {"$in": "fruit"}}, "non-empty list"),
        ({"genre": ["fruit"]}, "use \\$in"),
        ({"genre": None}, "expected a str"),
        ({"genre": {}}, "empty operator"),
        ({"year": {"$gt": "soon"}}, "ISO 8601"),
        ({"year": {"$gt": [1]}}, "range bounds"),
        ({"note": {"$text": ""}}, "\\$text"),
        ({"": 1}, "non-empty strings"),
        ("genre = fruit", "filter must be a dict"),
    ],
)
def test_bad_filters_raise_before_anything_runs(filtered: MultiVectorStore, flt: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        filtered.search("red", filter=flt)
    with pytest.raises(InvalidInputError):
        filtered.delete(filter=flt)
    assert filtered.count() == len(IDS)


def test_compiled_form_is_a_qdrant_filter() -> None:
    compiled = to_qdrant_filter({"$or": [{"a": 1}, {"b": {"$nin": ["x", "y"]}}]})
    assert isinstance(compiled, models.Filter)
    assert compiled.should is not None and len(compiled.should) == 2
    assert to_qdrant_filter({}) is None and to_qdrant_filter(None) is None
    raw = models.Filter(must=[])
    assert to_qdrant_filter(raw) is raw


def test_record_fields_are_reserved_keys(make_store: StoreFactory) -> None:
    from PIL import Image

    store = make_store()
    store.add_texts(["red apples", "blue cars"], metadatas=[{"genre": "fruit"}, {"genre": "auto"}], ids=["a", 7])
    page = Image.new("RGB", (32, 32), "white")
    store.add_images([page, page], ids=["p1", "p2"], sources=["memo.pdf", "memo.pdf"], pages=[1, 2])

    def ids(flt: dict[str, object]) -> set[str]:
        return {r.id for r in store.scroll(filter=flt)}

    assert ids({"$id": "a"}) == {"a"}
    assert ids({"$id": 7}) == ids({"$id": "7"}) == {"7"}
    assert ids({"$id": {"$in": [7, "p2", "missing"]}}) == {"7", "p2"}
    assert ids({"$id": {"$nin": ["a", "p1"]}}) == {"7", "p2"}
    assert ids({"$modality": "image"}) == {"p1", "p2"}
    assert ids({"$modality": "text", "genre": "fruit"}) == {"a"}
    assert ids({"$source": "memo.pdf", "$page": {"$gte": 2}}) == {"p2"}
    assert ids({"$or": [{"$id": "a"}, {"$page": 1}]}) == {"a", "p1"}
    assert {h.id for h in store.search("red apples", k=4, filter={"$modality": "text"})} == {"a", "7"}
    assert store.count({"$modality": "image"}) == 2
    store.delete(filter={"$id": {"$in": ["p1", "7"]}})
    assert ids({}) == {"a", "p2"}
    with pytest.raises(InvalidInputError, match="'text' or 'image'"):
        store.count({"$modality": "video"})
    with pytest.raises(InvalidInputError, match=r"record field: \$id"):
        store.count({"$ids": ["a"]})
