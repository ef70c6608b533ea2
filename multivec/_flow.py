"""Drive a generator-based flow synchronously or asynchronously: the one driver of the store and the Infinity client.

A flow is a generator that yields typed requests and receives their results; it holds all the logic of an operation
(validation, request building, result mapping) once, while the two drivers differ only in how a request is sent
(the ``send`` function, which dispatches on the request's type).
A request that fails is raised inside the flow (``generator.throw``), so a flow can clean up (roll back) with more
requests before the error reaches the caller.

Two requests are answered by the drivers themselves, whatever ``send`` is: :class:`Blocking` (a blocking call such
as reading or rendering a file: made directly by the sync driver, in a worker thread by the async one, so it never
holds the event loop) and :class:`Concurrently` (several requests or sub-flows whose results come back as a tuple:
one after the other by the sync driver, concurrently by the async one).

>>> def flow():
...     a = yield 1
...     b = yield 2
...     return a + b
>>> run_sync(flow(), lambda request: request * 10)
30
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from types import GeneratorType
from typing import Any, Generic, TypeVar

__all__ = ["Blocking", "Concurrently", "Flow", "run_async", "run_sync"]

T = TypeVar("T")
Q = TypeVar("Q")
R = TypeVar("R")
#: A flow yielding requests of any type (the store's engine and embedder requests) and returning ``T``.
Flow = Generator[Any, Any, T]


@dataclass(frozen=True)
class Blocking(Generic[T]):
    """A request for ``call()``: a blocking step of a flow, run off the event loop by the async driver."""

    call: Callable[[], T]


@dataclass(frozen=True)
class Concurrently:
    """Several requests or sub-flows at once; the flow receives their results as a tuple, in the order of ``parts``.

    If parts fail, the flow receives the error of the first failing part in that order (the async driver waits
    for every part first, so nothing is left running). A sub-flow handles its own errors, so a flow that must
    tell its parts' errors apart gives each part a sub-flow.
    """

    parts: tuple[Any, ...]


def _answer(request: Any, send: Callable[[Any], Any]) -> Any:
    match request:
        case Blocking(call):
            return call()
        case Concurrently(parts):
            return tuple(_answer(part, send) for part in parts)
        case GeneratorType():
            return run_sync(request, send)
        case _:
            return send(request)


async def _aanswer(request: Any, send: Callable[[Any], Awaitable[Any]]) -> Any:
    match request:
        case Blocking(call):
            return await asyncio.to_thread(call)
        case Concurrently(parts):
            results = await asyncio.gather(*(_aanswer(part, send) for part in parts), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return tuple(results)
        case GeneratorType():
            return await run_async(request, send)
        case _:
            return await send(request)


def run_sync(flow: Generator[Q, R, T], send: Callable[[Q], R]) -> T:
    """Run ``flow``, answering each yielded request with ``send(request)``."""
    try:
        request = next(flow)
        while True:
            try:
                result = _answer(request, send)
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
                result = await _aanswer(request, send)
            except BaseException as err:
                request = flow.throw(err)
            else:
                request = flow.send(result)
    except StopIteration as stop:
        return stop.value
