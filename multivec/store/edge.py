"""EdgeBackend: the embedded Qdrant engine (qdrant-edge-py), the store's default backend.

Everything that touches the ``qdrant_edge`` API lives in this module (it is beta and 0.x: the supported versions,
the engine's file names and the workarounds for its quirks are in :mod:`multivec.store.engine`). The requests and
results it shares with the server backend are built in :mod:`multivec.store.mapping`; this module only translates
them to the engine's classes. It never imports ``qdrant_client``: dict filters arrive compiled
(:mod:`multivec.store.filters`), and only a ``qdrant_client`` filter given by the caller is read with its classes.

On disk, ``path/<collection_name>/`` holds ``multivec.json`` (the collection metadata: model name, dimension,
kind, datatype), ``multivec.state.json`` (the record count of the last acknowledged write), ``.lock`` and ``shard/``
(the edge shard: WAL plus mmap'd segments); see :mod:`multivec.store.layout`. Without a ``path`` the store lives in a
temporary directory removed on :meth:`close`.

Operational rules, from measurements of qdrant-edge 0.9:

- One process owns a store directory (:mod:`multivec.store.lock`): an open from another process raises
  :class:`~multivec.errors.StoreLockedError` before anything in the directory is read or written. In one process,
  opening a directory that is already open takes it over: the earlier store is closed first (flushed; a call it is
  running completes, its later calls raise :class:`~multivec.errors.StoreError` saying the directory was opened
  again), so re-running a notebook cell that opens a store just works. A store garbage-collected without
  :meth:`close` releases the engine and the directory too.
- Damaged files raise :class:`~multivec.errors.StoreCorruptedError` naming the file or directory, never a Rust
  panic: the engine's errors and panics at open, its panics on every call, and, at open, a record count that
  differs from the one the last acknowledged write left (the engine opens some damaged segments without an
  error). A directory with files but no ``multivec.json`` is refused, not adopted. ``MultiVectorStore.verify()``
  reads everything back (:mod:`multivec.store.integrity`).
- ``close()`` while calls run in other threads or tasks: each completes or raises
  :class:`~multivec.errors.StoreError`. A write call cut off by the close (or a takeover) has its undo log
  (:mod:`multivec.store.undo`) written to disk first, and the next open takes it back before anything else.
- A full disk or a file-size limit is an error, not a crash (the engine writes through memory maps, and a full
  filesystem under a map is SIGBUS): free space and ``RLIMIT_FSIZE`` are checked before every write, seal and open,
  with margins measured on the engine, and its I/O errors become :class:`~multivec.errors.StorageFullError`
  (:mod:`multivec.store.space`). A seal without room is deferred to a later write.
- The engine holds the GIL while it works, so async calls run on one dedicated worker thread and never block the
  event loop; sync calls run in the caller's thread (no thread hand-off on the hot path). A lock serialises all
  shard calls.
- Every write call ends with ``flush()``; writes are also in the WAL as soon as ``update`` returns, and a call of
  several requests is taken back from its undo log if the process dies before it returns (see
  :class:`~multivec.store.MultiVectorStore`).
- Segments are kept small enough that every search spreads over all search threads: writes go to one appendable
  segment, which is sealed (``optimize()``: indexed, the dense HNSW built) as soon as ``segment_mb`` MB of vectors
  (default 128) have been written to it, within a write call if need be, and sealed segments are never merged past
  1.5 × ``segment_mb``. A MaxSim rerank of 100 candidates costs the same at any collection size, so this matters
  for small collections as much as for large ones: 1,000 ColPali pages in one 527 MB segment rerank on one core
  (38 ms), in four they rerank on two (19 ms). ``optimize()`` also runs after a write call once
  ``optimize_threshold`` points (default 5000) have been written since the last one, and on demand via
  ``store.optimize()``. New points are searchable (brute force) before that.
- The first stage (the pooled ``dense`` vector) is an HNSW search in every sealed segment holding at least
  :data:`~multivec.store.backend.FULL_SCAN_POINTS` documents and an exact scan in smaller ones, so small stores keep exact first stages
  and large ones grow sub-linearly; a segment holds ``segment_mb`` MB of vectors, so the HNSW needs a
  ``segment_mb`` that fits that many documents (docs/scaling.md: 512 for 20k+ 160-token ColBERT passages in ``turbo8``).
- Token vectors are mapped lazily (Qdrant's "cold" memory tier), so opening does not wait for them: the engine's
  "cached" tier loads them all first (1.5-2.7 s for 20k ColBERT-like documents on this project's 2-vCPU box, since
  the engine also drops its files from the page cache on close), the cold one opens in 0.2 s. A background
  :class:`~multivec.store.page_cache.PageCacheWarmer` then reads them into the page cache while queries run, after
  opening and after every seal (the engine opens a sealed segment cold too), so steady-state latency is the same.

Edge-only options (``MultiVectorStore(..., **collection_options)``): ``on_disk`` (skip the warm-up of the full
token vectors: they are read from disk as queries touch them, for collections larger than RAM),
``max_search_threads``, ``search_pool_core``, ``optimize_threshold``, ``segment_mb``, ``hnsw_ef`` (search-time
``ef`` of the first stage's HNSW, default :data:`~multivec.store.backend.DEFAULT_HNSW_EF`). They apply to the store as
it is opened, a new one or an existing one, and an option left out has its default: none of them sticks to the
store from an earlier open.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import qdrant_edge as qe

from multivec._flow import run_sync
from multivec.errors import (
    ConfigurationError,
    InvalidInputError,
    StorageFullError,
    StoreCorruptedError,
    StoreError,
)
from multivec.store import space
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
    token_vector_bytes,
)
from multivec.store.engine import (
    CONFIG_FILE,
    SEARCH_POOL_OPTIONS,
    SEGMENTS_DIR,
    SHARD_DIR,
    drop_unset_options,
    engine_errors,
    engine_failure,
    is_panic,
    match_value,
    vector_storage_dir,
)
from multivec.store.filters import (
    CompiledFilter,
    FieldAny,
    FieldMatch,
    FieldRange,
    FieldText,
    Filter,
    HasId,
    metadata_path,
)
from multivec.store.layout import (
    HYBRID_FILE,
    LEDGER_FILE,
    META_FILE,
    Ledger,
    check_store_dir,
    read_hybrid_file,
    read_metadata,
    write_json,
)
from multivec.store.lock import StoreLock, owning
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
from multivec.store.page_cache import PageCacheWarmer
from multivec.validation import non_negative_int, positive_int

if TYPE_CHECKING:
    from qdrant_client import models

__all__ = ["DEFAULT_OPTIMIZE_THRESHOLD", "DEFAULT_SEGMENT_MB", "EDGE_OPTIONS", "EdgeBackend", "to_edge_filter"]

T = TypeVar("T")

DEFAULT_OPTIMIZE_THRESHOLD = 5000
#: MB of vectors after which the write segment is sealed (see the module docstring).
DEFAULT_SEGMENT_MB = 128
EDGE_OPTIONS = ("on_disk", "max_search_threads", "search_pool_core", "optimize_threshold", "segment_mb", "hnsw_ef")
_QDRANT_INDEXING_THRESHOLD_KB = 20_000
#: The lexical index of hybrid search: English words, lowercased, without stop words, Snowball-stemmed, scored by
#: BM25 (on Cranfield BM25 nDCG@10 was 0.375 with stemming and stop words, 0.341 without either).
_LEXICAL_INDEX = qe.TextIndexParams(
    tokenizer=qe.TokenizerType.Word,
    lowercase=True,
    stopwords=qe.Language.English,
    stemmer=qe.SnowballParams(qe.SnowballLanguage.English),
    scoring=True,
)
_RESULT_PAYLOAD = qe.PayloadSelector.Exclude(list(RESULT_PAYLOAD_EXCLUDE))

_FIELD_SCHEMA = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
    "text": qe.PayloadSchemaType.Text,
    "datetime": qe.PayloadSchemaType.Datetime,
}
_DATATYPE = {
    "float16": qe.VectorStorageDatatype.Float16,
    "float32": qe.VectorStorageDatatype.Float32,
    "turbo8": qe.VectorStorageDatatype.Turbo8,
}


#: Writes: the ledger is marked pending before the first of a write call, and records the count after the ones
#: that end a call (every op that ends with a flush).
_WRITES = (Upsert, Delete, Clear)
_ACKNOWLEDGED = (Finish, Delete, Clear)


class EdgeBackend(Backend):
    """One qdrant-edge shard per collection directory; see the module docstring."""

    def __init__(self, spec: CollectionSpec, path: str | os.PathLike[str] | None) -> None:
        unknown = sorted(set(spec.options) - set(EDGE_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) for the embedded (qdrant-edge) store: {', '.join(unknown)}; supported: "
                f"{', '.join(EDGE_OPTIONS)}. Sharding and replication options need a Qdrant server (url=...)"
            )
        self._optimize_threshold = positive_int(
            spec.options.get("optimize_threshold", DEFAULT_OPTIMIZE_THRESHOLD), "optimize_threshold"
        )
        self._segment_bytes = positive_int(spec.options.get("segment_mb", DEFAULT_SEGMENT_MB), "segment_mb") * 2**20
        threads, core = (spec.options.get(name) for name in SEARCH_POOL_OPTIONS)
        self._search_threads = None if threads is None else positive_int(threads, "max_search_threads")
        self._search_core = None if core is None else non_negative_int(core, "search_pool_core")
        self._hnsw_ef = positive_int(spec.options.get("hnsw_ef", DEFAULT_HNSW_EF), "hnsw_ef")
        #: Whether the full token vectors stay on disk (not warmed into the page cache).
        self.on_disk = bool(spec.options.get("on_disk"))
        warmed = [POOLED] if self.on_disk else [MULTIVECTOR, POOLED]
        warmed_dirs = {vector_storage_dir(name) for name in warmed}
        self._pending_points = 0
        self._pending_bytes = 0
        self._temp_root = tempfile.mkdtemp(prefix="multivec-") if path is None else None
        root = Path(self._temp_root or os.fspath(path))  # type: ignore[arg-type]
        self.directory = root / spec.name
        self._lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed_reason: str | None = None
        try:
            # before the directory is touched: opening writes (WAL, config, bookkeeping) and a full disk means SIGBUS
            space.ensure_space(
                self.directory, space.OPEN_BYTES, "open the store", largest=space.largest_file(self._segment_bytes)
            )
            check_store_dir(self.directory, locked=False)
            with owning(self.directory, self) as store_lock:  # before anything in the directory is read or written
                self.metadata, self._ledger = self._prepare(spec)
                shard_dir = self.directory / SHARD_DIR
                self._shard = self._open(spec, shard_dir, self._ledger)
                self._warmer = PageCacheWarmer(shard_dir / SEGMENTS_DIR, lambda p: not warmed_dirs.isdisjoint(p.parts))
                self._warmer.start()
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="multivec-edge")
                # also run when the store is garbage-collected unclosed, so that its directory can be opened again
                self._release = weakref.finalize(
                    self,
                    _release,
                    os.getpid(),
                    self._shard,
                    store_lock,
                    self._warmer,
                    self._worker,
                    self._ledger,
                    self._temp_root,
                )
        except BaseException:
            self._remove_temp()
            raise

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def _config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        dim = spec.dim
        # the first stage: HNSW in every sealed segment whose dense vectors pass FULL_SCAN_POINTS (a scan below)
        dense_index = qe.HnswIndexConfig(
            m=16, ef_construct=100, full_scan_threshold=full_scan_threshold_kb(dim), max_indexing_threads=0
        )
        vectors = {DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, hnsw_config=dense_index)}
        if spec.multi_vector:
            names = [MULTIVECTOR, POOLED] if self.metadata.get("token_pooling") else [MULTIVECTOR]
            for name in names:
                vectors[name] = qe.EdgeVectorParams(
                    size=dim,
                    distance=qe.Distance.Dot,
                    multivector_config=qe.MultiVectorConfig(comparator=qe.MultiVectorComparator.MaxSim),
                    hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10000),
                    datatype=_DATATYPE[self.metadata["datatype"]],
                    memory=qe.Memory.Cold,
                )
        # Qdrant sizes segments in KB of vectors. optimize() indexes (seals) the write segment once it is past the
        # indexing threshold, set below segment_mb so that a full one always is; sealed segments stay apart (the
        # 1.5x cap), small remainders may merge.
        segment_kb = self._segment_bytes // 1024
        optimizers = qe.EdgeOptimizersConfig(
            max_segment_size=segment_kb * 3 // 2,
            indexing_threshold=min(_QDRANT_INDEXING_THRESHOLD_KB, segment_kb // 2),
        )
        return qe.EdgeConfig(
            vectors=vectors,
            optimizers=optimizers,
            max_search_threads=self._search_threads,
            search_pool_core=self._search_core,
        )

    def _prepare(self, spec: CollectionSpec) -> tuple[dict[str, Any], Ledger]:
        """Check the store's own files (see :mod:`multivec.store.layout`); a new store gets them before the shard."""
        check_store_dir(self.directory, locked=True)
        meta_file = self.directory / META_FILE
        where = f"the store at {str(self.directory)!r}"
        if not meta_file.exists():
            write_json(meta_file, resolve_metadata(None, spec, where))
            metadata, checksum = read_metadata(meta_file)
            ledger = Ledger(self.directory, checksum, None)
            ledger.commit(0)
            return metadata, ledger
        stored, checksum = read_metadata(meta_file)
        hybrid_file = self.directory / HYBRID_FILE
        if hybrid_file.is_file():  # hybrid search enabled after creation (enable_hybrid)
            stored = {**stored, "hybrid": read_hybrid_file(hybrid_file)}
        entry = Ledger.read(self.directory)
        if entry is not None and entry.metadata_sha256 != checksum:
            raise StoreCorruptedError(
                f"the store file {str(meta_file)!r} was changed after the store wrote it; restore it from a backup",
                path=str(meta_file),
            )
        return resolve_metadata(stored, spec, where), Ledger(self.directory, checksum, entry)

    def _open(self, spec: CollectionSpec, shard_dir: Path, ledger: Ledger) -> qe.EdgeShard:
        config = self._config(spec)  # on load too: the engine checks it against the shard and keeps the new options
        config_file = shard_dir / CONFIG_FILE
        entry = ledger.entry
        with engine_errors(shard_dir, "open"):
            if config_file.is_file():
                drop_unset_options(config_file, [k for k in SEARCH_POOL_OPTIONS if spec.options.get(k) is None])
                shard = qe.EdgeShard.load(str(shard_dir), config)
            elif entry is not None and (entry.records or entry.pending):
                raise StoreCorruptedError(
                    f"the engine files of the store at {str(self.directory)!r} are missing ({str(config_file)!r}) "
                    f"but it held {entry.records} records; restore it from a backup",
                    path=str(config_file),
                )
            else:
                shard_dir.mkdir(parents=True, exist_ok=True)
                shard = qe.EdgeShard.create(str(shard_dir), config)
        try:
            with engine_errors(shard_dir, "open"):
                records = shard.info().points_count
                if entry is not None and not entry.pending and records != entry.records:
                    raise StoreCorruptedError(
                        f"the store at {str(self.directory)!r} holds {records} records but its last acknowledged "
                        f"write left {entry.records}: files under {str(shard_dir)!r} are damaged; restore it from a "
                        "backup (`multivec verify` lists what is wrong)",
                        path=str(shard_dir),
                    )
                indexed = set(shard.info().payload_schema)
                for key, kind in spec.filterable_fields.items():
                    if metadata_path(key) not in indexed:
                        shard.update(qe.UpdateOperation.create_field_index(metadata_path(key), _FIELD_SCHEMA[kind]))
                if self.metadata.get("hybrid") is not None and LEXICAL not in indexed:
                    shard.update(qe.UpdateOperation.create_field_index(LEXICAL, _LEXICAL_INDEX))
                shard.flush()
                ledger.commit(records)
        except BaseException:
            shard.close()
            raise
        return shard

    def _remove_temp(self) -> None:
        if self._temp_root is not None:
            shutil.rmtree(self._temp_root, ignore_errors=True)

    def close(self) -> None:
        self._close("this MultiVectorStore is closed; open a new one")

    def close_for_reopen(self) -> None:
        """Close because this process opens the same directory again (see :mod:`multivec.store.lock`)."""
        self._close(
            f"this MultiVectorStore was closed because its directory {str(self.directory)!r} was opened again in "
            "this process; use the store opened last"
        )

    def _close(self, reason: str) -> None:
        with self._close_lock:
            if self._closed_reason is not None:
                return
            self._closed_reason = reason  # calls that have not taken the shard lock yet raise StoreError(reason)
            self._worker.shutdown(wait=True)  # queued async calls run now (and raise)
            with self._lock, engine_errors(self.directory / SHARD_DIR, "close"):  # after the call in progress
                try:
                    self.run_close_hooks()  # open write transactions go to disk for the next open to take back
                finally:
                    self._release()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def optimize(self) -> None:
        self._call(self._optimize)

    def _optimize(self) -> None:
        self._ensure_space(self._seal_bytes() + space.RESERVE_BYTES, "optimize (rewrite) its segments")
        try:
            self._shard.optimize()
        except Exception as err:  # the engine's own check before a seal: callers may defer a refused one
            full = space.storage_error(err, self.directory)
            if full is None:
                raise
            raise full from err
        self._pending_points = self._pending_bytes = 0
        self._warmer.start()

    @property
    def segment_count(self) -> int:
        """Number of segments in the shard (sealed ones plus the appendable one)."""
        return int(self._call(lambda: self._shard.info().segments_count))

    def shard_info(self) -> qe.ShardInfo:
        """The engine's counts (points, segments, indexed vectors), for ``store.stats()``."""
        return self._call(self._shard.info)

    # -- execution ------------------------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a shard call in the calling thread, serialised with every other call by the shard lock."""
        with self._lock:
            if self._closed_reason is not None:
                raise StoreError(self._closed_reason)
            try:
                return fn()
            except (InvalidInputError, StoreError):
                raise
            except Exception as err:
                raise space.storage_error(err, self.directory) or StoreError(f"qdrant-edge failed: {err}") from err
            except BaseException as err:
                if is_panic(err):
                    raise engine_failure(err, self.directory / SHARD_DIR, "read or write") from err
                raise

    def execute(self, op: Op) -> Any:
        return self._call(lambda: self._tracked(op))

    async def aexecute(self, op: Op) -> Any:
        # the engine holds the GIL while it works: async callers wait on the worker thread, never on the event loop
        try:
            future = self._worker.submit(self._call, lambda: self._tracked(op))
        except RuntimeError as err:  # close() shut the worker down
            raise StoreError(self._closed_reason or "this MultiVectorStore is closed") from err
        return await asyncio.wrap_future(future)

    def _tracked(self, op: Op) -> Any:
        """Run ``op`` and keep the ledger: pending from a call's first write, the count once the call is acknowledged."""
        if isinstance(op, _WRITES):
            self._ledger.begin()
        result = self._run(op)
        if isinstance(op, _ACKNOWLEDGED):
            self._ledger.commit(self._shard.info().points_count)
        return result

    def check_files(self) -> list[str]:
        """Problems with the store's own files: a changed ``multivec.json``, a count the ledger does not record."""
        return self._call(self._file_problems)

    def _file_problems(self) -> list[str]:
        try:
            _, checksum = read_metadata(self.directory / META_FILE)
            entry = Ledger.read(self.directory)
        except StoreError as err:
            return [str(err)]
        if checksum != self._ledger.metadata_sha256:
            return [f"{META_FILE} was changed while the store was open"]
        if entry is None or entry.metadata_sha256 != checksum:
            return [f"{LEDGER_FILE} is missing or does not match {META_FILE}"]
        records = self._shard.info().points_count
        if not entry.pending and entry.records != records:
            return [f"the store holds {records} records but its last acknowledged write left {entry.records}"]
        return []

    def _run(self, op: Op) -> Any:
        shard = self._shard
        if isinstance(op, Query):
            return [scored(p) for p in shard.query(_query_request(op, self._hnsw_ef))]
        if isinstance(op, HybridQuery):
            main = _query_request(op.query, self._hnsw_ef, op.text if op.rerank else None, op.lexical_limit)
            lexical = _edge_query(lexical_plan(op), self._hnsw_ef)
            results = shard.query_batch(qe.QueryBatchRequest([main, lexical]))
            return [scored(p) for p in results[0]], [scored(p) for p in results[1]]
        if isinstance(op, SetPayload):
            self._ensure_space(space.DELETE_BYTES + 2 * sum(len(str(v)) for v in op.values.values()), "set payload")
            for point_id, values in op.values.items():
                shard.update(qe.UpdateOperation.set_payload([point_id], values))
            shard.flush()
            return None
        if isinstance(op, EnableLexical):
            self._ensure_space(space.DELETE_BYTES, "create the lexical index")
            if LEXICAL not in set(shard.info().payload_schema):
                shard.update(qe.UpdateOperation.create_field_index(LEXICAL, _LEXICAL_INDEX))
            shard.flush()
            write_json(self.directory / HYBRID_FILE, dict(op.settings))
            self.metadata = {**self.metadata, "hybrid": dict(op.settings)}
            return None
        if isinstance(op, Upsert):
            stored = sum(self._vector_bytes(p) for p in op.points)
            needed = space.upsert_bytes(op.points, stored) + space.RESERVE_BYTES
            what = f"write {len(op.points)} records"
            if self._pending_bytes + stored >= self._segment_bytes:
                needed += self._seal_bytes(stored)
                what += " and seal the write segment"
            self._ensure_space(needed, what)
            shard.update(qe.UpdateOperation.upsert_points([_point(p) for p in op.points]))
            self._pending_points += len(op.points)
            self._pending_bytes += stored
            if self._pending_bytes >= self._segment_bytes:
                shard.flush()
                with suppress(StorageFullError):  # the room checked above is gone: the next write seals instead
                    self._optimize()
            return None
        if isinstance(op, Finish):
            shard.flush()
            if self._pending_points >= self._optimize_threshold:
                # the call's records are durable now: without room to optimize, the next write call tries again
                with suppress(StorageFullError):
                    self._optimize()
            return None
        if isinstance(op, Lookup):
            return looked_up(op, shard.retrieve(list(op.point_ids), with_payload=True, with_vector=lookup_vectors(op)))
        if isinstance(op, Scroll):
            edge_filter = to_edge_filter(op.filter)

            def page(offset: Any, size: int) -> qe.ScrollRequest:
                return qe.ScrollRequest(offset=offset, limit=size, filter=edge_filter, with_payload=True)

            return run_sync(scroll_flow(op.limit, page), shard.scroll)
        if isinstance(op, Count):
            return shard.count(qe.CountRequest(exact=True, filter=to_edge_filter(op.filter)))
        if isinstance(op, Delete):
            self._ensure_space(space.DELETE_BYTES + 64 * len(op.point_ids or ()), "delete records")
            self._delete(delete_target(op))
            return None
        if isinstance(op, Clear):
            self._ensure_space(space.DELETE_BYTES, "clear")
            self._delete(EVERYTHING)
            return None
        raise TypeError(f"unknown operation {op!r}")

    def _delete(self, target: list[str] | CompiledFilter) -> None:
        if isinstance(target, list):
            self._shard.update(qe.UpdateOperation.delete_points(cast(list[Any], target)))
        else:
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(_edge_filter(target)))
        self._shard.flush()

    def _ensure_space(self, needed: int, what: str) -> None:
        space.ensure_space(self.directory, needed, what, largest=space.largest_file(self._segment_bytes))

    def _seal_bytes(self, incoming: int = 0) -> int:
        # what a seal rewrites: the write segment, with small sealed ones it may merge; never more than all of them
        segments = space.allocated_bytes(self.directory / SHARD_DIR / SEGMENTS_DIR)
        data = min(segments + incoming, 2 * self._segment_bytes)
        storages = int(bool(self.metadata.get("multi_vector"))) + int(bool(self.metadata.get("token_pooling")))
        return space.seal_bytes(data, storages)

    def _vector_bytes(self, point: PointData) -> int:
        dim = point.dense.shape[-1]
        rows = sum(len(v) for v in (point.multivector, point.pooled_tokens) if v is not None)
        return 4 * dim + rows * token_vector_bytes(self.metadata["datatype"], dim)


