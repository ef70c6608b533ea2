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

Transport: one pooled :class:`httpx.Client` and one :class:`httpx.AsyncClient` (per event loop) per instance,
created on first use (no I/O in ``__init__``) and closed by :meth:`~InfinityEmbeddings.close` /
:meth:`~InfinityEmbeddings.aclose` or the context managers. Connect errors, timeouts, dropped connections, 429 and
5xx answers are retried ``max_retries`` times with exponential backoff and jitter, honouring ``Retry-After``; other
4xx answers, malformed bodies and ``hidden_dim`` mismatches raise :class:`~multivec.errors.InfinityError` at once.
Requests are split to the server's limits (32 images / 2048 texts). All-zero padding rows, which the server adds
when it batches requests together, are stripped, so the same input always gives the same vectors.

base64 answers are decoded zero-copy (``numpy.frombuffer`` over the decoded buffer; SIMD-fast when ``pybase64`` is
installed, the standard library otherwise).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from PIL import Image
from tenacity import AsyncRetrying, RetryCallState, Retrying, stop_after_attempt, wait_exponential, wait_random
from tenacity.retry import retry_if_exception, retry_if_result
from tenacity.wait import wait_base

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

T = TypeVar("T")


@dataclass(frozen=True)
class _Call:
    """One HTTP request of a flow (absolute URL)."""

    method: str
    url: str
    json: dict[str, Any] | None = None


#: A protocol flow: yields batches of requests, receives their successful responses, returns a result.
_Flow = Generator[list[_Call], list[httpx.Response], T]


class _wait_retry_after(wait_base):
    """Wait what the server's ``Retry-After`` asks (capped), else the exponential backoff with jitter."""

    def __init__(self, backoff: wait_base, cap: float) -> None:
        self.backoff = backoff
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            retry_after = proto.parse_retry_after(outcome.result().headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.cap)
        return float(self.backoff(retry_state))


