"""What the two backends share: the engine-neutral half of the requests they send and of the results they map.

Both engines (qdrant-edge and a Qdrant server through qdrant-client) take the same requests in different classes, so
everything here is written once and each backend only wraps it in its engine's types:

- :func:`scroll_flow`: the paging loop of :class:`~multivec.store.backend.Scroll` (a flow that yields page requests
  and receives pages);
- :func:`point_vectors` (a point's named vectors to write) and :func:`scored` (a search result);
- :func:`lookup_vectors` and :func:`looked_up`: what a :class:`~multivec.store.backend.Retrieve`,
  :class:`~multivec.store.backend.RetrieveVectors` or :class:`~multivec.store.backend.Snapshot` reads, and its result;
- :func:`delete_target` and :data:`EVERYTHING`: which points a delete or a clear removes;
- :func:`query_plan` and :func:`lexical_plan`: the stages of a search (:class:`Stage`, :class:`QueryPlan`).

Nothing here imports an engine: records and scored points are read through the attributes both engines' classes
have (``id``, ``payload``, ``vector``, ``score``).

>>> import numpy as np
>>> plan = query_plan(Query(np.ones(2), np.ones((3, 2)), limit=5, prefetch_limit=50, filter=None, pooled_limit=20))
>>> [(s.using, s.limit) for s in plan.stages()]
[('dense', 50), ('pooled_tokens', 20), ('multivector', 5)]
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from multivec.errors import StoreError
from multivec.store.backend import (
    DENSE,
    LEXICAL,
    MULTIVECTOR,
    POOLED,
    Delete,
    HybridQuery,
    PointData,
    Query,
    Retrieve,
    RetrieveVectors,
    ScoredPayload,
    Snapshot,
)
from multivec.store.filters import Filter, HasId

if TYPE_CHECKING:
    from multivec.store.filters import CompiledFilter

__all__ = [
    "EVERYTHING",
    "RESULT_PAYLOAD_EXCLUDE",
    "SCROLL_PAGE",
    "Lookup",
    "QueryPlan",
    "Stage",
    "delete_target",
    "ids_filter",
    "lexical_plan",
    "looked_up",
    "lookup_vectors",
    "point_vectors",
    "query_plan",
    "scored",
    "scroll_flow",
    "snapshot_point",
    "stored_vectors",
]

Q = TypeVar("Q")

#: Points a scroll asks for per page.
SCROLL_PAGE = 1000
#: Payload keys search results leave out: the lexical text (a copy of the content, needed by the index only).
RESULT_PAYLOAD_EXCLUDE = (LEXICAL,)
#: The filter that matches every point (what a clear deletes).
EVERYTHING = Filter()


# -- scroll ---------------------------------------------------------------------------------------------------------


def scroll_flow(
    limit: int | None, page_request: Callable[[Any, int], Q]
) -> Generator[Q, tuple[Sequence[Any], Any], list[dict[str, Any]]]:
    """The payloads of at most ``limit`` points (all of them for ``None``), page by page.

    Yields ``page_request(offset, size)`` for each page (``offset`` ``None`` for the first) and receives the engine's
    answer, ``(records, next_offset)``; ``next_offset`` ``None`` means there is no further page. Pages hold at most
    :data:`SCROLL_PAGE` points, and the last one no more than ``limit`` still needs.

    >>> from multivec._flow import run_sync
    >>> class Rec:
    ...     def __init__(self, i): self.payload = {"i": i}
    >>> def page(request):  # an engine with 5 points, answering (offset, size)
    ...     start = request[0] or 0
    ...     end = min(start + request[1], 5)
    ...     return [Rec(i) for i in range(start, end)], (end if end < 5 else None)
    >>> [p["i"] for p in run_sync(scroll_flow(3, lambda offset, size: (offset, size)), page)]
    [0, 1, 2]
    """
    out: list[dict[str, Any]] = []
    offset = None
    while limit is None or len(out) < limit:
        size = SCROLL_PAGE if limit is None else min(SCROLL_PAGE, limit - len(out))
        records, offset = yield page_request(offset, size)
        out.extend(dict(r.payload or {}) for r in records)
        if offset is None:
            break
    return out


# -- points and results ---------------------------------------------------------------------------------------------


def point_vectors(point: PointData) -> dict[str, Any]:
    """The named vectors of ``point`` to write, as lists (both engines read lists 2-4x faster than numpy arrays,
    which qdrant-edge 0.9 reads element by element).

    >>> sorted(point_vectors(PointData("id", np.zeros(2), np.zeros((3, 2)), {})))
    ['dense', 'multivector']
    """
    vectors: dict[str, Any] = {DENSE: point.dense.tolist()}
    if point.multivector is not None:
        vectors[MULTIVECTOR] = point.multivector.tolist()
    if point.pooled_tokens is not None:
        vectors[POOLED] = point.pooled_tokens.tolist()
    return vectors


def scored(point: Any) -> ScoredPayload:
    """An engine's scored point (``payload``, ``score``, ``vector``) as a :class:`ScoredPayload` (with the dense
    vector when the engine returned it)."""
    vector = point.vector
    dense = np.asarray(vector[DENSE], dtype=np.float32) if isinstance(vector, dict) and DENSE in vector else None
    return ScoredPayload(payload=dict(point.payload or {}), score=float(point.score), dense=dense)


#: The operations that read points by id.
Lookup = Retrieve | RetrieveVectors | Snapshot


def lookup_vectors(op: Lookup) -> bool | list[str]:
    """The vectors ``op`` reads along with the payloads: none, the one asked for, or all.

    >>> lookup_vectors(Retrieve(["a"])), lookup_vectors(RetrieveVectors(["a"], "dense")), lookup_vectors(Snapshot([]))
    (False, ['dense'], True)
    """
    if isinstance(op, RetrieveVectors):
        return [op.using]
    return isinstance(op, Snapshot)


def looked_up(op: Lookup, records: Iterable[Any]) -> list[Any]:
    """The result of ``op`` from the engine's records (``id``, ``payload``, ``vector``) read with
    :func:`lookup_vectors`."""
    if isinstance(op, Retrieve):
        return [dict(r.payload or {}) for r in records]
    if isinstance(op, RetrieveVectors):
        return [stored_vectors(r.payload, r.vector, op.using) for r in records]
    return [snapshot_point(r.id, r.payload, r.vector) for r in records]


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


# -- selectors ------------------------------------------------------------------------------------------------------


def ids_filter(point_ids: Sequence[str], filter: CompiledFilter | None) -> Filter:
    """A filter matching the given point ids that also match ``filter``.

    >>> ids_filter(["a"], None)
    Filter(must=(HasId(ids=('a',)),), should=(), must_not=())
    """
    has_id = HasId(tuple(point_ids))
    return Filter(must=(has_id,) if filter is None else (has_id, filter))


def delete_target(op: Delete) -> list[str] | CompiledFilter:
    """The points ``op`` deletes: a list of ids (ids alone), else a filter (a filter, or ids that match one).

    >>> delete_target(Delete(["a"], None))
    ['a']
    """
    if op.filter is None:
        if op.point_ids is None:
            raise TypeError("Delete needs point ids, a filter, or both")
        return list(op.point_ids)
    return op.filter if op.point_ids is None else ids_filter(op.point_ids, op.filter)


# -- search ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One search stage: the ``limit`` best points for ``query`` on the named vector ``using``, among the
    candidates of its ``prefetch`` stages when it has some. ``query`` is the query's vectors, or the text of a
    lexical (BM25) stage (``using`` :data:`~multivec.store.backend.LEXICAL`)."""

    using: str
    query: np.ndarray | str
    limit: int
    prefetch: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class QueryPlan:
    """A search as the engines run it: the final ``stage`` (after its prefetch stages), with ``filter`` on every
    stage. ``exact``: an exact search (no HNSW); ``with_dense``: results carry their dense vector."""

    stage: Stage
    filter: CompiledFilter | None
    score_threshold: float | None = None
    exact: bool = False
    with_dense: bool = False

    def stages(self) -> Iterator[Stage]:
        """Every stage, each after the stages it reranks."""

        def walk(stage: Stage) -> Iterator[Stage]:
            for inner in stage.prefetch:
                yield from walk(inner)
            yield stage

        return walk(self.stage)