def _release(
    pid: int,
    shard: qe.EdgeShard,
    store_lock: StoreLock,
    warmer: PageCacheWarmer,
    worker: ThreadPoolExecutor,
    ledger: Ledger,
    temp_root: str | None,
) -> None:
    """Close the engine and give the directory up: on close(), or when an unclosed store is garbage-collected."""
    if os.getpid() != pid:  # a forked child exiting: the store and its lock are the parent's
        return
    try:
        warmer.stop()
        worker.shutdown(wait=False)
        try:
            if temp_root is None:
                ledger.commit(shard.info().points_count)
        finally:
            shard.close()
    finally:
        store_lock.release()
        if temp_root is not None:
            shutil.rmtree(temp_root, ignore_errors=True)


# -- request/result mapping ----------------------------------------------------------------------------------------


def _point(p: PointData) -> qe.Point:
    return qe.Point(p.point_id, point_vectors(p), p.payload)


def _query_request(
    op: Query, hnsw_ef: int = 0, lexical_text: str | None = None, lexical_limit: int = 0
) -> qe.QueryRequest:
    """The engine request of ``op``; ``lexical_text``: BM25 candidates join its first stage (hybrid ``rerank``)."""
    return _edge_query(query_plan(op, lexical_text, lexical_limit), hnsw_ef)


