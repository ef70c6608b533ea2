"""``close()`` (or a second open of the same directory) while searches and writes run in other threads or tasks: each
call in flight completes or raises ``StoreError``, and every write that returned is in the store afterwards.

The races are real (real engine, real threads and tasks); each round waits until every worker has finished a call,
then closes, and asserts only how each worker's calls ended, never when.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import StoreError
from multivec.store import MultiVectorStore

ROUNDS = 4
DIM = 16


def _open(path: Path | None) -> MultiVectorStore:
    options: dict[str, Any] = {"path": path} if path is not None else {"location": ":memory:"}
    # small write batches: a write call is several engine requests, so close() can land between two of them
    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), write_batch_size=2, **options)


class _Worker:
    """Calls ``work(n)`` (n = 0, 1, ...) until it raises; keeps the ids of the writes that returned."""

    def __init__(self, name: str, work: Callable[[int], list[str] | None]) -> None:
        self.name = name
        self.work = work
        self.acknowledged: list[str] = []
        self.error: BaseException | None = None
        self.started = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while True:
                ids = self.work(n)
                self.acknowledged += ids or []
                self.started.set()
                n += 1
        except BaseException as err:  # the outcome under test: it must be a StoreError
            self.error = err
            self.started.set()


def _workers(store: MultiVectorStore, tag: str) -> list[_Worker]:
    rng = np.random.default_rng(0)
    query = rng.standard_normal((3, DIM)).astype(np.float32)

    def add_texts(n: int) -> list[str]:
        return store.add_texts([f"text {n} a", f"text {n} b", f"text {n} c"], ids=[f"{tag}t{n}-{i}" for i in range(3)])

    def add_embeddings(n: int) -> list[str]:
        vectors = [rng.standard_normal((4, DIM)).astype(np.float32) for _ in range(5)]
        return store.add_embeddings(vectors, ids=[f"{tag}e{n}-{i}" for i in range(5)])

    def delete(n: int) -> None:
        store.delete(ids=[f"{tag}nothing-{n}"])

    return [
        _Worker("add_texts", add_texts),
        _Worker("add_embeddings", add_embeddings),
        _Worker("search", lambda n: [] if store.search(query, k=3) is None else None),
        _Worker("exact search", lambda n: [] if store.search("text", k=2, exact=True) is None else None),
        _Worker("get", lambda n: [] if store.get([f"{tag}t0-0"]) is None else None),
        _Worker("scroll+count", lambda n: [] if (store.scroll(limit=5), store.count()) is None else None),
        _Worker("delete", delete),
    ]


def _race(store: MultiVectorStore, stop: Callable[[], Any], tag: str) -> list[_Worker]:
    workers = _workers(store, tag)
    threads = [threading.Thread(target=w.run, name=w.name) for w in workers]
    for thread in threads:
        thread.start()
    for worker in workers:
        worker.started.wait()
    stop()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), f"{thread.name} still runs after close()"
    for worker in workers:
        assert isinstance(worker.error, StoreError), f"{worker.name}: {worker.error!r}"
    return workers


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_close_while_threads_call_the_store(tmp_path: Path, backend: str) -> None:
    acknowledged: list[str] = []
    for round_ in range(ROUNDS):
        store = _open(tmp_path if backend == "edge" else None)
        workers = _race(store, store.close, f"r{round_}")
        acknowledged += [i for w in workers for i in w.acknowledged]
        if backend == "edge":  # every write that returned is durable
            with _open(tmp_path) as reopened:
                assert len(reopened.get(acknowledged)) == len(acknowledged)
                assert reopened.verify().ok


def test_opening_the_directory_again_while_threads_call_the_old_store(tmp_path: Path) -> None:
    acknowledged: list[str] = []
    store = _open(tmp_path)
    for round_ in range(ROUNDS):
        opened: list[MultiVectorStore] = []

        def reopen(into: list[MultiVectorStore] = opened) -> None:
            into.append(_open(tmp_path))

        workers = _race(store, reopen, f"r{round_}")
        acknowledged += [i for w in workers for i in w.acknowledged]
        store = opened[0]
        assert len(store.get(acknowledged)) == len(acknowledged)
    store.close()


async def _until_error(call: Callable[[int], Awaitable[Any]], started: asyncio.Event) -> BaseException:
    n = 0
    while True:
        try:
            await call(n)
        except BaseException as err:
            started.set()
            return err
        started.set()
        n += 1


def _async_calls(store: MultiVectorStore, tag: str) -> list[Callable[[int], Awaitable[Any]]]:
    query = np.ones((2, DIM), dtype=np.float32)
    return [
        lambda n: store.aadd_texts([f"a {n}", f"b {n}", f"c {n}"], ids=[f"{tag}-{n}-{i}" for i in range(3)]),
        lambda n: store.asearch(query, k=3),
        lambda n: store.asearch("a", k=2, exact=True),
        lambda n: store.aget([f"{tag}-0-0"]),
        lambda n: store.acount(),
        lambda n: store.adelete(ids=[f"{tag}-none"]),
    ]


@pytest.mark.parametrize("backend", ["edge", "memory"])
@pytest.mark.parametrize("closer", ["aclose", "close from a thread"])
async def test_close_while_tasks_call_the_store(tmp_path: Path, backend: str, closer: str) -> None:
    for round_ in range(ROUNDS):
        store = _open(tmp_path if backend == "edge" else None)
        calls = _async_calls(store, f"r{round_}")
        events = [asyncio.Event() for _ in calls]
        tasks = [asyncio.create_task(_until_error(call, e)) for call, e in zip(calls, events, strict=True)]
        for event in events:
            await event.wait()
        if closer == "aclose":
            await store.aclose()
        else:
            await asyncio.to_thread(store.close)
        errors = await asyncio.gather(*tasks)
        for error in errors:
            assert isinstance(error, StoreError), repr(error)
