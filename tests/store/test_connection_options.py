"""Reaching a Qdrant server the way langchain-qdrant users do: an injected client, connection options, and opening
only a collection that exists (``create_collection=False``)."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import CollectionNotFoundError, ConfigurationError
from multivec.store import MultiVectorStore
from multivec.store.options import server_connection, store_option_names


def _fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=16)


def test_an_injected_client_is_used_and_left_open() -> None:
    client = QdrantClient(":memory:")
    with MultiVectorStore(_fake(), "docs", client=client) as store:
        store.add_texts(["red apples", "blue cars"], ids=["a", "b"])
        assert store.backend_name == "memory"
    assert client.count("docs").count == 2  # the caller's client still works after the store closed
    with MultiVectorStore(_fake(), "docs", client=client, create_collection=False) as again:
        assert [h.id for h in again.search("blue cars", k=1)] == ["b"]
    client.close()


async def test_an_injected_async_client_serves_the_async_calls() -> None:
    client, aclient = QdrantClient(":memory:"), AsyncQdrantClient(":memory:")
    store = MultiVectorStore(_fake(), "docs", client=client, aclient=aclient)
    assert store._backend._aclient is aclient  # type: ignore[attr-defined]
    await store.aadd_texts(["red apples"], ids=["a"])
    assert [r.id for r in await store.aget(["a"])] == ["a"]
    await store.aclose()
    await aclient.close()
    client.close()


class _QdrantStub(BaseHTTPRequestHandler):
    """Answers the two requests a store makes before it knows a collection is missing, and records them."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    version_checked: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.endswith("/exists"):
            body = {"result": {"exists": False}, "status": "ok", "time": 0.0}
        else:  # the client's version check (from a thread of its own)
            self.version_checked.set()
            body = {"title": "qdrant - vector search engine", "version": "1.20.0"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def qdrant_stub() -> Iterator[int]:
    _QdrantStub.seen.clear()
    _QdrantStub.version_checked.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _QdrantStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    _QdrantStub.version_checked.wait(30)  # a client's version check must not find the server gone (it would warn)
    server.shutdown()
    server.server_close()


def test_connection_options_reach_the_server(qdrant_stub: int) -> None:
    with (
        pytest.raises(CollectionNotFoundError, match="no collection 'docs' on this Qdrant server"),
        pytest.warns(UserWarning, match="Api key is used with an insecure connection"),  # qdrant-client's, rightly
    ):
        MultiVectorStore(
            _fake(),
            "docs",
            host="127.0.0.1",
            port=qdrant_stub,
            prefix="db",
            api_key="k",
            https=False,
            timeout=5,
            create_collection=False,
        )
    exists = [headers for path, headers in _QdrantStub.seen if path == "/db/collections/docs/exists"]
    assert exists and exists[0]["api-key"] == "k"


def test_tls_and_grpc_options_reach_the_client(qdrant_stub: int) -> None:
    connection = server_connection(host="127.0.0.1", port=qdrant_stub, grpc_port=7334, prefer_grpc=True, timeout=7)
    assert connection is not None
    client = connection.sync_client()
    try:
        options = client.init_options
        assert (options["host"], options["port"], options["grpc_port"]) == ("127.0.0.1", qdrant_stub, 7334)
        assert (options["prefer_grpc"], options["timeout"]) == (True, 7)
    finally:
        client.close()
    tls = server_connection(url="https://qdrant.example:6333", https=True)
    assert tls is not None and tls.options == {"url": "https://qdrant.example:6333", "https": True}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"aclient": AsyncQdrantClient(":memory:")}, "aclient= needs client="),
        ({"client": "http://localhost:6333"}, "client must be a qdrant_client.QdrantClient"),
        ({"client": QdrantClient(":memory:"), "url": "http://x:6333"}, "not both"),
        ({"url": "http://x:6333", "host": "x"}, "one of url=, host= or location="),
        ({"port": 6333}, "need\\(s\\) a Qdrant server"),
        ({"api_key": "secret"}, "api_key= needs a Qdrant server"),
        ({"host": "x", "port": 0}, "port must be a positive int"),
        ({"host": "x", "https": "yes"}, "https must be True or False"),
        ({"path": "somewhere", "host": "x"}, "not both"),
        ({"create_collection": "no"}, "create_collection must be True or False"),
    ],
)
def test_bad_connection_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MultiVectorStore(_fake(), "docs", **options)  # type: ignore[arg-type]


def test_a_missing_embedded_collection_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(CollectionNotFoundError, match="there is no collection 'docs'"):
        MultiVectorStore(_fake(), "docs", path=tmp_path, create_collection=False)
    assert list(tmp_path.iterdir()) == []  # nothing was created
    with pytest.raises(CollectionNotFoundError, match="needs path="):
        MultiVectorStore(_fake(), "docs", create_collection=False)
    MultiVectorStore(_fake(), "docs", path=tmp_path).close()
    with MultiVectorStore(_fake(), "docs", path=tmp_path, create_collection=False) as store:
        assert store.count() == 0


def test_a_missing_server_collection_is_not_created() -> None:
    client = QdrantClient(":memory:")
    with pytest.raises(CollectionNotFoundError, match="there is no collection 'docs' on this Qdrant server"):
        MultiVectorStore(_fake(), "docs", client=client, create_collection=False)
    assert not client.collection_exists("docs")
    client.close()


def test_every_core_option_is_named_once() -> None:
    names = store_option_names()
    assert len(names) == len(set(names))
    assert {"path", "client", "aclient", "host", "prefetch_limit", "create_collection"} <= set(names)
    assert "collection_options" in inspect.signature(MultiVectorStore.__init__).parameters


def test_async_calls_with_an_injected_client_see_the_sync_writes() -> None:
    client = QdrantClient(":memory:")
    store = MultiVectorStore(_fake(), "docs", client=client)
    store.add_texts(["red apples"], ids=["a"])
    assert asyncio.run(store.acount()) == 1
    store.close()
    client.close()
