"""Multi-vector embeddings from an `Infinity <https://github.com/michaelfeil/infinity>`_ server.

:class:`InfinityEmbeddings` talks to ``infinity_emb v2`` (tested against 0.0.78) serving ColPali, ColQwen2,
ColIdefics2 or ColBERT-mode models, and returns float32 ``(n_tokens, dim)`` arrays like every multivec embedder.

Example (needs a running server; ``--served-model-name tiny-colpali`` here)::

    >>> from multivec.embeddings import InfinityEmbeddings
    >>> with InfinityEmbeddings(url="http://127.0.0.1:7997", model_name="tiny-colpali") as emb:  # doctest: +SKIP
    ...     query = emb.embed_query("what is late interaction?")
    ...     pages = emb.embed_images(["page1.png", "page2.png"])
    >>> query.shape  # doctest: +SKIP
    (23, 128)

What ``embed_query`` and ``embed_documents`` do, per model family served by Infinity:

==================================  ===========================================================================
ColPali / ColQwen2 / ColIdefics2    Infinity runs **every** text through ``processor.process_queries`` (query
                                    prefix and augmentation tokens), so ``embed_query``, ``embed_text`` and
                                    ``embed_documents`` give the same vectors; documents are meant to be images
                                    (``embed_images``). Rows are L2-normalised by the model; ``dim`` is 128.
ColBERT mode (``HF_ColBERT`` arch)  Text only, no ``[Q]``/``[D]`` markers and no query augmentation, so queries
                                    and documents are encoded alike. The server returns raw token states (not
                                    normalised, no projection, ``dim`` = the transformer's hidden size, e.g. 384):
                                    with ``normalize=True`` (default) the client scales each row to unit norm so
                                    MaxSim is a sum of cosines like for the other families; pass
                                    ``hidden_dim`` (or ``'auto'``).
Dense models                        One vector per input, returned as a single row ``(1, dim)``.
==================================  ===========================================================================

Transport: one pooled :class:`httpx.AsyncClient` per event loop and instance, created on first use (no I/O in
``__init__``) and closed by :meth:`~InfinityEmbeddings.close` / :meth:`~InfinityEmbeddings.aclose` or the context
managers. The sync methods send through the same async code, on one event loop that runs on a background thread:
that is what lets ``timeout`` bound them too (a blocking socket read cannot be cut short while a server trickles its
answer; an asyncio wait can, wherever it is — DNS, connect, headers or body).

Every call has one total deadline, ``timeout`` seconds: it covers all the requests of the call (model check, probe,
the chunks of a split input), every attempt, every wait between retries and the whole answer however slowly it
arrives; past it the call raises :class:`~multivec.errors.InfinityTimeoutError`. Connect errors, timeouts of one
attempt (``attempt_timeout``, ``connect_timeout``), dropped connections, 429 and 5xx answers are retried
``max_retries`` times with exponential backoff and jitter, honouring ``Retry-After``, as long as the deadline allows:
no retry starts, and no wait begins, that could not end before it. Other 4xx answers, malformed bodies and answers
whose shape differs from what the model sent before raise :class:`~multivec.errors.InfinityError` at once. Requests
are split to the server's limits (32 images / 2048 texts). All-zero padding rows, which the server adds when it
batches requests together, are stripped, so the same input always gives the same vectors.

The API key and the values of ``headers`` are secrets: they are replaced by ``[redacted]`` in every error message,
``server_message`` and log line, also when a server or proxy echoes the request's headers back.

base64 answers are decoded zero-copy (``numpy.frombuffer`` over the decoded buffer; SIMD-fast when ``pybase64`` is
installed, the standard library otherwise).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import numbers
import os
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from PIL import Image
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential, wait_random
from tenacity.retry import retry_if_exception, retry_if_result
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from multivec import telemetry
from multivec._flow import run_async, run_sync
from multivec._options import boolean, choice, number, positive_int
from multivec.embeddings import _infinity_protocol as proto
from multivec.embeddings.base import MultiVectorMultiModalEmbedding
from multivec.errors import ConfigurationError, InfinityError
from multivec.images import DEFAULT_MAX_PIXELS
from multivec.types import Embedding

__all__ = ["DEFAULT_MODEL", "DEFAULT_URL", "InfinityEmbeddings", "ModelInfo"]

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://localhost:7997"
DEFAULT_MODEL = "michaelfeil/colqwen2-v0.1"
ModelInfo = proto.ModelInfo

#: Longest accepted for any duration option (a week): a longer one is a mistake (e.g. milliseconds for seconds).
MAX_SECONDS = 7 * 24 * 3600.0
#: Secrets shorter than this are not redacted (they would mangle every message; no real key is that short).
MIN_SECRET_LENGTH = 4

T = TypeVar("T")


@dataclass(frozen=True)
class _Call:
    """One HTTP request of a flow (absolute URL)."""

    method: str
    url: str
    json: dict[str, Any] | None = None


#: A protocol flow: yields batches of requests, receives their successful responses, returns a result.
_Flow = Generator[list[_Call], list[httpx.Response], T]


@dataclass(frozen=True)
class _Deadline:
    """The end of one call's time budget, on the monotonic clock."""

    seconds: float
    end: float

    @classmethod
    def start(cls, seconds: float) -> _Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.end - time.monotonic()


