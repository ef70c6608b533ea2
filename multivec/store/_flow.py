"""Drive a generator-based flow synchronously or asynchronously.

A flow is a generator that yields requests and receives their results; it holds all the logic of an operation
(validation, request building, result mapping) once, while the two drivers differ only in how a request is sent.
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
Flow = Generator[Any, Any, T]


def run_sync(flow: Flow[T], send: Callable[[Any], Any]) -> T:
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


async def run_async(flow: Flow[T], send: Callable[[Any], Awaitable[Any]]) -> T:
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
