"""Drive a generator-based flow synchronously or asynchronously: the one driver of the store and the Infinity client.

A flow is a generator that yields typed requests and receives their results; it holds all the logic of an operation
(validation, request building, result mapping) once, while the two drivers differ only in how a request is sent
(the ``send`` function, which dispatches on the request's type).
A request that fails is raised inside the flow (``generator.throw``), so a flow can clean up (roll back) with more
requests before the error reaches the caller.

>>> def flow():
...     a = yield 1
...     b = yield 2
...     return a + b
>>> run_sync(flow(), lambda request: request * 10)
30
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Flow", "run_async", "run_sync"]

T = TypeVar("T")
Q = TypeVar("Q")
R = TypeVar("R")
#: A flow yielding requests of any type (the store's engine and embedder requests) and returning ``T``.
Flow = Generator[Any, Any, T]


def run_sync(flow: Generator[Q, R, T], send: Callable[[Q], R]) -> T:
    """Run ``flow``, answering each yielded request with ``send(request)``."""
    try:
        request = next(flow)
        while True:
            try:
                result = send(request)
            except BaseException as err:
                request = flow.throw(err)
            else:
                request = flow.send(result)
    except StopIteration as stop:
        return stop.value


async def run_async(flow: Generator[Q, R, T], send: Callable[[Q], Awaitable[R]]) -> T:
    """Run ``flow``, answering each yielded request with ``await send(request)``."""
    try:
        request = next(flow)
        while True:
            try:
                result = await send(request)
            except BaseException as err:
                request = flow.throw(err)
            else:
                request = flow.send(result)
    except StopIteration as stop:
        return stop.value
