"""What :meth:`MultiVectorStore.stats() <multivec.store.MultiVectorStore.stats>` reports: :class:`StoreStats`.

Operation numbers come from the store's in-process recorder (:mod:`multivec.telemetry`: calls, items, token
vectors, bytes, errors by type, p50/p95 over the last calls of each method); sizes from the engine:

- **Embedded store**: records, segments and indexed vectors from the shard, and the disk blocks allocated under the
  store directory by component (:data:`DISK_COMPONENTS`; sparse files count what they really take).
  ``ram_bytes_estimate`` is what the engine keeps mapped and multivec keeps warm in the page cache: every segment
  file, less the full token vectors when the store was opened with ``on_disk=True`` (they are read as queries touch
  them); the WAL and multivec's own files are not counted.
- **Qdrant server** (and ``:memory:``): records, segments, indexed vectors and status as the collection info
  reports them; the server does not report its disk or RAM there, so those fields are ``None``.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.store import MultiVectorStore
>>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
...     _ = store.add_texts(["red apples", "blue cars"])
...     _ = store.search("red", k=1)
...     stats = store.stats()
>>> stats.records, stats.backend, stats.operations["search"].calls, stats.disk_bytes > 0
(2, 'edge', 1, True)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multivec.store.backend import MULTIVECTOR, Count
from multivec.store.layout import SHARD_DIR
from multivec.telemetry import OperationStats, recorder_of

if TYPE_CHECKING:
    from multivec.embeddings.cache import CacheStats
    from multivec.store.store import MultiVectorStore

__all__ = ["DISK_COMPONENTS", "StoreStats", "disk_usage", "store_stats"]

#: Components of an embedded store's disk usage (``vectors.<name>``/``index.<name>`` per vector: ``dense``,
#: ``multivector``, ``pooled_tokens``).
DISK_COMPONENTS: dict[str, str] = {
    "vectors.<name>": "stored vectors: dense (pooled), multivector (token vectors), pooled_tokens (token_pooling)",
    "index.<name>": "vector indexes (the dense HNSW graph; the MaxSim vectors have no graph)",
    "payload": "stored payloads (content, metadata, source, page)",
    "payload_index": "payload indexes of filterable_fields",
    "wal": "the engine's write-ahead log",
    "engine": "the engine's other files (id trackers, segment and shard configuration, temporary segments)",
    "multivec": "multivec's own files (multivec.json, multivec.state.json, tuning, undo logs, .lock)",
}
#: Components that are not part of the RAM estimate.
_NOT_IN_RAM = ("wal", "multivec")


@dataclass(frozen=True)
class StoreStats:
    """A snapshot of a store: what it holds, how it is set up, and how its operations have gone.

    - ``backend``: ``"edge"`` (embedded), ``"server"`` or ``"memory"``; ``collection``; ``path`` (embedded stores
      opened with a path); ``model_name`` (recorded at creation), ``dim``, ``multi_vector``, ``datatype``.
    - ``records``; ``segments`` and ``indexed_vectors`` as the engine reports them; ``status`` (server: the
      collection status, e.g. ``"green"``).
    - ``disk_bytes`` (total) and ``disk_by_component`` (:data:`DISK_COMPONENTS`), ``ram_bytes_estimate``: embedded
      stores only (see the module docstring), else ``None`` / empty.
    - ``token_pooling``, ``pool_factor`` (``None`` when the store has none), ``prefetch_limit``, ``pooled_limit``
      (the limits searches use now) and ``tuning`` (what :meth:`~multivec.store.MultiVectorStore.tune` chose and
      measured, as a dict; ``None`` if the store was never tuned); ``hybrid``: the hybrid search settings
      (fusion, weight, limit) when the collection has a lexical index, else ``None``.
    - ``operations``: :class:`~multivec.telemetry.OperationStats` per store method (``"search"``, ``"add_texts"``,
      ...) since this store object was opened.
    - ``embedding_cache``: hits, misses, bytes and entries when the embedder is a
      :class:`~multivec.embeddings.cache.CachedEmbeddings`, else ``None``.
    """

    backend: str
    collection: str
    path: str | None
    model_name: str | None
    dim: int
    multi_vector: bool
    datatype: str
    records: int
    segments: int | None
    indexed_vectors: int | None
    status: str | None
    disk_bytes: int | None
    disk_by_component: dict[str, int]
    ram_bytes_estimate: int | None
    token_pooling: int | None
    pool_factor: int | None
    prefetch_limit: int
    pooled_limit: int
    tuning: dict[str, Any] | None
    hybrid: dict[str, Any] | None = None
    operations: dict[str, OperationStats] = field(default_factory=dict)
    embedding_cache: CacheStats | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _component(parts: tuple[str, ...]) -> str:
    """The component of the files in a folder, from its path relative to the store directory.

    >>> _component(("shard", "segments", "0b1c", "vector_storage-dense", "vectors")), _component(())
    ('vectors.dense', 'multivec')
    """
    if not parts or parts[0] != SHARD_DIR:
        return "multivec"
    if parts[1:2] == ("wal",):
        return "wal"
    part = parts[3] if len(parts) > 3 and parts[1] == "segments" else ""
    if part.startswith("vector_storage-"):
        return "vectors." + part.removeprefix("vector_storage-")
    if part.startswith("vector_index-"):
        return "index." + part.removeprefix("vector_index-")
    return {"payload_storage": "payload", "payload_index": "payload_index"}.get(part, "engine")


def disk_usage(directory: str | os.PathLike[str]) -> dict[str, int]:
    """Allocated bytes of the files under an embedded store's ``directory``, by component, largest first.

    >>> import tempfile
    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.store import MultiVectorStore
    >>> with tempfile.TemporaryDirectory() as tmp, MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8),
    ...                                                             path=tmp) as store:
    ...     _ = store.add_texts(["red apples"])
    ...     usage = disk_usage(store.path)
    >>> sorted(k for k in usage if k.startswith("vectors."))
    ['vectors.dense', 'vectors.multivector']
    """
    root = Path(directory)
    usage: dict[str, int] = {}
    for folder, _, names in os.walk(root):
        component = _component(Path(folder).relative_to(root).parts)
        for name in names:
            try:
                size = os.lstat(os.path.join(folder, name)).st_blocks * 512
            except FileNotFoundError:  # the engine removed it meanwhile
                continue
            usage[component] = usage.get(component, 0) + size
    return dict(sorted(usage.items(), key=lambda item: (-item[1], item[0])))


def _plain(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return dict(as_dict())
    return dict(value) if isinstance(value, dict) else asdict(value)


def store_stats(store: MultiVectorStore) -> StoreStats:
    """The :class:`StoreStats` of an open store (engine calls bypass the recorder: they are not counted)."""
    from multivec.embeddings.cache import CachedEmbeddings

    backend = store._backend
    records = int(backend.execute(Count()))
    segments = indexed = None
    status = None
    usage: dict[str, int] = {}
    disk = ram = None
    if store.backend_name == "edge":
        from multivec.store.edge import EdgeBackend

        assert isinstance(backend, EdgeBackend)
        info = backend.shard_info()
        segments, indexed = int(info.segments_count), int(info.indexed_vectors_count)
        usage = disk_usage(backend.directory)
        disk = sum(usage.values())
        skipped = {f"vectors.{MULTIVECTOR}"} if backend.on_disk else set()
        ram = sum(size for name, size in usage.items() if name not in _NOT_IN_RAM and name not in skipped)
    else:
        from multivec.store.server import ServerBackend

        assert isinstance(backend, ServerBackend)
        collection = backend.collection_info()
        segments = collection.segments_count
        indexed = collection.indexed_vectors_count
        status = getattr(collection.status, "value", None) or str(collection.status)
    embedder = store.embedding
    pool_factor = getattr(store, "pool_factor", None)
    return StoreStats(
        backend=store.backend_name,
        collection=store.collection_name,
        path=None if store.path is None else str(store.path),
        model_name=store.stored_model_name,
        dim=store.dim,
        multi_vector=store.is_multi_vector,
        datatype=store.multivector_datatype,
        records=records,
        segments=segments,
        indexed_vectors=indexed,
        status=status,
        disk_bytes=disk,
        disk_by_component=usage,
        ram_bytes_estimate=ram,
        token_pooling=store.token_pooling,
        pool_factor=None if pool_factor is None else int(pool_factor),
        prefetch_limit=store.prefetch_limit,
        pooled_limit=store.pooled_limit,
        tuning=_plain(getattr(store, "tuning", None)),
        hybrid=_plain(store.hybrid),
        operations=recorder_of(store).snapshot(),
        embedding_cache=embedder.cache_stats() if isinstance(embedder, CachedEmbeddings) else None,
    )
