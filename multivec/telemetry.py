"""Metrics and tracing: OpenTelemetry spans and metrics, and the in-process numbers behind ``stats()``.

Every embedder call and every store operation is observed once, in one place each (the embedders' primitives in
:mod:`multivec.embeddings.base`, the store's flow driver and its engine calls in :mod:`multivec.store.store`), the
same way for sync and async calls:

- **In process**, always: a :class:`Recorder` per store and per embedder counts calls, items, tokens, bytes,
  retries and errors by type, and keeps the durations of the last ``window`` calls of each operation for p50/p95.
  ``store.stats()`` and ``embedder.stats()`` read it.
- **OpenTelemetry**, when ``opentelemetry-api`` is installed (``pip install "multivec-retrieval[otel]"``) and a
  real tracer or meter provider is set (the global ones, or those given to :func:`configure`): one span per
  operation and the metrics below. With nothing listening this costs a clock read and a comparison per call; a
  global provider set later is picked up within a second.

Span names are ``multivec.<component>.<operation>``: ``multivec.store.search``, ``multivec.store.add_texts``, ...
(one per store method), their engine requests ``multivec.engine.query``, ``multivec.engine.upsert``, ...
(:data:`ENGINE_OPERATIONS`), and ``multivec.embed.query``, ``multivec.embed.documents``, ``multivec.embed.images``
(one per model call: a batched call makes one span per chunk). Attributes (:data:`ATTRIBUTES`) are counts, sizes,
names of backends and classes, and error types: never content, vectors, ids, filters, URLs or keys.

Metrics (instrument names; attributes ``multivec.component``, ``multivec.operation``, ``multivec.backend`` or
``multivec.embedder``, and ``error.type`` on failures): ``multivec.operation.duration`` (histogram, seconds),
``multivec.operation.items``, ``multivec.operation.tokens``, ``multivec.operation.errors`` and
``multivec.operation.retries`` (counters).

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> emb = DeterministicFakeMultiVectorEmbedding(dim=8)
>>> _ = emb.embed_documents(["red apples", "blue cars"])
>>> documents = emb.stats().operations["documents"]
>>> documents.calls, documents.items, documents.tokens, documents.p50_ms is not None
(1, 2, 4, True)
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from multivec.embeddings.cache import CacheStats

try:  # the optional extra: without it every OpenTelemetry path below is skipped
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover - exercised where the extra is missing
    otel_context = otel_metrics = otel_trace = None  # type: ignore[assignment]

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_WINDOW",
    "ENGINE_OPERATIONS",
    "EmbedderStats",
    "Observation",
    "OperationStats",
    "Recorder",
    "configure",
    "is_listening",
]

T = TypeVar("T")

#: Durations kept per operation for the percentiles of ``stats()``.
DEFAULT_WINDOW = 1024
#: How often (seconds) the global OpenTelemetry providers are looked at again while none is set.
_CHECK_INTERVAL = 1.0
_SCOPE = "multivec"

# -- attribute names ---------------------------------------------------------------------------------------------

COMPONENT = "multivec.component"
OPERATION = "multivec.operation"
BACKEND = "multivec.backend"
EMBEDDER = "multivec.embedder"
ITEMS = "multivec.items"
TOKENS = "multivec.tokens"
BYTES = "multivec.bytes"
RETRIES = "multivec.retries"
ERROR_TYPE = "error.type"
DB_SYSTEM = "db.system.name"
DB_COLLECTION = "db.collection.name"
DB_OPERATION = "db.operation.name"
LIMIT = "multivec.search.limit"
PREFETCH_LIMIT = "multivec.search.prefetch_limit"
POOLED_LIMIT = "multivec.search.pooled_limit"
EXACT = "multivec.search.exact"
FILTERED = "multivec.search.filtered"

#: Every attribute multivec sets, with what it holds (documented in docs/operations.md).
ATTRIBUTES: Mapping[str, str] = {
    COMPONENT: '"store", "engine" or "embed"',
    OPERATION: 'the operation: "search", "add_texts", "query", "documents", ...',
    BACKEND: 'store and engine spans: "edge" (embedded), "server" (Qdrant server) or "memory" (qdrant-client local)',
    EMBEDDER: "embed spans: the embedder's class name",
    ITEMS: "items written, returned or embedded",
    TOKENS: "token vectors written, queried or returned by the model (1 per item for single-vector models)",
    BYTES: "bytes of the vectors written, queried or returned (float32)",
    RETRIES: "requests the embedder retried (Infinity), when any",
    ERROR_TYPE: "the exception's class name, on failure",
    DB_SYSTEM: '"qdrant" (store and engine spans)',
    DB_COLLECTION: "the collection name (store and engine spans)",
    DB_OPERATION: "the operation (store and engine spans)",
    LIMIT: "engine query: hits asked for",
    PREFETCH_LIMIT: "engine query: first-stage candidates (absent for exact search)",
    POOLED_LIMIT: "engine query: pooled-token stage candidates (token_pooling)",
    EXACT: "engine query: exact MaxSim over everything",
    FILTERED: "engine query: whether a filter applies (never the filter itself)",
}

#: Engine request span names, by the store's backend operation (``multivec.engine.<name>``).
ENGINE_OPERATIONS = (
    "upsert",
    "finish",
    "query",
    "retrieve",
    "retrieve_vectors",
    "snapshot",
    "scroll",
    "delete",
    "clear",
    "count",
)
_METRIC_KEYS = (COMPONENT, OPERATION, BACKEND, EMBEDDER)
#: Duration histogram buckets (seconds): sub-millisecond engine calls to slow model batches.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# -- in-process numbers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationStats:
    """Counters of one operation since its recorder was made, and latency over its last ``window`` calls.

    ``p50_ms``/``p95_ms``/``max_ms`` are nearest-rank percentiles of those calls in milliseconds (``None`` before
    the first call); ``errors_by_type`` maps exception class names to counts.
    """

    calls: int
    errors: int
    items: int
    tokens: int
    bytes: int
    retries: int
    window: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    errors_by_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class _Tally:
    __slots__ = ("bytes", "calls", "durations", "errors", "items", "retries", "tokens")

    def __init__(self, window: int) -> None:
        self.calls = self.items = self.tokens = self.bytes = self.retries = 0
        self.errors: Counter[str] = Counter()
        self.durations: deque[float] = deque(maxlen=window)


def _rank(ordered: list[float], q: float) -> float:
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


class Recorder:
    """Thread-safe counters and recent durations per operation (what ``stats()`` reports).

    >>> rec = Recorder(window=4)
    >>> for ms in (1, 2, 3, 4, 100):
    ...     rec.record("search", ms / 1000, items=1)
    >>> s = rec.snapshot()["search"]
    >>> s.calls, s.window, s.p50_ms, s.max_ms
    (5, 4, 3.0, 100.0)
    """

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._ops: dict[str, _Tally] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # copies (deepcopy, pickle) of an embedder or store start counting afresh instead of failing on the lock
        return (Recorder, (self.window,))

    def record(
        self,
        operation: str,
        seconds: float,
        *,
        items: int | None = None,
        tokens: int = 0,
        nbytes: int = 0,
        retries: int = 0,
        error: str | None = None,
    ) -> None:
        """Count one call of ``operation`` that took ``seconds``."""
        with self._lock:
            tally = self._ops.get(operation)
            if tally is None:
                tally = self._ops[operation] = _Tally(self.window)
            tally.calls += 1
            tally.items += items or 0
            tally.tokens += tokens
            tally.bytes += nbytes
            tally.retries += retries
            if error is not None:
                tally.errors[error] += 1
            tally.durations.append(seconds)

    def snapshot(self) -> dict[str, OperationStats]:
        """The numbers of every operation seen so far, by name."""
        with self._lock:
            tallies = [(name, t, list(t.durations), dict(t.errors)) for name, t in self._ops.items()]
        out = {}
        for name, t, durations, errors in sorted(tallies, key=lambda entry: entry[0]):
            ordered = sorted(d * 1000 for d in durations)
            out[name] = OperationStats(
                calls=t.calls,
                errors=sum(errors.values()),
                items=t.items,
                tokens=t.tokens,
                bytes=t.bytes,
                retries=t.retries,
                window=len(ordered),
                p50_ms=_rank(ordered, 0.5) if ordered else None,
                p95_ms=_rank(ordered, 0.95) if ordered else None,
                max_ms=ordered[-1] if ordered else None,
                errors_by_type=errors,
            )
        return out

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._ops.clear()


def recorder_of(owner: object) -> Recorder:
    """The recorder of a store or embedder, made on first use (so copies and subclasses need no set-up)."""
    recorder: Recorder | None = owner.__dict__.get("_multivec_recorder")
    if recorder is None:
        recorder = owner.__dict__.setdefault("_multivec_recorder", Recorder())
    return recorder


@dataclass(frozen=True)
class EmbedderStats:
    """What ``embedder.stats()`` returns: totals, numbers per operation, and the cache's counters.

    ``operations`` is keyed ``"query"``, ``"documents"`` and ``"images"`` (one call per model request: a batched
    call counts one per chunk). ``cache`` holds the hits and misses of a
    :class:`~multivec.embeddings.cache.CachedEmbeddings` (``None`` for other embedders).
    """

    embedder: str
    model_name: str
    calls: int
    items: int
    tokens: int
    errors: int
    retries: int
    operations: dict[str, OperationStats]
    cache: CacheStats | None = None

    @classmethod
    def of(cls, embedder: Any, cache: CacheStats | None = None) -> EmbedderStats:
        """The numbers the recorder of ``embedder`` holds now."""
        operations = recorder_of(embedder).snapshot()
        ops = operations.values()
        return cls(
            embedder=type(embedder).__name__,
            model_name=str(embedder.model_name),
            calls=sum(s.calls for s in ops),
            items=sum(s.items for s in ops),
            tokens=sum(s.tokens for s in ops),
            errors=sum(s.errors for s in ops),
            retries=sum(s.retries for s in ops),
            operations=operations,
            cache=cache,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


# -- OpenTelemetry -----------------------------------------------------------------------------------------------


class _Otel:
    """The tracer and metric instruments of the providers in use (either may be missing)."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from multivec import __version__

        self.tracer = None if tracer_provider is None else tracer_provider.get_tracer(_SCOPE, __version__)
        self.metrics = meter_provider is not None
        if meter_provider is not None:
            meter = meter_provider.get_meter(_SCOPE, __version__)
            self.duration = meter.create_histogram(
                "multivec.operation.duration",
                unit="s",
                description="Duration of multivec store, engine and embedder operations",
                explicit_bucket_boundaries_advisory=list(_BUCKETS),
            )
            self.items = meter.create_counter(
                "multivec.operation.items", unit="{item}", description="Items written, returned or embedded"
            )
            self.tokens = meter.create_counter(
                "multivec.operation.tokens", unit="{token}", description="Token vectors written, queried or embedded"
            )
            self.errors = meter.create_counter(
                "multivec.operation.errors", unit="{error}", description="Operations that raised, by error.type"
            )
            self.retries = meter.create_counter(
                "multivec.operation.retries", unit="{retry}", description="Requests retried by embedders"
            )


