"""The interface between :class:`~multivec.store.MultiVectorStore` and a Qdrant engine.

The store speaks in backend-neutral operations (the dataclasses below); a backend runs each with :meth:`Backend.execute`
(sync) or :meth:`Backend.aexecute` (async). Request building and result mapping happen once per backend; only the
send differs between the two paths. Two backends exist: :class:`~multivec.store.edge.EdgeBackend` (qdrant-edge-py,
embedded) and :class:`~multivec.store.server.ServerBackend` (qdrant-client: server URL or ``:memory:``).

Collection schema (the same on both):

- ``"dense"``: one vector per item (the pooled multi-vector for multi-vector models, the embedding itself for
  single-vector ones), cosine, HNSW index. The first stage of a two-stage search.
- ``"multivector"`` (multi-vector models only): the token vectors, L2-normalised, ``Dot`` distance with the
  ``MaxSim`` comparator, HNSW disabled (``m=0``): used for the MaxSim rerank and exact search.
- ``"pooled_tokens"`` (collections created with ``token_pooling=g``): the means of every ``g`` consecutive token
  vectors, L2-normalised, MaxSim, ``m=0``: a cheap middle stage between the first stage and the full MaxSim.
- payload ``{"id", "content", "metadata", "modality", "source", "page"}`` with payload indexes on
  ``metadata.<field>`` for every declared filterable field.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import models

from multivec.errors import ConfigurationError, DimensionMismatchError, StoreError

__all__ = [
    "DENSE",
    "FIELD_TYPES",
    "MULTIVECTOR",
    "POOLED",
    "Backend",
    "Clear",
    "CollectionSpec",
    "Count",
    "Delete",
    "Finish",
    "Op",
    "PointData",
    "Query",
    "Retrieve",
    "RetrieveVectors",
    "ScoredPayload",
    "Scroll",
    "Snapshot",
    "Upsert",
]

DENSE = "dense"
MULTIVECTOR = "multivector"
POOLED = "pooled_tokens"
#: Filterable field types accepted in ``filterable_fields``.
FIELD_TYPES = ("keyword", "integer", "float", "bool", "text", "datetime")
DATATYPES = ("float16", "float32")
#: Version of the collection metadata layout multivec writes.
METADATA_VERSION = 1


@dataclass(frozen=True)
class CollectionSpec:
    """What the store asks for when it opens a collection."""

    name: str
    dim: int
    multi_vector: bool
    model_name: str
    datatype: str
    filterable_fields: dict[str, str]
    options: dict[str, Any]
    token_pooling: int | None = None

    def metadata(self) -> dict[str, Any]:
        """The collection metadata multivec persists (and checks on reopen)."""
        return {
            "multivec": METADATA_VERSION,
            "model_name": self.model_name,
            "dim": self.dim,
            "multi_vector": self.multi_vector,
            "datatype": self.datatype,
            "token_pooling": self.token_pooling,
        }


def check_spec(spec: CollectionSpec) -> None:
    """Validate the parts of a spec both backends share."""
    if spec.datatype not in DATATYPES:
        raise ConfigurationError(f"multivector_datatype must be one of {DATATYPES}, got {spec.datatype!r}")
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
    filter: models.Filter | None
    score_threshold: float | None = None
    exact: bool = False
    with_dense: bool = False
    pooled_limit: int | None = None


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

    filter: models.Filter | None
    limit: int | None


@dataclass(frozen=True)
class Delete:
    """Delete by ids, by filter, or both (ids that match the filter). Returns ``None``."""

    point_ids: list[str] | None
    filter: models.Filter | None


@dataclass(frozen=True)
class Clear:
    """Delete every point, keeping the collection and its indexes (returns ``None``)."""


@dataclass(frozen=True)
class Count:
    """Number of points matching ``filter`` (returns ``int``)."""

    filter: models.Filter | None = None


Op = Upsert | Finish | Query | Retrieve | RetrieveVectors | Snapshot | Scroll | Delete | Clear | Count


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


def stored_vectors(payload: Any, vectors: Any, using: str) -> tuple[dict[str, Any], np.ndarray]:
    """``(payload, vector)`` of one retrieved point whose ``vectors`` is the engine's ``{name: values}`` mapping."""
    if not isinstance(vectors, dict) or using not in vectors:
        raise StoreError(f"the engine returned no {using!r} vector for point {dict(payload or {}).get('id')!r}")
    return dict(payload or {}), np.asarray(vectors[using], dtype=np.float32)


def snapshot_point(point_id: Any, payload: Any, vectors: Any) -> PointData:
    """A retrieved point (``vectors``: the engine's ``{name: values}`` mapping) as :class:`PointData`."""
    if not isinstance(vectors, dict) or DENSE not in vectors:
        raise StoreError(f"the engine returned no {DENSE!r} vector for point {point_id!r}")

    def array(name: str) -> np.ndarray | None:
        value = vectors.get(name)
        return None if value is None else np.asarray(value, dtype=np.float32)

    dense = array(DENSE)
    assert dense is not None
    return PointData(str(point_id), dense, array(MULTIVECTOR), dict(payload or {}), array(POOLED))


def ids_filter(point_ids: list[str], filter: models.Filter | None) -> models.Filter:
    """A filter matching the given point ids that also match ``filter``."""
    has_id = models.HasIdCondition(has_id=list(point_ids))
    return models.Filter(must=[has_id] if filter is None else [has_id, filter])


def resolve_metadata(stored: dict[str, Any] | None, spec: CollectionSpec, where: str) -> dict[str, Any]:
    """The metadata an opened collection runs with: ``spec``'s for a new one, else the stored one once it fits.

    Raises :class:`DimensionMismatchError` when the stored dimension differs from the embedder's, and
    :class:`ConfigurationError` when a multi-vector collection is opened with a single-vector embedder or the
    reverse. The stored datatype wins over ``spec.datatype`` (it is fixed when the collection is created).
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
    return dict(stored)
