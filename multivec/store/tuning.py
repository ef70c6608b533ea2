"""The recall tuner behind :meth:`MultiVectorStore.tune() <multivec.store.MultiVectorStore.tune>` and ``multivec tune``.

The default search is staged: the pooled vector prefetches ``prefetch_limit`` candidates (HNSW), MaxSim over the
token vectors reranks them (and with ``token_pooling``, MaxSim over pooled tokens keeps ``pooled_limit`` of them in
between). The tuner measures how much of the exact answer that keeps, and picks the cheapest limits that keep enough:

1. **Queries.** The ones given (texts, images or query multi-vectors), else *pseudo-queries* made from the store
   itself: up to ``sample`` stored documents, seeded, each giving 8 to 32 of its own token vectors picked at random
   (fewer when it has fewer), the way a short query looks.
2. **Truth.** Each query's exact top ``k`` (``exact=True``: MaxSim over every document), computed once.
3. **Ladder.** The default search runs with ``prefetch_limit`` on the ladder ``k, ..., 10, 15, 20, 30, 40, 50, 70,
   100, 150, ...`` (steps of about 1.4x, up to the number of records) until recall@k reaches ``target_recall``; the
   first limit that does is chosen. Recall@k counts a returned document as found when it is in the exact top ``k``
   or ties the exact ``k``-th score (so ties cannot fail a limit). A limit is abandoned as soon as its misses rule
   the target out (the curve then gives its recall on the queries it ran, ``complete=False``), so limits far
   below the answer cost a few queries each.
4. **Three stages** (collections made with ``token_pooling``): with the chosen ``prefetch_limit`` fixed, the same
   ladder from ``k`` up finds the smallest ``pooled_limit`` that still meets the target (at ``pooled_limit ==
   prefetch_limit`` the middle stage keeps every candidate, so the search equals the two-stage one that met it).

The chosen limits are applied to the store and persisted with it (embedded store: ``multivec.tuning.json`` beside
``multivec.json``; Qdrant server: the collection's metadata), so a later open uses them unless its constructor is
given ``prefetch_limit``/``pooled_limit``. Tune again after the collection has changed a lot: the result records
the number of records it was measured on.

Single-vector stores (one dense vector per item, e.g. BiPali) have no prefetch stage to tune: :func:`tune_flow`
raises :class:`~multivec.errors.ConfigurationError` for them. Their one knob would be exact vs HNSW search, which
Qdrant's HNSW defaults already keep near exact at the sizes an embedded store holds.

>>> import numpy as np
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.store import MultiVectorStore
>>> rng = np.random.default_rng(0)
>>> docs = [rng.standard_normal((int(n), 16)).astype(np.float32) for n in rng.integers(4, 12, 300)]
>>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
...     _ = store.add_embeddings(docs)
...     result = store.tune(target_recall=0.9, sample=50, k=5)
...     result.met, result.recall >= 0.9, store.prefetch_limit == result.prefetch_limit, result.queries
(True, True, True, 50)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multivec._flow import Flow
from multivec._options import number, positive_int
from multivec.errors import ConfigurationError, InvalidInputError, StoreCorruptedError
from multivec.store.backend import MULTIVECTOR, Backend, Count, RetrieveVectors, ScoredPayload, Scroll
from multivec.store.layout import TUNING_FILE, read_tuning_file, write_json
from multivec.validation import point_id

if TYPE_CHECKING:
    from multivec.store.store import MultiVectorStore

__all__ = [
    "DEFAULT_TARGET_RECALL",
    "PSEUDO_QUERY_TOKENS",
    "TuningPoint",
    "TuningResult",
    "ladder",
    "load_tuning",
    "pseudo_queries_flow",
    "resolve_limits",
    "save_tuning",
    "tune_flow",
]

DEFAULT_TARGET_RECALL = 0.95
#: Token vectors per pseudo-query: drawn uniformly in this range (inclusive), at most the document's length.
PSEUDO_QUERY_TOKENS = (8, 32)
#: Key of the tuned settings in a Qdrant collection's metadata.
METADATA_KEY = "tuning"
_RECORD_VERSION = 1
#: The 1-1.5-2-3-4-5-7 series of each decade: steps of about 1.4x.
_MANTISSAS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
_RETRIEVE_CHUNK = 32


@dataclass(frozen=True)
class TuningPoint:
    """Recall@k measured at one setting on its first ``queries`` queries.

    ``complete=False``: the setting was abandoned after ``queries`` queries, once its misses ruled the target out
    (``recall`` is then the recall on those queries).
    """

    prefetch_limit: int
    pooled_limit: int | None
    recall: float
    queries: int
    complete: bool = True


@dataclass(frozen=True)
class TuningResult:
    """What :meth:`MultiVectorStore.tune() <multivec.store.MultiVectorStore.tune>` chose and measured.

    ``prefetch_limit``/``pooled_limit`` (``None`` without ``token_pooling``): the chosen limits; ``recall``: the
    recall@k they reached; ``met``: whether that is at least ``target_recall`` (if no limit up to the whole
    collection meets it, the largest is chosen and ``met`` is False); ``queries``: how many were used and
    ``query_source`` where they came from (``"pseudo"`` or ``"given"``); ``records``: the collection size;
    ``seconds``: how long it took; ``curve``: every setting measured, in order; ``tuned_at``: ISO-8601 UTC time.
    """

    prefetch_limit: int
    pooled_limit: int | None
    recall: float
    target_recall: float
    met: bool
    k: int
    queries: int
    query_source: str
    records: int
    seconds: float
    curve: tuple[TuningPoint, ...]
    tuned_at: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what is persisted, plus nothing else)."""
        data = asdict(self)
        data["curve"] = [asdict(point) for point in self.curve]
        return {"multivec_tuning": _RECORD_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TuningResult:
        """The result a persisted record holds; :class:`StoreCorruptedError` naming ``where`` if it is malformed."""
        try:
            if not isinstance(data, dict) or data.get("multivec_tuning") != _RECORD_VERSION:
                raise ValueError("not a multivec tuning record of this version")
            fields = {key: value for key, value in data.items() if key != "multivec_tuning"}
            fields["curve"] = tuple(TuningPoint(**point) for point in fields["curve"])
            result = cls(**fields)
            positive_int(result.prefetch_limit, "prefetch_limit")
            if result.pooled_limit is not None:
                positive_int(result.pooled_limit, "pooled_limit")
        except (TypeError, ValueError, KeyError) as err:
            raise StoreCorruptedError(
                f"the tuned settings in {where} are damaged ({err}); delete them (or run `multivec tune` again)",
                path=where,
            ) from None
        return result

    def summary(self) -> str:
        """One line: the chosen limits and the recall they reached."""
        pooled = "" if self.pooled_limit is None else f", pooled_limit={self.pooled_limit}"
        verdict = "meets" if self.met else "does NOT meet"
        return (
            f"prefetch_limit={self.prefetch_limit}{pooled}: recall@{self.k} {self.recall:.3f} {verdict} the target "
            f"{self.target_recall:g} on {self.queries} {self.query_source} queries ({self.records} records, "
            f"{self.seconds:.1f} s)"
        )


def ladder(start: int, stop: int) -> list[int]:
    """Limits to try, ascending: ``start``, then the 1-1.5-2-3-4-5-7 series above it, ending with ``stop``.

    >>> ladder(10, 120)
    [10, 15, 20, 30, 40, 50, 70, 100, 120]
    >>> ladder(4, 9), ladder(10, 10), ladder(10, 3)
    ([4, 5, 7, 9], [10], [10])
    """
    values = {start}
    decade = 1
    while decade <= stop:
        values.update(int(m * decade) for m in _MANTISSAS)
        decade *= 10
    if stop <= start:
        return [start]
    return [v for v in sorted(values) if start <= v < stop] + [stop]


def _check_arguments(target_recall: Any, queries: Any, sample: Any, k: Any, seed: Any) -> float:
    target = number(target_recall, "target_recall", minimum=0, maximum=1, open_minimum=True, error=InvalidInputError)
    positive_int(sample, "sample", InvalidInputError)
    positive_int(k, "k", InvalidInputError)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInputError(f"seed must be an int, got {seed!r}")
    if queries is not None and (isinstance(queries, str | bytes | np.ndarray) or not isinstance(queries, Sequence)):
        raise InvalidInputError(
            "queries must be a list of queries (texts, images or (n_tokens, dim) query arrays), or None for "
            "pseudo-queries made from stored documents"
        )
    if queries is not None and not queries:
        raise InvalidInputError("queries is empty; pass at least one query, or None for pseudo-queries")
    return target


def pseudo_queries_flow(store: MultiVectorStore, sample: int, seed: int = 0) -> Flow[list[np.ndarray]]:
    """Up to ``sample`` pseudo-queries: each a seeded random pick of 8-32 token vectors of one stored document.

    The documents are a seeded sample of the first ``4 * sample`` records in point-id order (point ids are
    UUIDv5 hashes of the item ids, so that order is unrelated to content or insertion).
    """
    rng = np.random.default_rng(seed)
    payloads = yield Scroll(None, 4 * sample)
    ids = [str(p["id"]) for p in payloads if "id" in p]
    if len(ids) > sample:
        ids = [ids[i] for i in sorted(rng.choice(len(ids), sample, replace=False))]
    low, high = PSEUDO_QUERY_TOKENS
    queries: list[np.ndarray] = []
    for start in range(0, len(ids), _RETRIEVE_CHUNK):
        chunk = ids[start : start + _RETRIEVE_CHUNK]
        found = yield RetrieveVectors([point_id(i) for i in chunk], MULTIVECTOR)
        tokens = {str(payload.get("id")): vectors for payload, vectors in found}
        for item in chunk:
            if item not in tokens:  # deleted in between
                continue
            rows = tokens[item]
            n = len(rows)
            m = int(rng.integers(min(low, n), min(high, n) + 1))
            queries.append(np.ascontiguousarray(rows[np.sort(rng.choice(n, m, replace=False))]))
    return queries


@dataclass(frozen=True)
class _Truth:
    ids: frozenset[str]
    floor: float  # the exact k-th score: a result scoring this high ties the exact top k
    tolerance: float


def _found(results: list[ScoredPayload], truth: _Truth) -> int:
    hits = sum(1 for r in results if r.payload.get("id") in truth.ids or r.score >= truth.floor - truth.tolerance)
    return min(hits, len(truth.ids))


def tune_flow(
    store: MultiVectorStore,
    target_recall: float = DEFAULT_TARGET_RECALL,
    queries: Sequence[Any] | None = None,
    sample: int = 200,
    k: int = 10,
    seed: int = 0,
) -> Flow[TuningResult]:
    """Measure and choose the limits (see the module docstring); the store applies and persists the result."""
    target = _check_arguments(target_recall, queries, sample, k, seed)
    if not store.is_multi_vector:
        raise ConfigurationError(
            "tune() needs a multi-vector store: a single-vector store searches its one dense vector directly, with "
            "no prefetch stage to tune"
        )
    started = time.perf_counter()
    records = int((yield Count()))
    if records == 0:
        raise InvalidInputError("the store is empty; add documents before tuning its search")
    if queries is None:
        vectors = yield from pseudo_queries_flow(store, sample, seed)
        source = "pseudo"
    else:
        vectors = []
        for query in queries:
            vectors.append((yield from store._query_vectors(query)))
        source = "given"
    truths = []
    for query in vectors:
        exact, n_tokens = yield from store._search_flow(query, k, None, True, None, None)
        floor = min((r.score for r in exact), default=math.inf)
        truths.append(_Truth(frozenset(str(r.payload.get("id")) for r in exact), floor, 1e-5 * max(1, n_tokens)))
    if not vectors:
        raise InvalidInputError("no query could be made: the sampled documents were deleted while tuning")
    total = sum(len(t.ids) for t in truths)

    allowed = total - math.ceil(target * total - 1e-9)  # the misses the target tolerates

    def measure(prefetch: int, pooled: int | None, abandon: bool = True) -> Flow[TuningPoint]:
        """Recall at one setting; with ``abandon``, stop (``complete=False``) once the target is out of reach, so
        a setting is complete exactly when it meets the target."""
        missed = relevant = 0
        for n, (query, truth) in enumerate(zip(vectors, truths, strict=True), 1):
            results, _ = yield from store._search_flow(query, k, None, False, prefetch, None, pooled_keep=pooled)
            missed += len(truth.ids) - _found(results, truth)
            relevant += len(truth.ids)
            if abandon and missed > allowed:
                return TuningPoint(prefetch, pooled, 1 - missed / relevant, n, complete=False)
        return TuningPoint(prefetch, pooled, 1 - missed / relevant, len(vectors))

    pooling = store.token_pooling is not None
    curve: list[TuningPoint] = []
    for prefetch in ladder(k, records):
        curve.append((yield from measure(prefetch, prefetch if pooling else None)))
        if curve[-1].complete:
            break
    else:  # not even the whole collection meets it (ties, or an HNSW graph that misses points): the largest, measured
        last = curve[-1].prefetch_limit
        curve[-1] = yield from measure(last, last if pooling else None, abandon=False)
    chosen = curve[-1]
    met = chosen.recall >= target - 1e-12
    if pooling and met:
        for pooled in ladder(k, chosen.prefetch_limit)[:-1]:
            curve.append((yield from measure(chosen.prefetch_limit, pooled)))
            if curve[-1].complete:
                chosen = curve[-1]
                break
    return TuningResult(
        prefetch_limit=chosen.prefetch_limit,
        pooled_limit=chosen.pooled_limit,
        recall=chosen.recall,
        target_recall=target,
        met=met,
        k=k,
        queries=len(vectors),
        query_source=source,
        records=records,
        seconds=time.perf_counter() - started,
        curve=tuple(curve),
        tuned_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# -- persistence ------------------------------------------------------------------------------------------------


def _directory(backend: Backend) -> Path | None:
    directory = getattr(backend, "directory", None)  # the embedded store's collection directory
    return Path(directory) if directory is not None else None


def load_tuning(backend: Backend) -> TuningResult | None:
    """The tuned settings persisted with the collection ``backend`` holds, or ``None``."""
    directory = _directory(backend)
    if directory is not None:
        data = read_tuning_file(directory)
        where = str(directory / TUNING_FILE)
    else:
        data = backend.metadata.get(METADATA_KEY)
        where = "the collection metadata"
    return None if data is None else TuningResult.from_dict(data, where)


def save_tuning(backend: Backend, result: TuningResult) -> None:
    """Persist ``result`` with the collection (atomically: the previous settings stay if this fails)."""
    directory = _directory(backend)
    if directory is not None:
        write_json(directory / TUNING_FILE, result.as_dict())
    else:
        backend.update_metadata({METADATA_KEY: result.as_dict()})  # type: ignore[attr-defined]


def resolve_limits(tuned: TuningResult | None, prefetch_limit: int | None, pooled_limit: int | None) -> tuple[int, int]:
    """The limits a store opens with: the constructor's where given, else the tuned ones, else the defaults.

    >>> resolve_limits(None, None, None)
    (100, 30)
    >>> tuned = TuningResult(40, 15, 0.97, 0.95, True, 10, 200, "pseudo", 1000, 1.0, (), "2026-01-01T00:00:00+00:00")
    >>> resolve_limits(tuned, None, None), resolve_limits(tuned, 200, None)
    ((40, 15), (200, 15))
    """
    from multivec.store.store import DEFAULT_POOLED_LIMIT, DEFAULT_PREFETCH_LIMIT

    if prefetch_limit is None:
        prefetch_limit = tuned.prefetch_limit if tuned is not None else DEFAULT_PREFETCH_LIMIT
    if pooled_limit is None:
        pooled_limit = tuned.pooled_limit if tuned is not None and tuned.pooled_limit else DEFAULT_POOLED_LIMIT
    return positive_int(prefetch_limit, "prefetch_limit"), positive_int(pooled_limit, "pooled_limit")
