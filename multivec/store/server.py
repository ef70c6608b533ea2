"""ServerBackend: a collection on a Qdrant server or cluster through qdrant-client (``url=``, ``api_key=``), or
qdrant-client's in-process local mode (``location=":memory:"``, for tests).

This is how a multivec store scales past one machine: the collection is created with the same schema as the
embedded store, and collection options are passed through to ``create_collection`` (``shard_number``,
``replication_factor``, ``write_consistency_factor``, ``on_disk_payload``, ``hnsw_config``, ``optimizers_config``,
``wal_config``, ``quantization_config``, ``strict_mode_config``, ``sharding_method``, ...). ``on_disk=True`` keeps
the token vectors on disk. Sync calls use :class:`~qdrant_client.QdrantClient`; async calls use
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

from multivec.errors import ConfigurationError, StoreError
from multivec.store._flow import Flow, run_async, run_sync
from multivec.store.backend import (
    DENSE,
    MULTIVECTOR,
    POOLED,
    Backend,
    Clear,
    CollectionSpec,
    Count,
    Delete,
    Finish,
    Op,
    PointData,
    Query,
    Retrieve,
    RetrieveVectors,
    ScoredPayload,
    Scroll,
    Snapshot,
    Upsert,
    ids_filter,
    resolve_metadata,
    snapshot_point,
    stored_vectors,
)
from multivec.store.filters import metadata_path

__all__ = ["ServerBackend"]

_FIELD_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
    "text": models.PayloadSchemaType.TEXT,
    "datetime": models.PayloadSchemaType.DATETIME,
}
_DATATYPE = {"float16": models.Datatype.FLOAT16, "float32": models.Datatype.FLOAT32}
_CREATE_OPTIONS = set(inspect.signature(QdrantClient.create_collection).parameters) - {
    "self",
    "collection_name",
    "vectors_config",
    "sparse_vectors_config",
    "metadata",
    "kwargs",
}
_SCROLL_PAGE = 1000


class ServerBackend(Backend):
    """A qdrant-client collection; see the module docstring."""

    def __init__(
        self,
        spec: CollectionSpec,
        *,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        options = dict(spec.options)
        on_disk = options.pop("on_disk", None)
        unknown = sorted(set(options) - _CREATE_OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"unknown collection option(s) for a Qdrant server: {', '.join(unknown)}; supported: on_disk, "
                f"{', '.join(sorted(_CREATE_OPTIONS))}"
            )
        self.name = spec.name
        self.local = location == ":memory:"
        self._connect = {"url": url, "api_key": api_key, "location": location, **(client_options or {})}
        self._client = QdrantClient(**self._connect)
        self._aclient: AsyncQdrantClient | None = None
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.metadata = self._open(spec, on_disk, options)
        except Exception:
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
            metadata = resolve_metadata(stored, spec, where)
            if not exists:
                self._client.create_collection(
                    spec.name, vectors_config=_vectors_config(spec, metadata, on_disk), metadata=metadata, **options
                )
            if not self.local:  # local mode has no payload indexes (and warns about them)
                indexed = set(self._client.get_collection(spec.name).payload_schema)
                for key, kind in spec.filterable_fields.items():
                    if metadata_path(key) not in indexed:
                        self._client.create_payload_index(
                            spec.name, metadata_path(key), field_schema=_FIELD_SCHEMA[kind], wait=True
                        )
        except ConfigurationError:
            raise
        except Exception as err:
            raise StoreError(f"could not open {where} on Qdrant ({err})") from err
        return metadata

    # -- execution ------------------------------------------------------------------------------------------------

    def execute(self, op: Op) -> Any:
        def send(request: tuple[str, dict[str, Any]]) -> Any:
            method, kwargs = request
            return getattr(self._client, method)(collection_name=self.name, **kwargs)

        with self._lock:
            return _guarded_sync(lambda: run_sync(self._flow(op), send))

    async def aexecute(self, op: Op) -> Any:
        if self.local:
            return await asyncio.to_thread(self.execute, op)
        if self._aclient is None:
            self._aclient = AsyncQdrantClient(**self._connect)
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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._client.close()

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = None
        self.close()

    # -- requests -------------------------------------------------------------------------------------------------

    def _flow(self, op: Op) -> Flow[Any]:
        """Requests ``(method, kwargs)`` for ``op``; receives each response; returns the op's result."""
        if isinstance(op, Query):
            response = yield "query_points", self._query_kwargs(op)
            return [_scored(p) for p in response.points]
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

    def _query_kwargs(self, op: Query) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "query_filter": op.filter,
            "limit": op.limit,
            "with_payload": True,
            "with_vectors": [DENSE] if op.with_dense else False,
            "score_threshold": op.score_threshold,
        }
        if op.multivector is None:
            kwargs.update(query=op.dense, using=DENSE)
        else:
            kwargs.update(query=op.multivector, using=MULTIVECTOR)
            if op.prefetch_limit is not None:
                first = models.Prefetch(
                    query=cast(Any, op.dense), using=DENSE, limit=op.prefetch_limit, filter=op.filter
                )
                if op.pooled_limit is not None:
                    first = models.Prefetch(
                        prefetch=first,
                        query=cast(Any, op.multivector),
                        using=POOLED,
                        limit=op.pooled_limit,
                        filter=op.filter,
                    )
                kwargs["prefetch"] = first
        if op.exact and not self.local:  # local mode is always exact (and warns about search params)
            kwargs["search_params"] = models.SearchParams(exact=True)
        return kwargs


def _guarded_sync(fn: Any) -> Any:
    try:
        return fn()
    except StoreError:
        raise
    except Exception as err:
        raise StoreError(f"Qdrant request failed: {err}") from err


def _vectors_config(spec: CollectionSpec, metadata: dict[str, Any], on_disk: bool | None) -> dict[str, Any]:
    config: dict[str, models.VectorParams] = {
        DENSE: models.VectorParams(size=spec.dim, distance=models.Distance.COSINE)
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
