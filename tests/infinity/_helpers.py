"""Small helpers shared by the Infinity client tests."""

from __future__ import annotations

import asyncio
from typing import Any

from multivec.embeddings.infinity import InfinityEmbeddings

MODES = ["sync", "async"]


def call(mode: str, emb: InfinityEmbeddings, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``emb.<method>`` (``mode="sync"``) or ``await emb.a<method>`` in a fresh event loop (``"async"``).

    The client's connections are closed afterwards (the instance stays usable and keeps its model check).
    """
    if mode == "sync":
        try:
            return getattr(emb, method)(*args, **kwargs)
        finally:
            emb.close()

    async def run() -> Any:
        try:
            return await getattr(emb, "a" + method)(*args, **kwargs)
        finally:
            await emb.aclose()

    return asyncio.run(run())
