"""Shared helpers of the reliability suite: a store's observable state, and faults injected at the request boundary.

A fault is injected where a real one would surface: between the store and its engine (the store's ``_send``), so the
real engine runs every request up to the fault, and the fault is a real exception (or a real SIGKILL of the process).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from multivec.store import MultiVectorStore


@dataclass(frozen=True)
class State:
    """Everything a caller can observe of a store's records: payloads, token vectors and a query's ranking."""

    records: dict[str, tuple[Any, ...]]
    vectors: dict[str, bytes]
    ranking: list[str]


def state(store: MultiVectorStore, query: np.ndarray | None = None) -> State:
    records = {r.id: (r.content, r.metadata, r.modality, r.source, r.page) for r in store.scroll()}
    ids = sorted(records)
    vectors = {i: np.asarray(v, dtype=np.float32).tobytes() for i, v in zip(ids, store.get_vectors(ids), strict=True)}
    ranking = [] if query is None or not ids else [h.id for h in store.search(query, k=len(ids), exact=True)]
    return State(records, vectors, ranking)


def fail_at(
    store: MultiVectorStore, n: int, error: Callable[[], BaseException], *, every_after: bool = False
) -> list[Any]:
    """Make the store's ``n``-th engine request (0-based) raise ``error()`` (and every later one, with
    ``every_after``); returns the list of request types the store sent, for assertions."""
    sent: list[Any] = []
    real, areal = store._send, store._asend

    def check(request: Any) -> None:
        sent.append(type(request).__name__)
        if len(sent) - 1 == n or (every_after and len(sent) - 1 > n):
            raise error()

    def send(request: Any) -> Any:
        check(request)
        return real(request)

    async def asend(request: Any) -> Any:
        check(request)
        return await areal(request)

    store._send = send  # type: ignore[method-assign]
    store._asend = asend  # type: ignore[method-assign]
    return sent


def heal(store: MultiVectorStore) -> None:
    """Undo :func:`fail_at`."""
    vars(store).pop("_send", None)
    vars(store).pop("_asend", None)


def kill_at(store: MultiVectorStore, n: int, *, after: bool) -> None:
    """SIGKILL this process at the store's ``n``-th engine request, before it is sent or ``after`` it returned."""
    count = [0]
    real = store._send

    def send(request: Any) -> Any:
        count[0] += 1
        if count[0] - 1 == n and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(request)
        if count[0] - 1 == n and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    store._send = send  # type: ignore[method-assign]