def _edge_query(plan: QueryPlan, hnsw_ef: int = 0) -> qe.QueryRequest:
    """``plan`` as one engine request; ``hnsw_ef``: the search-time ``ef`` of the dense HNSW (0: the engine's)."""
    edge_filter = to_edge_filter(plan.filter)
    final = plan.stage
    params = None
    if final.using != LEXICAL:
        params = qe.SearchParams(exact=True) if plan.exact else qe.SearchParams(hnsw_ef=hnsw_ef) if hnsw_ef else None
    return qe.QueryRequest(
        limit=final.limit,
        query=_edge_stage_query(final),
        prefetches=[_edge_prefetch(stage, edge_filter, hnsw_ef) for stage in final.prefetch] or None,
        filter=edge_filter,
        with_payload=_RESULT_PAYLOAD,
        with_vector=[DENSE] if plan.with_dense else None,
        score_threshold=plan.score_threshold,
        params=params,
    )


def _edge_prefetch(stage: Stage, edge_filter: qe.Filter | None, hnsw_ef: int) -> qe.Prefetch:
    return qe.Prefetch(
        limit=stage.limit,
        query=_edge_stage_query(stage),
        prefetches=[_edge_prefetch(inner, edge_filter, hnsw_ef) for inner in stage.prefetch] or None,
        filter=edge_filter,
        params=qe.SearchParams(hnsw_ef=hnsw_ef) if stage.using == DENSE and hnsw_ef else None,
    )