class _State:
    def __init__(self) -> None:
        self.otel: _Otel | None = None
        self.settled = otel_trace is None  # nothing more to look for: both providers found, given, or no OTel
        self.next_check = 0.0


_STATE = _State()


def _placeholder(provider: Any) -> bool:
    """Whether ``provider`` is OpenTelemetry's stand-in for "no provider set" (proxy or no-op)."""
    return type(provider).__name__.lstrip("_").startswith(("Proxy", "NoOp"))


def _resolve() -> None:
    assert otel_trace is not None and otel_metrics is not None
    tracer_provider = otel_trace.get_tracer_provider()
    meter_provider = otel_metrics.get_meter_provider()
    real_tracer = None if _placeholder(tracer_provider) else tracer_provider
    real_meter = None if _placeholder(meter_provider) else meter_provider
    _STATE.otel = None if real_tracer is None and real_meter is None else _Otel(real_tracer, real_meter)
    _STATE.settled = real_tracer is not None and real_meter is not None


def _listening(now: float) -> _Otel | None:
    """The OpenTelemetry instruments to use now, or ``None`` when nothing listens (the cheap path)."""
    state = _STATE
    if not state.settled and now >= state.next_check:
        state.next_check = now + _CHECK_INTERVAL
        _resolve()
    return state.otel


