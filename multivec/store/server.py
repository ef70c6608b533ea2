"""ServerBackend: a collection on a Qdrant server or cluster through qdrant-client (``url=``, ``api_key=``), or
qdrant-client's in-process local mode (``location=":memory:"``, for tests).

This is how a multivec store scales past one machine: the collection is created with the same schema as the
embedded store, and collection options are passed through to ``create_collection`` (``shard_number``,
``replication_factor``, ``write_consistency_factor``, ``on_disk_payload``, ``hnsw_config``, ``optimizers_config``,
``wal_config``, ``quantization_config``, ``strict_mode_config``, ``sharding_method``, ...). ``on_disk=True`` keeps
the token vectors on disk, ``multivector_datatype="turbo8"`` stores them in 8 bits (Qdrant's Turbo8; refused in local
mode, which keeps float32), and ``hnsw_ef`` sets the first stage's search-time HNSW ``ef``. Sync calls use :class:`~qdrant_client.QdrantClient`; async calls use
:class:`~qdrant_client.AsyncQdrantClient` (native async I/O), created on first use::

    store = MultiVectorStore(embedder, "docs", url="https://qdrant.example:6333", api_key="...",
                             shard_number=4, replication_factor=2)

The requests and results this backend shares with the embedded one are built in :mod:`multivec.store.mapping`; the
flows here turn each operation into typed requests (one dataclass per qdrant-client call: :class:`QueryPoints`,
:class:`UpsertPoints`, ...), which :func:`_call` sends with the sync client or the async one.

Local mode (``:memory:``) runs qdrant-client's pure-Python engine: exact brute force for every query (a prefetch
does not prune there, so two-stage and exact searches cost the same), no payload indexes; fine for tests and a
few thousand items, not for speed. Its async calls run the same in-memory client on a worker thread, so the sync
and async methods see the same data.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from dataclasses import dataclass
from typing import Any, cast

from qdrant_client import AsyncQdrantClient, QdrantClient, models

from multivec._flow import Flow, run_async, run_sync
from multivec.errors import CollectionNotFoundError, ConfigurationError, StoreError
from multivec.store.backend import (
    DEFAULT_HNSW_EF,
    DENSE,
    LEXICAL,
    MULTIVECTOR,
    POOLED,
    Backend,
    Clear,
    CollectionSpec,
    Count,
    Delete,
    EnableLexical,
    Finish,
    HybridQuery,
    Op,
    PointData,
    Query,
    Scroll,
    SetPayload,
    Upsert,
    full_scan_threshold_kb,
    resolve_metadata,
)
from multivec.store.filters import metadata_path, to_client_filter
from multivec.store.mapping import (
    EVERYTHING,
    RESULT_PAYLOAD_EXCLUDE,
    Lookup,
    QueryPlan,
    Stage,
    delete_target,
    lexical_plan,
    looked_up,
    lookup_vectors,
    point_vectors,
    query_plan,
    scored,
    scroll_flow,
)
from multivec.store.options import ServerConnection
from multivec.validation import positive_int

__all__ = ["ServerBackend"]

_FIELD_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
    "text": models.PayloadSchemaType.TEXT,
    "datetime": models.PayloadSchemaType.DATETIME,
}
_DATATYPE = {
    "float16": models.Datatype.FLOAT16,
    "float32": models.Datatype.FLOAT32,
    "turbo8": models.Datatype.TURBO8,
}
_CREATE_OPTIONS = set(inspect.signature(QdrantClient.create_collection).parameters) - {
    "self",
    "collection_name",
    "vectors_config",
    "sparse_vectors_config",
    "metadata",
    "kwargs",
}
#: The lexical index of hybrid search, as on the embedded store (English words, lowercased, no stop words,
#: Snowball-stemmed, BM25). qdrant-client's local mode ranks text only with its default tokenisation.
_LEXICAL_INDEX = models.TextIndexParams(
    type=models.TextIndexType.TEXT,
    tokenizer=models.TokenizerType.WORD,
    lowercase=True,
    stopwords=models.Language.ENGLISH,
    stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
    scoring=models.TextScoringParams(type=models.TextScoringType.BM25),
)
_LOCAL_LEXICAL_INDEX = models.TextIndexParams(
    type=models.TextIndexType.TEXT, scoring=models.TextScoringParams(type=models.TextScoringType.BM25)
)
_SET_PAYLOAD_BATCH = 256
#: Search results leave out the lexical text (a copy of the content, needed by the index only).
_RESULT_PAYLOAD = models.PayloadSelectorExclude(exclude=list(RESULT_PAYLOAD_EXCLUDE))


class ServerBackend(Backend):
    """A qdrant-client collection; see the module docstring."""

    def __init__(
        self,
        spec: CollectionSpec,
        connection: ServerConnection,
        *,
        create: bool = True,
    ) -> None:
        options = dict(spec.options)
        on_disk = options.pop("on_disk", None)
        self._hnsw_ef = positive_int(options.pop("hnsw_ef", DEFAULT_HNSW_EF), "hnsw_ef")
        unknown = sorted(set(options) - _CREATE_OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"unknown collection option(s) for a Qdrant server: {', '.join(unknown)}; supported: on_disk, "
                f"hnsw_ef, {', '.join(sorted(_CREATE_OPTIONS))}"
            )
        if connection.local and spec.datatype == "turbo8":
            raise ConfigurationError(
                "multivector_datatype='turbo8' is not supported by qdrant-client local mode (location=':memory:'): "
                "it keeps every vector as float32 whatever the datatype; use the embedded store (path=...) or a "
                "Qdrant server (url=...), or leave multivector_datatype out"
            )
        self.name = spec.name
        self.local = connection.local
        self._connection = connection
        self._client = connection.sync_client()
        self._aclient: AsyncQdrantClient | None = connection.aclient
        self._create = create
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.metadata = self._open(spec, on_disk, options)
        except Exception:
            if connection.owns_clients:
                self._client.close()
            raise

    def _open(self, spec: CollectionSpec, on_disk: bool | None, options: dict[str, Any]) -> dict[str, Any]:
        where = f"collection {spec.name!r}"
        try:
            exists = self._client.collection_exists(spec.name)
            stored = None
            if exists:
                config = self._client.get_collection(spec.name).config
                stored = dict(config.metadata) if config.metadata else None
                if stored is None or "multivec" not in stored:
                    raise ConfigurationError(
                        f"{where} exists but was not created by multivec; use another collection_name"
                    )
            if not exists and not self._create:
                raise CollectionNotFoundError(
                    f"there is no {where} on this Qdrant server; create it first (create_collection=True, the "
                    "default, or the adapters' from_texts/from_documents)"
                )
            metadata = resolve_metadata(stored, spec, where)
            if not exists:
                self._client.create_collection(
                    spec.name, vectors_config=_vectors_config(spec, metadata, on_disk), metadata=metadata, **options
                )
            if metadata.get("hybrid") is not None:
                self._ensure_lexical_index(spec.name)
            if not self.local:  # local mode has no payload indexes (and warns about them)
                indexed = set(self._client.get_collection(spec.name).payload_schema)
                for key, kind in spec.filterable_fields.items():
                    if metadata_path(key) not in indexed:
                        self._client.create_payload_index(
                            spec.name, metadata_path(key), field_schema=_FIELD_SCHEMA[kind], wait=True
                        )
        except (ConfigurationError, CollectionNotFoundError):
            raise
        except Exception as err:
            raise StoreError(f"could not open {where} on Qdrant ({err})") from err
        return metadata

    def _ensure_lexical_index(self, name: str) -> None:
        if self.local:  # local mode reports no payload schema; creating the index again keeps it
            self._client.create_payload_index(name, LEXICAL, field_schema=_LOCAL_LEXICAL_INDEX)
        elif LEXICAL not in set(self._client.get_collection(name).payload_schema):
            self._client.create_payload_index(name, LEXICAL, field_schema=_LEXICAL_INDEX, wait=True)

    # -- execution ------------------------------------------------------------------------------------------------

    def execute(self, op: Op) -> Any:
        if isinstance(op, EnableLexical):
            with self._lock:
                _guarded_sync(lambda: self._ensure_lexical_index(self.name))
            self.update_metadata({"hybrid": dict(op.settings)})
            return None

        def send(request: Request) -> Any:
            return _call(self._client, self.name, request)

        with self._lock:
            return _guarded_sync(lambda: run_sync(self._flow(op), send))

    async def aexecute(self, op: Op) -> Any:
        if self.local or isinstance(op, EnableLexical):
            return await asyncio.to_thread(self.execute, op)
        if self._aclient is None:
            self._aclient = self._connection.async_client()
        client = self._aclient

        async def send(request: Request) -> Any:
            return await _call(client, self.name, request)

        try:
            return await run_async(self._flow(op), send)
        except StoreError:
            raise
        except Exception as err:
            raise StoreError(f"Qdrant request failed: {err}") from err

    def update_metadata(self, values: dict[str, Any]) -> None:
        """Store ``values`` in the collection's metadata on the server (the tuned search limits live there)."""
        metadata = {**self.metadata, **values}  # all of it: correct whether the server merges or replaces
        with self._lock:
            _guarded_sync(lambda: self._client.update_collection(self.name, metadata=metadata))
        self.metadata = metadata

    def collection_info(self) -> models.CollectionInfo:
        """What the server reports about the collection (points, segments, status), for ``store.stats()``."""
        with self._lock:
            return cast(models.CollectionInfo, _guarded_sync(lambda: self._client.get_collection(self.name)))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._connection.owns_clients:  # a client the caller gave is the caller's to close
            self._client.close()

    async def aclose(self) -> None:
        if self._aclient is not None and self._connection.owns_clients:
            await self._aclient.close()
        self._aclient = None
        self.close()

    # -- requests -------------------------------------------------------------------------------------------------

    def _flow(self, op: Op) -> Flow[Any]:
        """Typed requests (:data:`Request`) for ``op``; receives each response; returns the op's result."""
        if isinstance(op, Query):
            response = yield self._query(query_plan(op))
            return [scored(p) for p in response.points]
        if isinstance(op, HybridQuery):
            main = self._query(query_plan(op.query, op.text if op.rerank else None, op.lexical_limit))
            lexical = self._query(lexical_plan(op))
            responses = yield QueryBatchPoints([main.batch_request(), lexical.batch_request()])
            return [scored(p) for p in responses[0].points], [scored(p) for p in responses[1].points]
        if isinstance(op, SetPayload):
            updates = [
                models.SetPayloadOperation(set_payload=models.SetPayload(payload=values, points=[point_id]))
                for point_id, values in op.values.items()
            ]
            for start in range(0, len(updates), _SET_PAYLOAD_BATCH):
                yield BatchUpdatePoints(list(updates[start : start + _SET_PAYLOAD_BATCH]))
            return None
        if isinstance(op, Upsert):
            yield UpsertPoints([_point(p) for p in op.points])
            return None
        if isinstance(op, Finish):
            return None
        if isinstance(op, Lookup):
            records = yield RetrievePoints(list(op.point_ids), lookup_vectors(op))
            return looked_up(op, records)
        if isinstance(op, Scroll):
            scroll_filter = to_client_filter(op.filter)
            return (yield from scroll_flow(op.limit, lambda offset, size: ScrollPoints(scroll_filter, size, offset)))
        if isinstance(op, Count):
            response = yield CountPoints(to_client_filter(op.filter))
            return int(response.count)
        if isinstance(op, Delete | Clear):
            target = delete_target(op) if isinstance(op, Delete) else EVERYTHING
            selector: models.PointIdsList | models.FilterSelector
            if isinstance(target, list):
                selector = models.PointIdsList(points=list(target))
            else:
                selector = models.FilterSelector(filter=to_client_filter(target))
            yield DeletePoints(selector)
            return None
        raise TypeError(f"unknown operation {op!r}")

    def _query(self, plan: QueryPlan) -> QueryPoints:
        """The ``query_points`` request of ``plan``."""
        query_filter = to_client_filter(plan.filter)
        final = plan.stage
        return QueryPoints(
            query=_stage_query(final),
            using=final.using,
            prefetch=_one_or_list([self._prefetch(stage, query_filter) for stage in final.prefetch]),
            query_filter=query_filter,
            # local mode is always exact (and warns about search params)
            search_params=models.SearchParams(exact=True) if plan.exact and not self.local else None,
            limit=final.limit,
            with_vectors=[DENSE] if plan.with_dense else False,
            score_threshold=plan.score_threshold,
        )

    def _prefetch(self, stage: Stage, query_filter: models.Filter | None) -> models.Prefetch:
        return models.Prefetch(
            prefetch=_one_or_list([self._prefetch(inner, query_filter) for inner in stage.prefetch]),
            query=_stage_query(stage),
            using=stage.using,
            limit=stage.limit,
            filter=query_filter,
            # the first stage searches the dense HNSW (local mode is always exact, and warns about search params)
            params=models.SearchParams(hnsw_ef=self._hnsw_ef) if stage.using == DENSE and not self.local else None,
        )


