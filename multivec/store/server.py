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

Local mode (``:memory:``) runs qdrant-client's pure-Python engine: exact brute force for every query (a prefetch
does not prune there, so two-stage and exact searches cost the same), no payload indexes; fine for tests and a
few thousand items, not for speed. Its async calls run the same in-memory client on a worker thread, so the sync
and async methods see the same data.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any, cast

import numpy as np
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
    Retrieve,
    RetrieveVectors,
    ScoredPayload,
    Scroll,
    SetPayload,
    Snapshot,
    Upsert,
    full_scan_threshold_kb,
    ids_filter,
    resolve_metadata,
    snapshot_point,
    stored_vectors,
)
from multivec.store.filters import metadata_path
from multivec.store.options import ServerConnection
from multivec.store.validation import positive_int

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
_SCROLL_PAGE = 1000
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
_RESULT_PAYLOAD = models.PayloadSelectorExclude(exclude=[LEXICAL])


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

        def send(request: tuple[str, dict[str, Any]]) -> Any:
            method, kwargs = request
            return getattr(self._client, method)(collection_name=self.name, **kwargs)

        with self._lock:
            return _guarded_sync(lambda: run_sync(self._flow(op), send))

    async def aexecute(self, op: Op) -> Any:
        if self.local or isinstance(op, EnableLexical):
            return await asyncio.to_thread(self.execute, op)
        if self._aclient is None:
            self._aclient = self._connection.async_client()
        client = self._aclient

        async def send(request: tuple[str, dict[str, Any]]) -> Any:
            method, kwargs = request
            return await getattr(client, method)(collection_name=self.name, **kwargs)

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
        """Requests ``(method, kwargs)`` for ``op``; receives each response; returns the op's result."""
        if isinstance(op, Query):
            response = yield "query_points", self._query_kwargs(op)
            return [_scored(p) for p in response.points]
        if isinstance(op, HybridQuery):
            main = _batch_request(self._query_kwargs(op.query, op.text if op.rerank else None, op.lexical_limit))
            lexical = models.QueryRequest(
                query=models.TextQuery(text=op.text),
                using=LEXICAL,
                filter=op.query.filter,
                limit=op.lexical_limit,
                with_payload=_RESULT_PAYLOAD,
            )
            responses = yield "query_batch_points", {"requests": [main, lexical]}
            return [_scored(p) for p in responses[0].points], [_scored(p) for p in responses[1].points]
        if isinstance(op, SetPayload):
            updates = [
                models.SetPayloadOperation(set_payload=models.SetPayload(payload=values, points=[point_id]))
                for point_id, values in op.values.items()
            ]
            for start in range(0, len(updates), _SET_PAYLOAD_BATCH):
                yield (
                    "batch_update_points",
                    {"update_operations": updates[start : start + _SET_PAYLOAD_BATCH], "wait": True},
                )
            return None
        if isinstance(op, Upsert):
            yield "upsert", {"points": [_point(p) for p in op.points], "wait": True}
            return None
        if isinstance(op, Finish):
            return None
        if isinstance(op, Retrieve):
            records = yield "retrieve", {"ids": list(op.point_ids), "with_payload": True}
            return [dict(r.payload or {}) for r in records]
        if isinstance(op, RetrieveVectors):
            records = yield "retrieve", {"ids": list(op.point_ids), "with_payload": True, "with_vectors": [op.using]}
            return [stored_vectors(r.payload, r.vector, op.using) for r in records]
        if isinstance(op, Snapshot):
            records = yield "retrieve", {"ids": list(op.point_ids), "with_payload": True, "with_vectors": True}
            return [snapshot_point(r.id, r.payload, r.vector) for r in records]
        if isinstance(op, Scroll):
            out: list[dict[str, Any]] = []
            offset = None
            while op.limit is None or len(out) < op.limit:
                page = _SCROLL_PAGE if op.limit is None else min(_SCROLL_PAGE, op.limit - len(out))
                records, offset = yield (
                    "scroll",
                    {
                        "scroll_filter": op.filter,
                        "limit": page,
                        "offset": offset,
                        "with_payload": True,
                    },
                )
                out.extend(dict(r.payload or {}) for r in records)
                if offset is None:
                    break
            return out
        if isinstance(op, Count):
            response = yield "count", {"count_filter": op.filter, "exact": True}
            return int(response.count)
        if isinstance(op, Delete):
            selector: models.PointIdsList | models.FilterSelector
            if op.filter is None and op.point_ids is not None:
                selector = models.PointIdsList(points=list(op.point_ids))
            else:
                flt = op.filter if op.point_ids is None else ids_filter(op.point_ids, op.filter)
                assert flt is not None
                selector = models.FilterSelector(filter=flt)
            yield "delete", {"points_selector": selector, "wait": True}
            return None
        if isinstance(op, Clear):
            yield "delete", {"points_selector": models.FilterSelector(filter=models.Filter()), "wait": True}
            return None
        raise TypeError(f"unknown operation {op!r}")

    def _query_kwargs(self, op: Query, lexical_text: str | None = None, lexical_limit: int = 0) -> dict[str, Any]:
        """``query_points`` arguments of ``op``; ``lexical_text``: BM25 candidates join its first stage."""
        kwargs: dict[str, Any] = {
            "query_filter": op.filter,
            "limit": op.limit,
            "with_payload": _RESULT_PAYLOAD,
            "with_vectors": [DENSE] if op.with_dense else False,
            "score_threshold": op.score_threshold,
        }
        if op.multivector is None:
            kwargs.update(query=op.dense, using=DENSE)
        else:
            kwargs.update(query=op.multivector, using=MULTIVECTOR)
            if op.prefetch_limit is not None:
                first = models.Prefetch(
                    query=cast(Any, op.dense),
                    using=DENSE,
                    limit=op.prefetch_limit,
                    filter=op.filter,
                    # local mode is always exact (and warns about search params)
                    params=None if self.local else models.SearchParams(hnsw_ef=self._hnsw_ef),
                )
                stage: models.Prefetch | list[models.Prefetch] = first
                if lexical_text is not None:
                    text_query = models.TextQuery(text=lexical_text)
                    lexical = models.Prefetch(query=text_query, using=LEXICAL, limit=lexical_limit, filter=op.filter)
                    stage = [first, lexical]
                if op.pooled_limit is not None:
                    stage = models.Prefetch(
                        prefetch=stage,
                        query=cast(Any, op.multivector),
                        using=POOLED,
                        limit=op.pooled_limit,
                        filter=op.filter,
                    )
                kwargs["prefetch"] = stage
        if op.exact and not self.local:  # local mode is always exact (and warns about search params)
            kwargs["search_params"] = models.SearchParams(exact=True)
        return kwargs


def _batch_request(kwargs: dict[str, Any]) -> models.QueryRequest:
    """``query_points`` arguments as one request of ``query_batch_points``."""
    names = {"query_filter": "filter", "with_vectors": "with_vector", "search_params": "params"}
    return models.QueryRequest(**{names.get(key, key): value for key, value in kwargs.items()})


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
    vectors: dict[str, Any] = {DENSE: p.dense.tolist()}
    if p.multivector is not None:
        vectors[MULTIVECTOR] = p.multivector.tolist()
    if p.pooled_tokens is not None:
        vectors[POOLED] = p.pooled_tokens.tolist()
    return models.PointStruct(id=p.point_id, vector=vectors, payload=p.payload)


def _scored(point: models.ScoredPoint) -> ScoredPayload:
    dense = None
    if isinstance(point.vector, dict) and DENSE in point.vector:
        dense = np.asarray(point.vector[DENSE], dtype=np.float32)
    return ScoredPayload(payload=dict(point.payload or {}), score=float(point.score), dense=dense)