def _last_outcome(retry_state: RetryCallState) -> Any:
    """When retries run out: return the last response (mapped to an error later) or re-raise the last exception."""
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
    - ``timeout`` (seconds, per request), ``max_retries`` (retries after the first attempt), ``backoff_initial`` /
      ``backoff_max`` (seconds), ``max_retry_after`` (cap on a server's ``Retry-After``).
    - ``api_key``: sent as ``Authorization: Bearer …``; default env ``INFINITY_API_KEY``. Never shown in ``repr`` or
      logs. ``headers``: extra HTTP headers. ``max_connections``: connection-pool size per client.
    - ``max_images_per_request`` (≤ 32 on Infinity 0.0.78) and ``max_texts_per_request`` (server's
      ``INFINITY_MAX_CLIENT_BATCH_SIZE``, default 2048): larger inputs are split into several requests.
    - ``embed_batch_size`` / ``max_concurrency``: chunking of the ``*_batch`` methods (see the base class); the
      async methods also send a split request's parts ``max_concurrency`` at a time.

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
        parsed = httpx.URL(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(f"url must be an http(s) URL such as {DEFAULT_URL!r}, got {url!r}")
        if encoding not in ("base64", "float"):
            raise ConfigurationError(f"encoding must be 'base64' or 'float', got {encoding!r}")
        if hidden_dim == "auto":
            hidden_dim = None
        if hidden_dim is not None and (
            not isinstance(hidden_dim, int) or isinstance(hidden_dim, bool) or hidden_dim < 1
        ):
            raise ConfigurationError(f"hidden_dim must be a positive int, 'auto' or None, got {hidden_dim!r}")
        for name, value in (("timeout", timeout), ("backoff_max", backoff_max), ("max_retry_after", max_retry_after)):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(backoff_initial, int | float) or backoff_initial < 0:
            raise ConfigurationError(f"backoff_initial must be >= 0 seconds, got {backoff_initial!r}")
        for name, count in (
            ("max_retries", max_retries),
            ("max_connections", max_connections - 1),
            ("max_images_per_request", max_images_per_request - 1),
            ("max_texts_per_request", max_texts_per_request - 1),
        ):
            if not isinstance(count, int) or count < 0:
                raise ConfigurationError(
                    f"{name} must be a {'non-negative' if name == 'max_retries' else 'positive'} int"
                )
        if url_prefix and not url_prefix.startswith("/"):
            raise ConfigurationError(f"url_prefix must start with '/', e.g. '/v1', got {url_prefix!r}")

        self.url = url.rstrip("/")
        self.url_prefix = url_prefix.rstrip("/")
        self.encoding: Literal["base64", "float"] = encoding
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.normalize = normalize
        self.check_model = check_model
        self.backoff_initial = float(backoff_initial)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.max_connections = max_connections
        self.max_images_per_request = max_images_per_request
        self.max_texts_per_request = max_texts_per_request
        self._hidden_dim: int | None = hidden_dim
        self._model_info: ModelInfo | None = None
        self._capabilities: ModelInfo | None = None
        self._headers = {"Accept": "application/json", **dict(headers or {})}
        api_key = api_key if api_key is not None else os.environ.get("INFINITY_API_KEY")
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        dim = self._hidden_dim if self._hidden_dim is not None else "'auto'"
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, url={self.url!r}, "
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
        """``True`` if ``GET /health`` answers 200 (one attempt, no retries; never raises for a down server)."""
        try:
            return self._sync_client().get(self._root("/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def ahealth(self) -> bool:
        """Async twin of :meth:`health`."""
        try:
            return (await self._async_client().get(self._root("/health"))).status_code == 200
        except httpx.HTTPError:
            return False

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
            response.content, expected=1, hidden_dim=None, url=call.url, status=response.status_code
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

    def _retry_policy(self) -> dict[str, Any]:
        """One retry policy for :class:`tenacity.Retrying` and :class:`tenacity.AsyncRetrying`."""
        # initial * 2**(n-1), capped, plus up to `initial` of random jitter (spreads clients that failed together)
        backoff = wait_exponential(multiplier=self.backoff_initial, max=self.backoff_max) + wait_random(
            0, self.backoff_initial
        )
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": _wait_retry_after(backoff, self.max_retry_after),
            "retry": retry_if_exception(proto.is_retryable_exception)
            | retry_if_result(lambda response: proto.is_retryable_status(response.status_code)),
            "before_sleep": self._log_retry,
            "retry_error_callback": _last_outcome,
        }

    def _log_retry(self, retry_state: RetryCallState) -> None:
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        logger.warning(
            "Infinity request to %s failed (%s); retry %d/%d in %.2fs",
            retry_state.args[1] if len(retry_state.args) > 1 else self.url,
            _describe(retry_state),
            retry_state.attempt_number,
            self.max_retries,
            delay,
        )

    def _finish(self, call: _Call, response: httpx.Response, attempts: int) -> httpx.Response:
        if response.is_success:
            return response
        raise proto.error_from_response(
            response.status_code, response.content, url=call.url, model=self.model_name, attempts=attempts
        )

    def _send(self, call: _Call) -> httpx.Response:
        retrying = Retrying(**self._retry_policy())
        try:
            response = retrying(self._sync_client().request, call.method, call.url, json=call.json)
        except httpx.TransportError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise proto.error_from_transport(exc, url=call.url, attempts=attempts) from exc
        return self._finish(call, response, retrying.statistics.get("attempt_number", 1))

    async def _asend(self, call: _Call) -> httpx.Response:
        retrying = AsyncRetrying(**self._retry_policy())
        try:
            response: httpx.Response = await retrying(
                self._async_client().request, call.method, call.url, json=call.json
            )
        except httpx.TransportError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise proto.error_from_transport(exc, url=call.url, attempts=attempts) from exc
        return self._finish(call, response, retrying.statistics.get("attempt_number", 1))

    def _drive(self, flow: _Flow[T]) -> T:
        try:
            calls = next(flow)
            while True:
                calls = flow.send([self._send(call) for call in calls])
        except StopIteration as stop:
            return stop.value

    async def _adrive(self, flow: _Flow[T]) -> T:
        try:
            calls = next(flow)
            while True:
                calls = flow.send(await self._asend_all(calls))
        except StopIteration as stop:
            return stop.value

    async def _asend_all(self, calls: list[_Call]) -> list[httpx.Response]:
        if len(calls) == 1:
            return [await self._asend(calls[0])]
        return await _bounded_gather([functools.partial(self._asend, call) for call in calls], self.max_concurrency)

    # -- connection pools ----------------------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        return {
            "timeout": httpx.Timeout(self.timeout),
            "headers": self._headers,
            "limits": httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections
            ),
        }

    def _sync_client(self) -> httpx.Client:
        client = self._client
        if client is None or client.is_closed:
            with self._lock:
                if self._client is None or self._client.is_closed:
                    self._client = httpx.Client(**self._client_options())
                    weakref.finalize(self, self._client.close)  # an instance dropped without close() frees sockets
                client = self._client
        return client

    def _async_client(self) -> httpx.AsyncClient:
        """The AsyncClient of the running event loop (connections cannot be shared between loops)."""
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None or client.is_closed:
            client = self._aclients[loop] = httpx.AsyncClient(**self._client_options())
        return client

    def close(self) -> None:
        """Close the pooled connections (async clients too, without awaiting: prefer :meth:`aclose` in async code).

        The instance stays usable: a later call opens new connections.
        """
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._aclients.clear()
        super().close()

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client.

        Code that runs several event loops (e.g. repeated ``asyncio.run``) should call this before each loop ends:
        connections of a finished loop cannot be closed from another one and are only dropped.
        """
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()


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
