"""Small helpers shared by the Infinity client tests."""

from __future__ import annotations

import asyncio
from typing import Any

from multivec.embeddings.infinity import InfinityEmbeddings
from tests.support.fault_server import FaultServer

MODES = ["sync", "async"]


def fault_client(server: FaultServer, **options: Any) -> InfinityEmbeddings:
    """A client of the fault server: fast retries, an 8-d fake model, no model check; ``options`` override."""
    defaults: dict[str, Any] = {
        "url": server.url,
        "model_name": "fake-model",
        "hidden_dim": 8,
        "check_model": False,
        "max_retries": 2,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    return InfinityEmbeddings(**{**defaults, **options})


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