class _wait_retry_after(wait_base):
    """Wait what the server's ``Retry-After`` asks (capped), else the exponential backoff with jitter."""

    def __init__(self, backoff: wait_base, cap: float, deadline: _Deadline) -> None:
        self.backoff = backoff
        self.cap = cap
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        wait = None
        if outcome is not None and not outcome.failed:
            retry_after = proto.parse_retry_after(outcome.result().headers.get("Retry-After"))
            if retry_after is not None:
                wait = min(retry_after, self.cap)
        if wait is None:
            wait = float(self.backoff(retry_state))
        # never sleep past the deadline (the stop below ends the retries when a wait would reach it)
        return max(0.0, min(wait, self.deadline.remaining()))


class _stop_at_deadline(stop_base):
    """Stop retrying when the next wait would end at or after the deadline: that retry could not finish in time."""

    def __init__(self, deadline: _Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.deadline.remaining() <= getattr(retry_state, "upcoming_sleep", 0.0)


def _last_outcome(retry_state: RetryCallState) -> Any:
    """When retries stop: return the last response (mapped to an error later) or re-raise the last exception."""
    assert retry_state.outcome is not None
    return retry_state.outcome.result()


def _describe(retry_state: RetryCallState) -> str:
    outcome = retry_state.outcome
    if outcome is None:
        return "unknown"
    if outcome.failed:
        exc = outcome.exception()
        return f"{type(exc).__name__}: {exc}"
    return f"HTTP {outcome.result().status_code}"


# -- option checks -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110 token)
#: A header value httpx and h11 accept: printable ASCII, inner spaces and tabs only (CR/LF would inject headers)
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?")
_URL_PATH = re.compile(r"(?:/[\w.~!$&'()*+,;=:@%-]*)*", re.ASCII)


def _seconds(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """A duration option: a finite number of seconds, > 0 (>= 0 with ``allow_zero``), at most :data:`MAX_SECONDS`."""
    return number(value, name, minimum=0, maximum=MAX_SECONDS, open_minimum=not allow_zero)


def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise ConfigurationError(f"max_retries must be a non-negative int, got {value!r}")
    return int(value)


def _header_value(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
        raise ConfigurationError(
            f"{name} must be a str of printable ASCII characters, without line breaks, control characters or "
            f"leading/trailing spaces, got {value!r}"
        )
    return value


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"headers must be a mapping of header names to values, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ConfigurationError(f"headers: {key!r} is not a valid HTTP header name")
        _header_value(f"headers[{key!r}]", item)
    return dict(value)


def _url(value: Any) -> httpx.URL:
    try:
        parsed = httpx.URL(value) if isinstance(value, str) else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.query or parsed.fragment:
        raise ConfigurationError(
            f"url must be an http(s) URL without query or fragment, such as {DEFAULT_URL!r}, got {value!r}"
        )
    return parsed


# -- the event loop of the sync methods ----------------------------------------------------------------------------


class _LoopThread:
    """An asyncio event loop on a daemon thread, started on first use (and again in a forked child)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._forget()
        if hasattr(os, "register_at_fork"):  # a forked child has the loop object but not its thread
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
                self._thread.start()
            return self._loop

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        return loop is self._loop

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for it; cancel it if the wait is interrupted (e.g. Ctrl-C)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop())
        try:
            return future.result(min(timeout, threading.TIMEOUT_MAX))
        except BaseException:
            future.cancel()
            raise


_IO = _LoopThread("multivec-infinity-io")
_CLOSING: set[asyncio.Future[Any]] = set()  # keeps close tasks scheduled by finalizers alive until they are done


def _close_soon(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
    """Close ``client`` on ``loop`` without waiting (safe from any thread, also the loop's own, e.g. in a finalizer)."""

    def schedule() -> None:
        task = asyncio.ensure_future(client.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    if not loop.is_closed():
        loop.call_soon_threadsafe(schedule)


class InfinityEmbeddings(MultiVectorMultiModalEmbedding):
    """Client for an Infinity server serving a multi-vector (ColPali/ColQwen2/ColBERT-mode) model.

    Options:

    - ``url``: server root (``/health`` lives here); default env ``INFINITY_API_URL``, else
      ``http://localhost:7997``. ``url_prefix``: Infinity's ``INFINITY_URL_PREFIX`` (e.g. ``"/v1"``), put before
      ``/embeddings`` and ``/models``.
    - ``model_name``: the served model name (``--served-model-name``); default ``michaelfeil/colqwen2-v0.1``.
    - ``encoding``: ``"base64"`` (default, compact and fast) or ``"float"`` (JSON lists).
    - ``hidden_dim``: vector size used to reshape base64 answers; 128 (ColPali/ColQwen2). ``None`` or ``"auto"``
      detects it on first use (from a float answer, or one small float probe request when ``encoding="base64"``).
    - ``normalize``: scale rows to unit L2 norm when they are not already (only ColBERT-mode rows change).
    - ``check_model``: before the first embedding request, fetch ``/models`` once and fail clearly if
      ``model_name`` is not served, or cannot embed images when images are sent (Infinity serving one model
      ignores the requested name, so without this check a wrong name silently uses whatever is served); with
      ``encoding="base64"`` also verify ``hidden_dim`` with one small float probe, because a wrong size that
      happens to divide the flat buffer would otherwise reshape silently into wrong vectors.
    - ``timeout`` (seconds): the **total deadline of each call** — every request of it (model check, probe, the
      chunks of a split input), every attempt, every wait between retries and the whole answer, however slowly the
      server sends it. Past it the call raises :class:`~multivec.errors.InfinityTimeoutError`. Large inputs split
      into several requests share it: raise it for them, or use the ``*_batch`` methods (one deadline per chunk).
    - ``attempt_timeout`` (seconds, default: the rest of ``timeout``): the most one attempt may take; a slower one
      is abandoned and retried while the deadline allows. ``connect_timeout`` (default 10 s): the most opening a
      connection may take. Both are cut to what is left of the deadline.
    - ``max_retries`` (retries after the first attempt), ``backoff_initial`` / ``backoff_max`` (seconds),
      ``max_retry_after`` (cap on a server's ``Retry-After``). No retry starts, and no wait begins, that could not
      end before the deadline.
    - ``api_key``: sent as ``Authorization: Bearer …``; default env ``INFINITY_API_KEY``. ``headers``: extra HTTP
      headers (names and printable-ASCII values). The key and the header values (of 4 characters or more) are
      never shown in ``repr``, error messages or logs, also when a server echoes them back.
      ``max_connections``: connection-pool size per client.
    - ``max_images_per_request`` (≤ 32 on Infinity 0.0.78) and ``max_texts_per_request`` (server's
      ``INFINITY_MAX_CLIENT_BATCH_SIZE``, default 2048): larger inputs are split into several requests.
    - ``embed_batch_size`` / ``max_concurrency``: chunking of the ``*_batch`` methods (see the base class); the
      async methods also send a split request's parts ``max_concurrency`` at a time.

    An invalid option raises :class:`~multivec.errors.ConfigurationError` naming it.

    >>> emb = InfinityEmbeddings(url="http://127.0.0.1:7997", model_name="tiny-colpali", api_key="s3cret")
    >>> emb  # no I/O happened; the key is not shown
    InfinityEmbeddings(model_name='tiny-colpali', url='http://127.0.0.1:7997', encoding='base64', hidden_dim=128)
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        model_name: str = DEFAULT_MODEL,
        encoding: Literal["base64", "float"] = "base64",
        hidden_dim: int | Literal["auto"] | None = 128,
        timeout: float = 60.0,
        attempt_timeout: float | None = None,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        embed_batch_size: int = 10,
        max_concurrency: int = 4,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        url_prefix: str = "",
        normalize: bool = True,
        check_model: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        max_retry_after: float = 60.0,
        max_connections: int = 16,
        max_images_per_request: int = proto.MAX_IMAGES_PER_REQUEST,
        max_texts_per_request: int = proto.MAX_TEXTS_PER_REQUEST,
        allow_urls: bool = False,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(
            model_name=model_name,
            embed_batch_size=embed_batch_size,
            max_concurrency=max_concurrency,
            allow_urls=allow_urls,
            max_image_pixels=max_image_pixels,
        )
        url = url or os.environ.get("INFINITY_API_URL") or DEFAULT_URL
        parsed = _url(url)
        choice(encoding, "encoding", ("base64", "float"))
        if isinstance(hidden_dim, str) and hidden_dim == "auto":
            hidden_dim = None
        if hidden_dim is not None:
            if isinstance(hidden_dim, bool) or not isinstance(hidden_dim, numbers.Integral) or hidden_dim < 1:
                raise ConfigurationError(f"hidden_dim must be a positive int, 'auto' or None, got {hidden_dim!r}")
            hidden_dim = int(hidden_dim)
        if not isinstance(url_prefix, str) or not _URL_PATH.fullmatch(url_prefix):
            raise ConfigurationError(
                f"url_prefix must start with '/' and be a URL path, e.g. '/v1', got {url_prefix!r}"
            )

        self.url = url.rstrip("/")
        self.url_prefix = url_prefix.rstrip("/")
        self.encoding: Literal["base64", "float"] = encoding
        self.timeout = _seconds("timeout", timeout)
        self.attempt_timeout = None if attempt_timeout is None else _seconds("attempt_timeout", attempt_timeout)
        self.connect_timeout = _seconds("connect_timeout", connect_timeout)
        self.max_retries = _retries(max_retries)
        self.normalize = boolean(normalize, "normalize")
        self.check_model = boolean(check_model, "check_model")
        self.backoff_initial = _seconds("backoff_initial", backoff_initial, allow_zero=True)
        self.backoff_max = _seconds("backoff_max", backoff_max)
        self.max_retry_after = _seconds("max_retry_after", max_retry_after)
        self.max_connections = positive_int(max_connections, "max_connections")
        self.max_images_per_request = positive_int(max_images_per_request, "max_images_per_request")
        self.max_texts_per_request = positive_int(max_texts_per_request, "max_texts_per_request")
        self._hidden_dim: int | None = hidden_dim
        self._rows = proto.RowContract()
        self._model_info: ModelInfo | None = None
        self._capabilities: ModelInfo | None = None
        self._headers = httpx.Headers({"Accept": "application/json"})
        self._headers.update(_headers(headers))  # case-insensitive: a user's "accept" replaces ours
        api_key = api_key if api_key is not None else os.environ.get("INFINITY_API_KEY")
        if api_key:
            self._headers["Authorization"] = f"Bearer {_header_value('api_key', api_key)}"
        elif api_key is not None and not isinstance(api_key, str):
            raise ConfigurationError(f"api_key must be a str, got {type(api_key).__name__}")
        secrets = {api_key, *(headers or {}).values(), parsed.password, parsed.userinfo.decode("ascii", "replace")}
        if api_key:
            secrets.add(f"Bearer {api_key}")
        #: Values never shown in messages or logs, longest first (so "Bearer <key>" goes before "<key>").
        self._secrets = sorted((x for x in secrets if x and len(x) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        dim = self._hidden_dim if self._hidden_dim is not None else "'auto'"
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, url={self._redact(self.url)!r}, "
            f"encoding={self.encoding!r}, hidden_dim={dim})"
        )

    # -- contract primitives -------------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Vector size. With ``hidden_dim='auto'`` this sends one probe request the first time it is read."""
        if self._hidden_dim is None:
            self._drive(self._ready_flow("text"))
        assert self._hidden_dim is not None
        return self._hidden_dim

    @property
    def supports_images(self) -> bool:
        """Whether the served model embeds images (its ``image_embed`` capability).

        Asks ``GET /models`` the first time it is read and remembers the answer. Callers such as
        :meth:`multivec.store.MultiVectorStore.add_pdfs` use it to index a text-only model's PDF pages by their
        text layer instead of as images.
        """
        if self._capabilities is None:
            self._capabilities = proto.require_served(self.models(), self.model_name, images=False, url=self.url)
        return self._capabilities.supports_images

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        # Infinity has no query/document distinction on the wire; see the module docstring.
        return self._drive(self._embed_flow(texts, "text"))

    async def _aembed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return await self._adrive(self._embed_flow(texts, "text"))

    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        return self._drive(self._embed_flow(proto.image_inputs(images), "image"))

    async def _aembed_images(self, images: list[Image.Image]) -> list[Embedding]:
        uris = await asyncio.to_thread(proto.image_inputs, images)  # PNG encoding is CPU work: off the loop
        return await self._adrive(self._embed_flow(uris, "image"))

    # -- server helpers ------------------------------------------------------------------------------------------

    def health(self) -> bool:
        """``True`` if ``GET /health`` answers 200 within ``timeout`` (one attempt; never raises for a down server)."""
        try:
            return _IO.run(self.ahealth(), self.timeout + 1.0)
        except concurrent.futures.TimeoutError:
            return False

    async def ahealth(self) -> bool:
        """Async twin of :meth:`health`."""
        try:
            response = await asyncio.wait_for(self._async_client().get(self._root("/health")), self.timeout)
        except (httpx.HTTPError, asyncio.TimeoutError):
            return False
        return response.status_code == 200

    def models(self) -> list[ModelInfo]:
        """The served models (``GET /models``): ids and capabilities. Raises :class:`InfinityError` on failure."""
        return self._drive(self._models_flow())

    async def amodels(self) -> list[ModelInfo]:
        """Async twin of :meth:`models`."""
        return await self._adrive(self._models_flow())

    # -- flows: all protocol logic, shared by sync and async -----------------------------------------------------

    def _root(self, path: str) -> str:
        return f"{self.url}{path}"

    def _api(self, path: str) -> str:
        return f"{self.url}{self.url_prefix}{path}"

    def _models_flow(self) -> _Flow[list[ModelInfo]]:
        call = _Call("GET", self._api("/models"))
        (response,) = yield [call]
        payload = proto.decode_json(response.content, url=call.url, status=response.status_code)
        return proto.parse_models(payload, url=call.url)

    def _probe_flow(self) -> _Flow[None]:
        """Learn (or verify) ``hidden_dim`` from one float-encoded text request."""
        body = proto.build_embeddings_body([proto.PROBE_TEXT], model=self.model_name, modality="text", encoding="float")
        call = _Call("POST", self._api("/embeddings"), body)
        (response,) = yield [call]
        (arr,) = proto.parse_embeddings_body(
            response.content,
            expected=1,
            hidden_dim=None,
            url=call.url,
            status=response.status_code,
            contract=self._rows,
        )
        self._learn_dim(arr.shape[1], call.url)

    def _ready_flow(self, modality: proto.Modality) -> _Flow[None]:
        """Once per instance: check the model is served (``check_model``) and make sure ``hidden_dim`` is right.

        base64 answers carry no shape, so a wrong ``hidden_dim`` that happens to divide the length would reshape
        silently into wrong vectors; one float probe rules that out (and learns the size under ``'auto'``).
        """
        if self.check_model and self._model_info is None:
            models = yield from self._models_flow()
            info = proto.require_served(models, self.model_name, images=False, url=self.url)
            if self.encoding == "base64":
                yield from self._probe_flow()
            self._model_info = info
        if modality == "image" and self._model_info is not None:
            proto.require_served([self._model_info], self.model_name, images=True, url=self.url)
        if self._hidden_dim is None and self.encoding == "base64":
            yield from self._probe_flow()

    def _embed_flow(self, inputs: list[str], modality: proto.Modality) -> _Flow[list[Embedding]]:
        yield from self._ready_flow(modality)
        limit = self.max_images_per_request if modality == "image" else self.max_texts_per_request
        chunks = proto.chunked(inputs, limit)
        calls = [
            _Call(
                "POST",
                self._api("/embeddings"),
                proto.build_embeddings_body(chunk, model=self.model_name, modality=modality, encoding=self.encoding),
            )
            for chunk in chunks
        ]
        responses = yield calls
        out: list[Embedding] = []
        for chunk, call, response in zip(chunks, calls, responses, strict=True):
            arrays = proto.parse_embeddings_body(
                response.content,
                expected=len(chunk),
                hidden_dim=self._hidden_dim,
                normalize=self.normalize,
                url=call.url,
                status=response.status_code,
                contract=self._rows,
            )
            for arr in arrays:
                self._learn_dim(arr.shape[1], call.url)
            out.extend(arrays)
        return out

    def _learn_dim(self, width: int, url: str) -> None:
        if self._hidden_dim is None:
            self._hidden_dim = width
        elif self._hidden_dim != width:
            raise InfinityError(
                f"hidden_dim mismatch: model {self.model_name!r} sends vectors of size {width}, but "
                f"hidden_dim={self._hidden_dim}. Pass hidden_dim={width} (or hidden_dim='auto')",
                url=url,
            )

    # -- sending: the only part that differs between sync and async ----------------------------------------------

    def _retry_policy(self, deadline: _Deadline) -> dict[str, Any]:
        """The retry policy of one request under the call's deadline."""
        # initial * 2**(n-1), capped, plus up to `initial` of random jitter (spreads clients that failed together)
        backoff = wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max) + wait_random(
            0, self.backoff_initial
        )
        return {
            "stop": stop_after_attempt(self.max_retries + 1) | _stop_at_deadline(deadline),
            "wait": _wait_retry_after(backoff, self.max_retry_after, deadline),
            "retry": retry_if_exception(proto.is_retryable_exception)
            | retry_if_result(lambda response: proto.is_retryable_status(response.status_code)),
            "before_sleep": self._log_retry,
            "retry_error_callback": _last_outcome,
        }

    def _log_retry(self, retry_state: RetryCallState) -> None:
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        logger.warning(
            "Infinity request to %s failed (%s); retry %d/%d in %.2fs",
            self._redact(retry_state.args[0].url if retry_state.args else self.url),
            self._redact(_describe(retry_state)),
            retry_state.attempt_number,
            self.max_retries,
            delay,
        )

    async def _attempt(self, call: _Call, deadline: _Deadline) -> httpx.Response:
        """One attempt, cut off at ``attempt_timeout`` or the deadline (a stalled attempt becomes a retryable error)."""
        budget = deadline.remaining()
        if self.attempt_timeout is not None:
            budget = min(budget, self.attempt_timeout)
        client = self._async_client()
        timeout = httpx.Timeout(max(budget, 0.001), connect=max(min(self.connect_timeout, budget), 0.001))
        request = client.build_request(call.method, call.url, json=call.json, timeout=timeout)
        if budget <= 0:
            raise httpx.TimeoutException("no time left before the call's deadline", request=request)
        try:
            return await asyncio.wait_for(client.send(request), budget)
        except asyncio.TimeoutError:
            raise httpx.TimeoutException(f"no complete answer within {budget:.3g}s", request=request) from None

    async def _asend(self, call: _Call, deadline: _Deadline) -> httpx.Response:
        """Send ``call`` with retries, within ``deadline``; errors come out as :class:`InfinityError`."""
        if deadline.remaining() <= 0:  # earlier requests of the call used it all
            raise proto.timeout_error(url=call.url, deadline=deadline.seconds, attempts=0)
        retrying = AsyncRetrying(**self._retry_policy(deadline))
        try:
            response: httpx.Response = await retrying(self._attempt, call, deadline)
        except httpx.HTTPError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            telemetry.add_retries(attempts - 1)
            if proto.is_retryable_exception(exc) and self._out_of_time(deadline, attempts):
                last = f"{type(exc).__name__}: {exc}"
                raise proto.timeout_error(
                    url=call.url, deadline=deadline.seconds, attempts=attempts, last=last
                ) from exc
            raise proto.error_from_transport(exc, url=call.url, attempts=attempts) from exc
        attempts = retrying.statistics.get("attempt_number", 1)
        telemetry.add_retries(attempts - 1)
        if response.is_success:
            return response
        if proto.is_retryable_status(response.status_code) and self._out_of_time(deadline, attempts):
            message = proto.server_message(response.content, self._secrets)
            raise proto.timeout_error(
                url=call.url,
                deadline=deadline.seconds,
                attempts=attempts,
                last=f"HTTP {response.status_code}" + (f": {message}" if message else ""),
                server_message=message,
            )
        raise proto.error_from_response(
            response.status_code,
            response.content,
            url=call.url,
            model=self.model_name,
            attempts=attempts,
            secrets=self._secrets,
        )

    def _out_of_time(self, deadline: _Deadline, attempts: int) -> bool:
        """Whether a retryable failure ended the retries because of the deadline (not because they ran out)."""
        return attempts <= self.max_retries or deadline.remaining() <= 0

    def _send(self, call: _Call, deadline: _Deadline) -> httpx.Response:
        # the coroutine bounds itself; the extra second only guards against a loop that stopped running
        # carry: the loop thread counts retries against, and traces under, the caller's operation
        return _IO.run(telemetry.carry(self._asend(call, deadline)), max(deadline.remaining(), 0.0) + 1.0)

    def _drive(self, flow: _Flow[T]) -> T:
        deadline = _Deadline.start(self.timeout)
        try:
            return run_sync(flow, lambda calls: [self._send(call, deadline) for call in calls])
        except concurrent.futures.TimeoutError:
            raise proto.timeout_error(url=self.url, deadline=self.timeout, attempts=0) from None
        except InfinityError as err:
            self._scrub(err)
            raise

    async def _adrive(self, flow: _Flow[T]) -> T:
        deadline = _Deadline.start(self.timeout)
        try:
            return await run_async(flow, functools.partial(self._asend_all, deadline=deadline))
        except InfinityError as err:
            self._scrub(err)
            raise

    async def _asend_all(self, calls: list[_Call], deadline: _Deadline) -> list[httpx.Response]:
        if len(calls) == 1:
            return [await self._asend(calls[0], deadline)]
        factories: list[Callable[[], Awaitable[httpx.Response]]] = [
            functools.partial(self._asend, call, deadline) for call in calls
        ]
        return await _bounded_gather(factories, self.max_concurrency)

    # -- secrets ---------------------------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return proto.redact(text, self._secrets)

    def _scrub(self, err: BaseException) -> None:
        """Redact the secrets from ``err`` and every exception it chains to, in place, before the caller sees it."""
        pending: list[BaseException | None] = [err]
        seen: set[int] = set()
        while pending:
            exc = pending.pop()
            if exc is None or id(exc) in seen:
                continue
            seen.add(id(exc))
            exc.args = tuple(self._redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
            if isinstance(exc, InfinityError):
                exc.server_message = exc.server_message and self._redact(exc.server_message)
                exc.url = exc.url and self._redact(exc.url)
            pending += [exc.__cause__, exc.__context__]

    # -- connection pools ----------------------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        return {
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "headers": self._headers,
            "limits": httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections
            ),
        }

    def _async_client(self) -> httpx.AsyncClient:
        """The AsyncClient of the running event loop (connections cannot be shared between loops)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(loop)
            if client is None or client.is_closed:
                client = self._aclients[loop] = httpx.AsyncClient(**self._client_options())
                if _IO.owns(loop):  # an instance dropped without close() frees its sockets
                    weakref.finalize(self, _close_soon, loop, client)
        return client

    def close(self) -> None:
        """Close the pooled connections (those of other event loops without awaiting: prefer :meth:`aclose` there).

        The instance stays usable: a later call opens new connections.
        """
        with self._lock:
            clients = list(self._aclients.items())
            self._aclients.clear()
        for loop, client in clients:
            if _IO.owns(loop) and not _IO.on_thread():
                try:
                    _IO.run(client.aclose(), 5.0)
                except Exception:  # a connection that fails to close cleanly is dropped all the same
                    logger.debug("closing an Infinity connection pool failed", exc_info=True)
            elif _IO.owns(loop):
                _close_soon(loop, client)
        super().close()

    async def aclose(self) -> None:
        """Close this event loop's client, then the others (see :meth:`close`).

        Code that runs several event loops (e.g. repeated ``asyncio.run``) should call this before each loop ends:
        connections of a finished loop cannot be closed from another one and are only dropped.
        """
        with self._lock:
            client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        await asyncio.to_thread(self.close)


async def _bounded_gather(factories: list[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the awaitables ``limit`` at a time, in order; on the first failure cancel the rest and raise it."""
    semaphore = asyncio.Semaphore(limit)

    async def run(factory: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await factory()

    tasks = [asyncio.ensure_future(run(factory)) for factory in factories]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
