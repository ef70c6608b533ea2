"""A small fault-injecting, Infinity-shaped HTTP server on 127.0.0.1 for client tests.

It answers ``GET /health``, ``GET /models`` and ``POST /embeddings`` like Infinity 0.0.78 (``encoding_format``
float or base64, padded batches), and lets a test script what the next requests to a path get instead: any
status/body/headers, a delay (to provoke client timeouts), a connection reset, a truncated body, an invalid body, a
response trickled one byte at a time, or raw bytes that are not HTTP. A body can be computed from the request (to echo
its headers back, or to change the shape of the default answer). Every request is recorded (method, path, headers,
JSON body), so tests can assert retry counts and what was sent.

Default embeddings are deterministic: :func:`expected_embedding` gives the unpadded multi-vector of an input, so a
test can check the client returns exactly that whatever padding the server added.

>>> from tests.support.fault_server import FaultServer, Reply
>>> with FaultServer(dim=4) as server:  # doctest: +SKIP
...     server.script("/embeddings", Reply(status=503), Reply(status=429, headers={"Retry-After": "0"}))
...     # the next two POST /embeddings fail, the third gets the default answer
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import numpy as np

__all__ = ["FaultServer", "Recorded", "Reply", "expected_embedding"]

Action = Literal["respond", "reset", "truncate", "close_early", "trickle", "trickle_body", "raw", "default"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Mapping[str, str]
    json: Any
    client_port: int = 0


@dataclass(frozen=True)
class Reply:
    """A scripted answer.

    ``action``: ``"respond"`` (status/body/headers after ``delay`` seconds), ``"reset"`` (close with TCP RST, no
    answer), ``"truncate"`` (announce the full body's length, send only its first half, close), ``"close_early"``
    (no ``Content-Length``, ``Connection: close``, only the first half of the body: a truncation the client cannot
    see), ``"trickle"`` (the whole response, status line included, one byte every ``interval`` seconds),
    ``"trickle_body"`` (status and headers at once, then the body one byte every ``interval`` seconds), ``"raw"``
    (``body`` bytes written as they are, then close: for answers that are not HTTP), ``"default"`` (the normal
    answer, after ``delay``; with a ``"trickle*"`` action the normal answer is trickled when ``body`` is ``None``).

    ``body`` may be bytes, a JSON-serialisable object, or a callable that gets the :class:`Recorded` request and
    returns either (to echo request headers back, or to alter the default answer).
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: Action = "respond"
    interval: float = 0.2


def expected_embedding(item: str, dim: int) -> np.ndarray:
    """The deterministic unpadded multi-vector the server returns for ``item``: 1–4 unit rows of size ``dim``."""
    digest = hashlib.sha256(item.encode("utf-8")).digest()
    rows = 1 + digest[0] % 4
    rng = np.random.default_rng(int.from_bytes(digest[1:9], "little"))
    arr = rng.standard_normal((rows, dim)).astype(np.float32)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


class FaultServer:
    """Threaded HTTP/1.1 (keep-alive) server; see the module docstring.

    ``dim``: vector size of default embeddings. ``padding``: ``"right"`` or ``"left"`` zero rows up to the longest
    item of each request (like ColPali / ColQwen2 on Infinity), or ``None``. ``models``: the ``/models`` list.
    """

    def __init__(
        self,
        *,
        dim: int = 8,
        padding: Literal["left", "right"] | None = "right",
        models: list[dict[str, Any]] | None = None,
    ) -> None:
        self.dim = dim
        self.padding = padding
        self.models = models or [{"id": "fake-model", "capabilities": ["embed", "image_embed"], "object": "model"}]
        self.requests: list[Recorded] = []
        self._scripts: dict[str, collections.deque[Reply]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # ends trickles still running when the test is over

    # -- control ----------------------------------------------------------------------------------------------------

    def script(self, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests to ``path``; afterwards the default answer resumes."""
        with self._lock:
            self._scripts[path].extend(replies)

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def recorded(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripts.clear()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FaultServer:
        server = self
        self.stopping.clear()

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- default answers --------------------------------------------------------------------------------------------

    def _next_reply(self, recorded: Recorded) -> Reply | None:
        with self._lock:
            self.requests.append(recorded)
            queue = self._scripts.get(recorded.path)
            return queue.popleft() if queue else None

    def default_answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/health" and method == "GET":
            return 200, {"unix": time.time()}
        if path.endswith("/models") and method == "GET":
            return 200, {"object": "list", "data": self.models}
        if path.endswith("/embeddings") and method == "POST":
            return 200, self.embeddings_answer(body)
        return 404, {"detail": "Not Found"}

    def embeddings_answer(
        self,
        body: Any,
        *,
        dim: int | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """The normal ``/embeddings`` answer to ``body``; ``dim`` overrides the vector size and ``transform`` alters
        each unpadded multi-vector (e.g. to put NaN in it) before padding and encoding."""
        dim = self.dim if dim is None else dim
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        arrays = [expected_embedding(item, dim) for item in inputs]
        if transform is not None:
            arrays = [transform(arr) for arr in arrays]
        longest = max(len(a) for a in arrays)
        data = []
        for index, arr in enumerate(arrays):
            if self.padding:
                pad = np.zeros((longest - len(arr), arr.shape[1]), np.float32)
                arr = np.vstack([arr, pad] if self.padding == "right" else [pad, arr])
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(arr.astype("<f4").tobytes()).decode("ascii")
            else:
                embedding = arr.tolist()
            data.append({"object": "embedding", "embedding": embedding, "index": index})
        return {"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": 1}}


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = Recorded(method, self.path, headers, body, self.client_address[1])
        reply = self.owner._next_reply(recorded) or Reply(action="default")
        if reply.delay:
            time.sleep(reply.delay)
        if reply.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        payload = reply.body(recorded) if callable(reply.body) else reply.body
        if reply.action == "raw":
            with contextlib.suppress(OSError):
                self.wfile.write(payload)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if reply.action == "default" or (reply.action.startswith("trickle") and payload is None):
            status, payload = self.owner.default_answer(method, self.path, body)
        else:
            status = reply.status
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}", "Content-Type: application/json"]
        if reply.action == "close_early":
            head.append("Connection: close")
        else:
            head.append(f"Content-Length: {len(data)}")
        head += [f"{key}: {value}" for key, value in reply.headers.items()]
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        with contextlib.suppress(OSError):
            if reply.action in ("trickle", "trickle_body"):
                if reply.action == "trickle_body":
                    self.wfile.write(raw_head)
                    self.wfile.flush()
                self._trickle(data if reply.action == "trickle_body" else raw_head + data, reply.interval)
            elif reply.action in ("truncate", "close_early"):
                self.wfile.write(raw_head + data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                self.wfile.write(raw_head + data)

    def _trickle(self, data: bytes, interval: float) -> None:
        """Send ``data`` one byte at a time; give up once the client is gone or the server stops."""
        for i in range(len(data)):
            if self.owner.stopping.wait(interval):
                break
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
        self.close_connection = True