def query_plan(op: Query, lexical_text: str | None = None, lexical_limit: int = 0) -> QueryPlan:
    """The stages of ``op``: a dense first stage keeping ``prefetch_limit`` candidates (joined by the
    ``lexical_limit`` best BM25 candidates for ``lexical_text``, when given), an optional pooled-token MaxSim
    keeping ``pooled_limit`` of them, then the full MaxSim; or one stage (``prefetch_limit`` ``None``, or a
    single-vector collection)."""
    if op.multivector is None:
        final = Stage(DENSE, op.dense, op.limit)
    else:
        first: tuple[Stage, ...] = ()
        if op.prefetch_limit is not None:
            first = (Stage(DENSE, op.dense, op.prefetch_limit),)
            if lexical_text is not None:
                first += (Stage(LEXICAL, lexical_text, lexical_limit),)
            if op.pooled_limit is not None:
                first = (Stage(POOLED, op.multivector, op.pooled_limit, first),)
        final = Stage(MULTIVECTOR, op.multivector, op.limit, first)
    return QueryPlan(final, op.filter, op.score_threshold, op.exact, op.with_dense)


def lexical_plan(op: HybridQuery) -> QueryPlan:
    """The lexical side of a hybrid search: the ``lexical_limit`` best BM25 matches of its text, same filter."""
    return QueryPlan(Stage(LEXICAL, op.text, op.lexical_limit), op.query.filter)