def _stage_query(stage: Stage) -> Any:
    return models.TextQuery(text=stage.query) if isinstance(stage.query, str) else stage.query


def _one_or_list(prefetch: list[models.Prefetch]) -> models.Prefetch | list[models.Prefetch] | None:
    return prefetch[0] if len(prefetch) == 1 else prefetch or None


# -- typed requests: one per qdrant-client call -------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPoints:
    """``query_points``: one search (its arguments but the collection)."""

    query: Any
    using: str
    prefetch: models.Prefetch | list[models.Prefetch] | None
    query_filter: models.Filter | None
    search_params: models.SearchParams | None
    limit: int
    with_vectors: bool | list[str]
    score_threshold: float | None

    def batch_request(self) -> models.QueryRequest:
        """The same search as one request of ``query_batch_points``."""
        return models.QueryRequest(
            query=self.query,
            using=self.using,
            prefetch=self.prefetch,
            filter=self.query_filter,
            params=self.search_params,
            limit=self.limit,
            with_payload=_RESULT_PAYLOAD,
            with_vector=self.with_vectors,
            score_threshold=self.score_threshold,
        )


@dataclass(frozen=True)
class QueryBatchPoints:
    """``query_batch_points``: several searches in one request."""

    requests: list[models.QueryRequest]


@dataclass(frozen=True)
class UpsertPoints:
    """``upsert`` (waiting for it to be applied)."""

    points: list[models.PointStruct]


