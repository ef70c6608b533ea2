"""The async twins on both backends: same results as the sync methods, on the same data."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from multivec.errors import InvalidInputError, StoreError
from multivec.store import MultiVectorStore

from .conftest import StoreFactory, random_corpus

TEXTS = ["red apples", "blue cars", "green pears", "red cars"]


async def test_async_twins_match_sync(store: MultiVectorStore) -> None:
    ids = await store.aadd_texts(TEXTS, metadatas=[{"i": i} for i in range(4)], ids=["a", "b", "c", "d"])
    assert ids == ["a", "b", "c", "d"]
    assert await store.aadd_images([Image.new("RGB", (8, 8), "red")], ids=["img"]) == ["img"]
    assert await store.aadd_embeddings(random_corpus(2, 16), ids=[1, 2]) == ["1", "2"]
    assert await store.acount() == store.count() == 7
    for exact in (False, True):
        assert await store.asearch("red cars", k=3, exact=exact) == store.search("red cars", k=3, exact=exact)
    assert await store.ammr_search("red cars", k=2) == store.mmr_search("red cars", k=2)
    assert await store.aget(["d", "a"]) == store.get(["d", "a"])
    assert await store.ascroll({"i": {"$gte": 2}}) == store.scroll({"i": {"$gte": 2}})
    await store.adelete(ids=["a"])
    await store.adelete(filter={"i": 1})
    assert await store.acount({"i": {"$gte": 0}}) == 2
    await store.aclear()
    assert store.count() == 0


async def test_concurrent_async_calls(store: MultiVectorStore) -> None:
    await asyncio.gather(*(store.aadd_texts([f"text {i} {t}" for t in TEXTS]) for i in range(5)))
    assert await store.acount() == 20
    results = await asyncio.gather(*(store.asearch(t, k=2) for t in TEXTS))
    assert all(len(r) == 2 and r[0].content.endswith(t) for r, t in zip(results, TEXTS, strict=True))


async def test_async_errors_and_context_manager(make_store: StoreFactory) -> None:
    async with make_store() as store:
        with pytest.raises(InvalidInputError):
            await store.aadd_texts(["a", "b"], ids=["x", "x"])
        assert await store.acount() == 0
        with pytest.raises(InvalidInputError):
            await store.asearch("a", k=0)
    with pytest.raises(StoreError, match="closed"):
        await store.acount()
