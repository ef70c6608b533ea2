"""The interface between :class:`~multivec.store.MultiVectorStore` and a Qdrant engine.

The store speaks in backend-neutral operations (the dataclasses below); a backend runs each with :meth:`Backend.execute`
(sync) or :meth:`Backend.aexecute` (async). What both engines share (the scroll paging, the search stages, result and
point mapping) is in :mod:`multivec.store.mapping`; each backend only translates it to its engine's types, and only
the send differs between its sync and async paths. Two backends exist: :class:`~multivec.store.edge.EdgeBackend`
(qdrant-edge-py, embedded) and :class:`~multivec.store.server.ServerBackend` (qdrant-client: server URL or
``:memory:``). Filters arrive compiled (:func:`multivec.store.filters.compile_filter`), so this module and the
embedded path never import ``qdrant_client``.

Collection schema (the same on both):

- ``"dense"``: one vector per item (the pooled multi-vector for multi-vector models, the embedding itself for
  single-vector ones), cosine, HNSW index. The first stage of a two-stage search.
- ``"multivector"`` (multi-vector models only): the token vectors, L2-normalised, ``Dot`` distance with the
  ``MaxSim`` comparator, HNSW disabled (``m=0``): used for the MaxSim rerank and exact search.
- ``"pooled_tokens"`` (collections created with ``token_pooling=g``): the means of every ``g`` consecutive token
  vectors, L2-normalised, MaxSim, ``m=0``: a cheap middle stage between the first stage and the full MaxSim.
- payload ``{"id", "content", "metadata", "modality", "source", "page", "lexical"}`` with payload indexes on
  ``metadata.<field>`` for every declared filterable field. ``"lexical"`` is the text of the lexical (BM25) side of
  hybrid search (:mod:`multivec.store.hybrid`): a text document's content, an image page's PDF text layer, absent
  for items without text; hybrid collections have a BM25-scoring text index on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from multivec.errors import ConfigurationError, DimensionMismatchError

if TYPE_CHECKING:
    from multivec.store.filters import CompiledFilter

__all__ = [
    "DENSE",
    "FIELD_TYPES",
    "LEXICAL",
    "MULTIVECTOR",
    "POOLED",
    "Backend",
    "Clear",
    "CollectionSpec",
    "Count",
    "Delete",
    "EnableLexical",
    "Finish",
    "HybridQuery",
    "Op",
    "PointData",
    "Query",
    "Retrieve",
    "RetrieveVectors",
    "ScoredPayload",
    "Scroll",
    "SetPayload",
    "Snapshot",
    "Upsert",
]

DENSE = "dense"
MULTIVECTOR = "multivector"
POOLED = "pooled_tokens"
#: Payload key of the text the lexical (BM25) index holds (see :mod:`multivec.store.hybrid`).
LEXICAL = "lexical"
#: Filterable field types accepted in ``filterable_fields``.
FIELD_TYPES = ("keyword", "integer", "float", "bool", "text", "datetime")
#: Storage types of the token vectors. ``turbo8`` is Qdrant's 8-bit TurboQuant storage (about ``dim + 4`` bytes a
#: token vector); a plain ``uint8`` is not offered: on L2-normalised vectors it kept nDCG@10 at 0.06 (see
#: docs/scaling.md).
DATATYPES = ("float16", "float32", "turbo8")
#: The datatype of a new collection when none is asked for.
DEFAULT_DATATYPE = "float32"

#: Search-time ``ef`` of the first stage's HNSW (the engine uses at least the prefetch limit). At 100k ColBERT-like
#: documents in segments of 20k-25k, recall@100 against an exact dense search was 0.974-0.979 at ef 100, 0.980-0.986
#: at 128 and 0.991-0.995 at 200 (docs/scaling.md); 128 keeps >= 0.97 with margin.
DEFAULT_HNSW_EF = 128
#: Dense vectors a segment needs before its first stage searches the HNSW graph instead of scanning. Measured at
#: 100k pooled vectors: segments of ~7k points took 14 ms with HNSW against 25 ms scanned on a loaded box, segments
#: of 20k-25k 1.3-1.6 ms; below that a scan is as fast and exact (small stores keep exact first stages).
FULL_SCAN_POINTS = 20_000


def full_scan_threshold_kb(dim: int) -> int:
    """Qdrant's ``full_scan_threshold`` (KB of one segment's float32 dense vectors) for :data:`FULL_SCAN_POINTS`.

    >>> full_scan_threshold_kb(128), full_scan_threshold_kb(384)
    (10000, 30000)
    """
    return FULL_SCAN_POINTS * dim * 4 // 1024


def token_vector_bytes(datatype: str, dim: int) -> int:
    """Bytes one stored token vector of ``dim`` values takes in ``datatype`` (measured on qdrant-edge 0.9).

    >>> token_vector_bytes("float32", 128), token_vector_bytes("float16", 128), token_vector_bytes("turbo8", 128)
    (512, 256, 132)
    """
    if datatype == "turbo8":
        return dim + 4  # one byte a value and a float32 scale per vector
    return dim * (2 if datatype == "float16" else 4)


#: Version of the collection metadata layout multivec writes.
METADATA_VERSION = 1


@dataclass(frozen=True)
class CollectionSpec:
    """What the store asks for when it opens a collection."""

    name: str
    dim: int
    multi_vector: bool
    model_name: str
    #: ``None``: none asked for (a new collection gets :data:`DEFAULT_DATATYPE`, an existing one keeps its own)
    datatype: str | None
    filterable_fields: dict[str, str]
    options: dict[str, Any]
    token_pooling: int | None = None
    #: ingest-time token pooling (:mod:`multivec.pooling`); ``None``: none asked for (a new collection has none, an
    #: existing one keeps its own)
    pool_factor: int | None = None
    #: hybrid search defaults (:class:`multivec.store.hybrid.HybridSettings` as a dict): a new collection gets its
    #: lexical index and records them; ``None``: a collection without the lexical side
    hybrid: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        """The collection metadata multivec persists (and checks on reopen)."""
        return {
            **({"hybrid": dict(self.hybrid)} if self.hybrid is not None else {}),
            "multivec": METADATA_VERSION,
            "model_name": self.model_name,
            "dim": self.dim,
            "multi_vector": self.multi_vector,
            "datatype": self.datatype or DEFAULT_DATATYPE,
            "token_pooling": self.token_pooling,
            "pool_factor": self.pool_factor,
        }


def check_spec(spec: CollectionSpec) -> None:
    """Validate the parts of a spec both backends share."""
    if spec.datatype is not None and spec.datatype not in DATATYPES:
        raise ConfigurationError(
            f"multivector_datatype must be one of {', '.join(DATATYPES)} (or None: the collection's own), got "
            f"{spec.datatype!r}"
        )
    for key, kind in spec.filterable_fields.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"filterable_fields keys must be non-empty strings, got {key!r}")
        if kind not in FIELD_TYPES:
            raise ConfigurationError(f"filterable_fields[{key!r}] is {kind!r}; use one of {', '.join(FIELD_TYPES)}")


@dataclass(frozen=True)
class PointData:
    """One point to write: Qdrant id (a UUID string), vectors and payload."""

    point_id: str
    dense: np.ndarray
    multivector: np.ndarray | None
    payload: dict[str, Any]
    pooled_tokens: np.ndarray | None = None


@dataclass(frozen=True)
class ScoredPayload:
    """A query result: payload, score, and the dense vector when asked for."""

    payload: dict[str, Any]
    score: float
    dense: np.ndarray | None = None


# -- operations -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    """Write points (returns ``None``)."""

    points: list[PointData]


@dataclass(frozen=True)
class Finish:
    """End of a write call: make it durable and keep indexes fresh."""


@dataclass(frozen=True)
class Query:
    """Search (returns ``list[ScoredPayload]``).

    ``multivector`` is ``None`` for single-vector collections. ``prefetch_limit`` ``None`` means one stage:
    exact MaxSim over ``multivector`` (or an exact dense search when ``exact``), else a first stage on ``dense``
    keeping ``prefetch_limit`` candidates, reranked by MaxSim. ``pooled_limit`` (collections with pooled tokens)
    adds a middle stage: MaxSim on the pooled tokens keeps that many of the first stage's candidates for the full
    MaxSim.
    """

    dense: np.ndarray
    multivector: np.ndarray | None
    limit: int
    prefetch_limit: int | None
    filter: CompiledFilter | None
    score_threshold: float | None = None
    exact: bool = False
    with_dense: bool = False
    pooled_limit: int | None = None


@dataclass(frozen=True)
class HybridQuery:
    """Hybrid search, sent to the engine as one request (returns ``tuple[list[ScoredPayload], list[ScoredPayload]]``:
    the late-interaction results, then the lexical ones).

    ``query`` is the late-interaction search (its ``limit``: that branch's candidates); the lexical branch ranks the
    ``lexical_limit`` best items for ``text`` by BM25 over the :data:`LEXICAL` text index, with the same filter.
    ``rerank``: the lexical candidates also join the first stage of ``query`` (pooled-vector candidates and BM25
    candidates, reranked by MaxSim) in that one query.
    """

    query: Query
    text: str
    lexical_limit: int
    rerank: bool = False


@dataclass(frozen=True)
class EnableLexical:
    """Create the lexical text index (if missing) and persist ``settings`` as the collection's hybrid defaults."""

    settings: dict[str, Any]


@dataclass(frozen=True)
class SetPayload:
    """Set payload keys point by point, ``{point id: {key: value}}``, keeping the others (returns ``None``)."""

    values: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Retrieve:
    """Payloads of the points with these ids; missing ids are skipped (returns ``list[dict]``)."""

    point_ids: list[str]


@dataclass(frozen=True)
class RetrieveVectors:
    """Payloads and stored ``using`` vectors (``DENSE`` or ``MULTIVECTOR``) of the points with these ids.

    Returns ``list[tuple[dict, np.ndarray]]`` (float32; ``(n_tokens, dim)`` for ``MULTIVECTOR``, ``(dim,)`` for
    ``DENSE``); missing ids are skipped.
    """

    point_ids: list[str]
    using: str


@dataclass(frozen=True)
class Snapshot:
    """Every stored vector and the payload of the points with these ids, to restore them as they are.

    Returns ``list[PointData]`` (float32 arrays); missing ids are skipped.
    """

    point_ids: list[str]


@dataclass(frozen=True)
class Scroll:
    """Payloads of points matching ``filter``, at most ``limit`` (returns ``list[dict]``)."""

    filter: CompiledFilter | None
    limit: int | None


@dataclass(frozen=True)
class Delete:
    """Delete by ids, by filter, or both (ids that match the filter). Returns ``None``."""

    point_ids: list[str] | None
    filter: CompiledFilter | None


@dataclass(frozen=True)
class Clear:
    """Delete every point, keeping the collection and its indexes (returns ``None``)."""


@dataclass(frozen=True)
class Count:
    """Number of points matching ``filter`` (returns ``int``)."""

    filter: CompiledFilter | None = None


Op = (
    Upsert
    | Finish
    | Query
    | HybridQuery
    | EnableLexical
    | SetPayload
    | Retrieve
    | RetrieveVectors
    | Snapshot
    | Scroll
    | Delete
    | Clear
    | Count
)


class Backend(ABC):
    """A Qdrant engine holding one collection. ``metadata`` is the collection's stored multivec metadata."""

    metadata: dict[str, Any]

    @abstractmethod
    def execute(self, op: Op) -> Any:
        """Run one operation and return its result."""

    @abstractmethod
    async def aexecute(self, op: Op) -> Any:
        """Async twin of :meth:`execute`."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine (idempotent)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""

    def optimize(self) -> None:  # noqa: B027 - optional hook
        """Merge segments and build indexes now (a no-op where the engine does it on its own)."""

    def on_close(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` when the backend closes: after the engine call in progress, before the engine is released."""
        self.__dict__.setdefault("_close_hooks", []).append(hook)

    def run_close_hooks(self) -> None:
        """Run the :meth:`on_close` hooks (backends call this from their close)."""
        for hook in self.__dict__.get("_close_hooks", []):
            hook()


def resolve_metadata(stored: dict[str, Any] | None, spec: CollectionSpec, where: str) -> dict[str, Any]:
    """The metadata an opened collection runs with: ``spec``'s for a new one, else the stored one once it fits.

    Raises :class:`DimensionMismatchError` when the stored dimension differs from the embedder's, and
    :class:`ConfigurationError` when a multi-vector collection is opened with a single-vector embedder or the
    reverse. A ``spec.datatype`` other than ``None`` must equal the stored one (it is fixed when the collection is
    created), else :class:`ConfigurationError` naming both. So must a ``spec.pool_factor`` other than ``None``
    (a collection without the key has none).
    """
    if stored is None:
        return spec.metadata()
    if stored.get("dim") != spec.dim:
        raise DimensionMismatchError(
            f"{where} holds {stored.get('dim')}-d vectors (model {stored.get('model_name')!r}) but the embedder "
            f"{spec.model_name!r} makes {spec.dim}-d vectors; use the same model or another collection_name/path"
        )
    if bool(stored.get("multi_vector")) != spec.multi_vector:
        kinds = {True: "multi-vector", False: "single-vector"}
        raise ConfigurationError(
            f"{where} is a {kinds[bool(stored.get('multi_vector'))]} collection but the embedder "
            f"{spec.model_name!r} is {kinds[spec.multi_vector]}; use a matching embedder or another collection"
        )
    stored_datatype = stored.get("datatype", DEFAULT_DATATYPE)
    if spec.datatype is not None and spec.datatype != stored_datatype:
        raise ConfigurationError(
            f"{where} stores its token vectors as {stored_datatype!r} but multivector_datatype={spec.datatype!r} "
            "was passed; the datatype is fixed when a collection is created, so leave multivector_datatype out to "
            "keep the collection's own, or use another collection"
        )
    stored_factor = stored.get("pool_factor")  # absent in collections made before pooling existed: none
    if spec.pool_factor is not None and spec.pool_factor != stored_factor:
        raise ConfigurationError(
            f"{where} was created with pool_factor={stored_factor!r} but pool_factor={spec.pool_factor!r} was "
            "passed; its stored token vectors were pooled (or not) when they were written, so leave pool_factor "
            "out to keep the collection's own, or use another collection"
        )
    return dict(stored)
