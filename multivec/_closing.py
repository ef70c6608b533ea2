"""``with`` / ``async with`` support for anything with ``close()`` and ``aclose()`` (embedders, stores, adapters).

>>> class Resource(Closing):
...     def close(self) -> None:
...         print("closed")
...     async def aclose(self) -> None:
...         self.close()
>>> with Resource() as r:
...     pass
closed
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Closing"]

T = TypeVar("T", bound="Closing")


class Closing:
    """Mixin: ``__enter__``/``__aenter__`` return the object; leaving the block calls ``close()``/``aclose()``."""

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