def _edge_stage_query(stage: Stage) -> Any:
    if isinstance(stage.query, str):
        return qe.TextQuery(stage.using, stage.query)
    return qe.Query.Nearest(stage.query.tolist(), using=stage.using)


# -- filters: compiled (and qdrant_client) filters -> qdrant_edge ---------------------------------------------------


def to_edge_filter(f: CompiledFilter | None) -> qe.Filter | None:
    """A compiled filter (:func:`multivec.store.filters.compile_filter`) as the ``qdrant_edge`` classes.

    A ``qdrant_client`` filter given by the caller is converted too (with its classes, imported only then).
    Supported there: must/should/must_not/min_should, field match (value, any, except, text, text_any, phrase), range
    (numbers, datetimes), values_count, is_empty, is_null, has_id, has_vector, nested. Geo conditions raise
    :class:`~multivec.errors.InvalidInputError`.

    >>> to_edge_filter(Filter(must=(FieldMatch("metadata.genre", "fruit"),))) is not None
    True
    """
    return None if f is None else _edge_filter(f)


def _edge_filter(f: CompiledFilter) -> qe.Filter:
    if not isinstance(f, Filter):
        return _client_filter(f)

    def group(conditions: tuple[Any, ...]) -> list[Any] | None:
        return [_edge_condition(c) for c in conditions] if conditions else None

    return qe.Filter(must=group(f.must), should=group(f.should), must_not=group(f.must_not))