def configure(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send multivec's spans and metrics to these providers instead of the global ones.

    Useful in tests and in applications that keep several providers. ``configure()`` with no argument goes back to
    the global providers (``opentelemetry.trace.set_tracer_provider`` / ``metrics.set_meter_provider``). Without
    ``opentelemetry-api`` installed this raises :class:`~multivec.errors.MissingDependencyError`.
    """
    if otel_trace is None:
        from multivec.errors import MissingDependencyError

        raise MissingDependencyError("OpenTelemetry metrics and tracing", "otel", missing="opentelemetry-api")
    if tracer_provider is None and meter_provider is None:
        _STATE.otel, _STATE.settled, _STATE.next_check = None, False, 0.0
        return
    _STATE.otel = _Otel(tracer_provider, meter_provider)
    _STATE.settled = True


def is_listening() -> bool:
    """Whether multivec sends spans or metrics anywhere now (a real provider is set or configured)."""
    return _listening(time.monotonic()) is not None


# -- observations ------------------------------------------------------------------------------------------------

_CURRENT: ContextVar[Observation | None] = ContextVar("multivec_observation", default=None)


class Observation:
    """One observed operation: a ``with`` block that times it, counts it and, when something listens, traces it.

    ``recorder``: where the in-process numbers go (``None``: spans and metrics only). ``attributes``: the fixed
    attributes (backend, embedder, collection). Sizes are added while it runs (:meth:`add`, :meth:`result`,
    :meth:`embedded`); an exception leaving the block is recorded by its type, never its message.
    """

    __slots__ = (
        "_otel",
        "_span",
        "_span_cm",
        "_start",
        "_token",
        "attributes",
        "bytes",
        "component",
        "items",
        "operation",
        "parent",
        "recorder",
        "retries",
        "tokens",
    )

    def __init__(self, recorder: Recorder | None, component: str, operation: str, attributes: dict[str, Any]) -> None:
        self.recorder = recorder
        self.component = component
        self.operation = operation
        self.attributes = attributes
        self.items: int | None = None
        self.tokens = 0
        self.bytes = 0
        self.retries = 0
        self.parent: Observation | None = None
        self._span: Any = None
        self._span_cm: Any = None

    def __enter__(self) -> Observation:
        self._start = now = time.perf_counter()
        self._otel = otel = _listening(now)
        if otel is not None and otel.tracer is not None:
            attributes = {COMPONENT: self.component, OPERATION: self.operation, **self.attributes}
            self._span_cm = otel.tracer.start_as_current_span(
                f"multivec.{self.component}.{self.operation}",
                kind=otel_trace.SpanKind.CLIENT if self.component == "embed" else otel_trace.SpanKind.INTERNAL,
                attributes=attributes,
                record_exception=False,  # an exception's message may quote content
                set_status_on_exception=False,
            )
            self._span = self._span_cm.__enter__()
        self.parent = _CURRENT.get()
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        _CURRENT.reset(self._token)
        seconds = time.perf_counter() - self._start
        error = None if exc_type is None else exc_type.__name__
        if self.recorder is not None:
            self.recorder.record(
                self.operation,
                seconds,
                items=self.items,
                tokens=self.tokens,
                nbytes=self.bytes,
                retries=self.retries,
                error=error,
            )
        if self._otel is not None:
            self._emit(self._otel, seconds, error, exc_type, exc, tb)

    def _emit(self, otel: _Otel, seconds: float, error: str | None, exc_type: Any, exc: Any, tb: Any) -> None:
        sizes = {ITEMS: self.items, TOKENS: self.tokens or None, BYTES: self.bytes or None}
        sizes[RETRIES] = self.retries or None
        if self._span is not None:
            for key, value in sizes.items():
                if value is not None:
                    self._span.set_attribute(key, value)
            if error is not None:
                self._span.set_attribute(ERROR_TYPE, error)
                self._span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR))
            self._span_cm.__exit__(exc_type, exc, tb)
        if otel.metrics:
            labels = {COMPONENT: self.component, OPERATION: self.operation}
            labels.update((k, v) for k, v in self.attributes.items() if k in _METRIC_KEYS)
            if error is not None:
                labels[ERROR_TYPE] = error
                otel.errors.add(1, labels)
            otel.duration.record(seconds, labels)
            if self.items:
                otel.items.add(self.items, labels)
            if self.tokens:
                otel.tokens.add(self.tokens, labels)
            if self.retries:
                otel.retries.add(self.retries, labels)

    def add(self, *, tokens: int = 0, nbytes: int = 0, retries: int = 0) -> None:
        """Add sizes measured while the operation runs."""
        self.tokens += tokens
        self.bytes += nbytes
        self.retries += retries

    def result(self, value: T) -> T:
        """Note the operation's result (a list counts as that many items) and hand it back."""
        if isinstance(value, list):
            self.items = len(value)
        return value

    def embedded(self, outputs: list[Any]) -> list[Any]:
        """Note a model's outputs (items, token vectors and bytes) and hand them back."""
        self.items = len(outputs)
        self.tokens += sum(out.shape[0] if out.ndim == 2 else 1 for out in outputs)
        self.bytes += sum(out.nbytes for out in outputs)
        return outputs


def current() -> Observation | None:
    """The operation running in this context, if any."""
    return _CURRENT.get()


def add_retries(count: int) -> None:
    """Count ``count`` retried requests against the operation running in this context (embedder clients)."""
    observation = _CURRENT.get()
    if observation is not None and count:
        observation.retries += count


def carry(coro: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``coro`` made to run in this context's operation and trace when it is sent to another thread's event loop.

    A coroutine handed to ``asyncio.run_coroutine_threadsafe`` runs in that loop's context, not the caller's; this
    keeps retries counted against the caller's operation and child spans (an HTTP client's) under its span.
    """
    observation = _CURRENT.get()
    if observation is None:
        return coro
    trace_context = otel_context.get_current() if otel_context is not None and observation._span else None

    async def within() -> T:
        _CURRENT.set(observation)
        token = otel_context.attach(trace_context) if trace_context is not None else None
        try:
            return await coro
        finally:
            if token is not None:
                otel_context.detach(token)

    return within()


# -- the store's engine requests ---------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _rows(array: Any) -> int:
    return 0 if array is None else int(array.shape[0]) if array.ndim == 2 else 1


def _nbytes(arrays: Iterable[Any]) -> int:
    return sum(a.nbytes for a in arrays if a is not None)


class _Unobserved:
    """The engine request context when nothing listens: sizes already went to the store operation."""

    __slots__ = ()

    def __enter__(self) -> _Unobserved:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def result(value: T) -> T:
        return value


_UNOBSERVED = _Unobserved()


def engine_call(op: Any, attributes: dict[str, Any]) -> Observation | _Unobserved:
    """The ``with`` context of one engine request ``op`` (a :mod:`multivec.store.backend` operation).

    Its vector sizes count towards the store operation running it; a span and metrics follow only when something
    listens (engine requests have no in-process numbers of their own).
    """
    tokens = nbytes = 0
    items = None
    points = getattr(op, "points", None)
    if points is not None:  # Upsert
        items = len(points)
        for p in points:
            tokens += _rows(p.multivector) if p.multivector is not None else 1
            nbytes += _nbytes((p.dense, p.multivector, p.pooled_tokens))
    elif hasattr(op, "dense"):  # Query
        vectors = op.multivector if op.multivector is not None else op.dense
        tokens, nbytes = _rows(vectors), int(vectors.nbytes)
    parent = _CURRENT.get()
    if parent is not None:
        parent.tokens += tokens
        parent.bytes += nbytes
    if _listening(time.monotonic()) is None:
        return _UNOBSERVED
    name = _snake(type(op).__name__)
    fixed = {**attributes, DB_OPERATION: name}
    if hasattr(op, "prefetch_limit"):
        fixed.update({LIMIT: op.limit, EXACT: bool(op.exact), FILTERED: op.filter is not None})
        if op.prefetch_limit is not None:
            fixed[PREFETCH_LIMIT] = op.prefetch_limit
        if op.pooled_limit is not None:
            fixed[POOLED_LIMIT] = op.pooled_limit
    observation = Observation(None, "engine", name, fixed)
    observation.items, observation.tokens, observation.bytes = items, tokens, nbytes
    return observation


def flow_operation(flow: Any) -> str:
    """The operation a store flow (generator) performs, from its function's name: ``_add_texts_flow`` → ``add_texts``."""
    name = getattr(flow, "__name__", "operation")
    return _FLOW_NAMES.get(name) or name.strip("_").removesuffix("_flow")


#: Flows whose function name is not the method's.
_FLOW_NAMES = {
    "_hits_flow": "search",
    "_mmr_flow": "mmr_search",
    "change": "clear",
    "settle": "recover",
    "end": "atomic",
}