@dataclass(frozen=True)
class RetrievePoints:
    """``retrieve`` with payloads and the vectors ``with_vectors`` names."""

    ids: list[str]
    with_vectors: bool | list[str]


@dataclass(frozen=True)
class ScrollPoints:
    """``scroll``: one page of payloads."""

    scroll_filter: models.Filter | None
    limit: int
    offset: Any


@dataclass(frozen=True)
class CountPoints:
    """``count`` (exact)."""

    count_filter: models.Filter | None


@dataclass(frozen=True)
class DeletePoints:
    """``delete`` (waiting for it to be applied)."""

    points_selector: models.PointIdsList | models.FilterSelector


@dataclass(frozen=True)
class BatchUpdatePoints:
    """``batch_update_points`` (waiting for them to be applied)."""

    update_operations: list[models.SetPayloadOperation]


#: What the flows yield: the qdrant-client calls this backend makes.
Request = (
    QueryPoints
    | QueryBatchPoints
    | UpsertPoints
    | RetrievePoints
    | ScrollPoints
    | CountPoints
    | DeletePoints
    | BatchUpdatePoints
)


def _call(client: QdrantClient | AsyncQdrantClient, collection: str, request: Request) -> Any:
    """Send ``request`` to ``collection``: the response, or with the async client an awaitable of it."""
    match request:
        case QueryPoints():
            return client.query_points(
                collection_name=collection,
                query=request.query,
                using=request.using,
                prefetch=request.prefetch,
                query_filter=request.query_filter,
                search_params=request.search_params,
                limit=request.limit,
                with_payload=_RESULT_PAYLOAD,
                with_vectors=request.with_vectors,
                score_threshold=request.score_threshold,
            )
        case QueryBatchPoints(requests):
            return client.query_batch_points(collection_name=collection, requests=requests)
        case UpsertPoints(points):
            return client.upsert(collection_name=collection, points=points, wait=True)
        case RetrievePoints(ids, with_vectors):
            return client.retrieve(collection_name=collection, ids=ids, with_payload=True, with_vectors=with_vectors)
        case ScrollPoints(scroll_filter, limit, offset):
            return client.scroll(
                collection_name=collection, scroll_filter=scroll_filter, limit=limit, offset=offset, with_payload=True
            )
        case CountPoints(count_filter):
            return client.count(collection_name=collection, count_filter=count_filter, exact=True)
        case DeletePoints(points_selector):
            return client.delete(collection_name=collection, points_selector=points_selector, wait=True)
        case BatchUpdatePoints(update_operations):
            return client.batch_update_points(
                collection_name=collection, update_operations=update_operations, wait=True
            )
    raise TypeError(f"unknown request {request!r}")