def _edge_condition(c: Any) -> Any:
    if isinstance(c, Filter):
        return _edge_filter(c)
    if isinstance(c, FieldMatch):
        return qe.FieldCondition(c.key, match=qe.MatchValue(match_value(c.value)))
    if isinstance(c, FieldAny):
        return qe.FieldCondition(c.key, match=qe.MatchAny(cast(Any, list(c.values))))
    if isinstance(c, FieldText):
        return qe.FieldCondition(c.key, match=qe.MatchText(c.text))
    if isinstance(c, FieldRange):
        if c.is_datetime:
            return qe.FieldCondition(c.key, range=qe.RangeDateTime(**{k: _iso(v) for k, v in c.bounds.items()}))
        return qe.FieldCondition(c.key, range=qe.RangeFloat(**cast(dict[str, float], c.bounds)))
    if isinstance(c, HasId):
        return qe.HasIdCondition(set(c.ids))
    return _client_filter(c)  # a qdrant_client filter inside a compiled one (ids of a delete by a raw filter)


def _client_filter(f: models.Filter) -> qe.Filter:
    from qdrant_client import models

    if not isinstance(f, models.Filter):
        raise InvalidInputError(f"unsupported filter for the embedded store: {type(f).__name__}")
    min_should = None
    if f.min_should is not None:
        min_should = qe.MinShould(
            conditions=[_client_condition(c) for c in f.min_should.conditions], min_count=f.min_should.min_count
        )
    return qe.Filter(
        must=_client_conditions(f.must),
        should=_client_conditions(f.should),
        must_not=_client_conditions(f.must_not),
        min_should=min_should,
    )


def _client_conditions(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    if not isinstance(conditions, list):
        conditions = [conditions]
    return [_client_condition(c) for c in conditions]


def _client_condition(c: Any) -> Any:
    from qdrant_client import models

    if isinstance(c, models.Filter):
        return _client_filter(c)
    if isinstance(c, models.FieldCondition):
        if c.geo_bounding_box is not None or c.geo_radius is not None or c.geo_polygon is not None:
            raise InvalidInputError("geo filter conditions are not supported by the embedded store")
        values_count = None
        if c.values_count is not None:
            vc = c.values_count
            values_count = qe.ValuesCount(lt=vc.lt, gt=vc.gt, lte=vc.lte, gte=vc.gte)
        return qe.FieldCondition(
            c.key,
            match=_client_match(c.match),
            range=_client_range(c.range),
            values_count=values_count,
            is_empty=c.is_empty,
            is_null=c.is_null,
        )
    if isinstance(c, models.IsEmptyCondition):
        return qe.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, models.IsNullCondition):
        return qe.IsNullCondition(c.is_null.key)
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition({str(i) if not isinstance(i, int) else i for i in c.has_id})
    if isinstance(c, models.HasVectorCondition):
        return qe.HasVectorCondition(c.has_vector)
    if isinstance(c, models.NestedCondition):
        return qe.NestedCondition(c.nested.key, _client_filter(c.nested.filter))
    raise InvalidInputError(f"unsupported filter condition for the embedded store: {type(c).__name__}")


def _client_match(m: Any) -> Any:
    from qdrant_client import models

    if m is None:
        return None
    if isinstance(m, models.MatchValue):
        return qe.MatchValue(match_value(m.value))
    if isinstance(m, models.MatchAny):
        return qe.MatchAny(cast(Any, list(m.any)))
    if isinstance(m, models.MatchExcept):
        return qe.MatchExcept(cast(Any, list(m.except_)))
    if isinstance(m, models.MatchText):
        return qe.MatchText(m.text)
    if isinstance(m, models.MatchTextAny):
        return qe.MatchTextAny(m.text_any)
    if isinstance(m, models.MatchPhrase):
        return qe.MatchPhrase(m.phrase)
    raise InvalidInputError(f"unsupported match condition for the embedded store: {type(m).__name__}")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _client_range(r: Any) -> Any:
    from qdrant_client import models

    if r is None:
        return None
    if isinstance(r, models.DatetimeRange):
        return qe.RangeDateTime(gte=_iso(r.gte), gt=_iso(r.gt), lte=_iso(r.lte), lt=_iso(r.lt))
    return qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt)