def _guarded_sync(fn: Any) -> Any:
    try:
        return fn()
    except StoreError:
        raise
    except Exception as err:
        raise StoreError(f"Qdrant request failed: {err}") from err


def _vectors_config(spec: CollectionSpec, metadata: dict[str, Any], on_disk: bool | None) -> dict[str, Any]:
    # the first stage: HNSW once a segment holds FULL_SCAN_POINTS dense vectors (the server sizes its own segments)
    first_stage = models.HnswConfigDiff(full_scan_threshold=full_scan_threshold_kb(spec.dim))
    config: dict[str, models.VectorParams] = {
        DENSE: models.VectorParams(size=spec.dim, distance=models.Distance.COSINE, hnsw_config=first_stage)
    }
    if spec.multi_vector:
        names = [MULTIVECTOR, POOLED] if metadata.get("token_pooling") else [MULTIVECTOR]
        for name in names:
            config[name] = models.VectorParams(
                size=spec.dim,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
                hnsw_config=models.HnswConfigDiff(m=0),
                datatype=_DATATYPE[metadata["datatype"]],
                on_disk=on_disk if name == MULTIVECTOR else None,
            )
    return config


def _point(p: PointData) -> models.PointStruct:
    return models.PointStruct(id=p.point_id, vector=point_vectors(p), payload=p.payload)
