"""An embedding cache keyed by model and content: :class:`CachedEmbeddings` and its two backends.

:class:`CachedEmbeddings` wraps any multivec embedder and is itself one (same methods, validation and batching).
Each input is looked up under a key made of the embedder's identity, whether it is a query, a document text or an
image, and a sha256 of its content; only the misses reach the wrapped embedder, in one batched call per chunk.
Images are hashed after decoding (RGB, EXIF-transposed pixels), so a path, its bytes and the PIL image of the same
pixels share one entry. Values are float32 arrays, always handed out as copies.

Backends (:class:`EmbeddingCache`): :class:`MemoryCache`, an LRU bounded in bytes, and :class:`DiskCache`, a
SQLite file shared safely by several processes, bounded in bytes and tolerant of damage (a damaged entry or file is
a miss, never an error).

>>> from multivec.embeddings import CachedEmbeddings, DeterministicFakeMultiVectorEmbedding, MemoryCache
>>> emb = CachedEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=8), cache=MemoryCache(max_bytes=1 << 20))
>>> first = emb.embed_documents(["red apples", "blue cars"])
>>> again = emb.embed_documents(["red apples", "green pears"])
>>> emb.cache_stats()
CacheStats(hits=1, misses=3, bytes=192, entries=3)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import sqlite3
import threading
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
from PIL import Image

from multivec._closing import Closing
from multivec._options import number, positive_int
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import ConfigurationError
from multivec.patch_grid import PatchGrid
from multivec.telemetry import EmbedderStats
from multivec.types import Embedding, ImageInput

__all__ = [
    "CacheStats",
    "CachedEmbeddings",
    "CachedMultiModalEmbeddings",
    "DiskCache",
    "EmbeddingCache",
    "MemoryCache",
    "default_cache_identity",
    "with_cache",
]

logger = logging.getLogger(__name__)

R = TypeVar("R")

#: Part of every key: bump it when the meaning of a key or a stored value changes, so old entries become misses.
_KEY_FORMAT = "multivec-embedding-cache-v1"
_DTYPE = np.dtype("<f4")

#: Embedder attributes that change how or where it runs, not what it returns (left out of the default identity).
_NOT_IDENTITY = frozenset(
    {
        "model_name",
        "embed_batch_size",
        "max_concurrency",
        "batch_size",
        "device",
        "allow_urls",
        "max_image_pixels",
        "min_image_size",
        "url",
        "url_prefix",
        "encoding",
        "timeout",
        "attempt_timeout",
        "connect_timeout",
        "max_retries",
        "check_model",
        "backoff_initial",
        "backoff_max",
        "max_retry_after",
        "max_connections",
        "max_images_per_request",
        "max_texts_per_request",
    }
)


@dataclass(frozen=True)
class CacheStats:
    """Counters of a cache: lookups that hit and missed, and the bytes of vector data and entries it holds."""

    hits: int = 0
    misses: int = 0
    bytes: int = 0
    entries: int = 0


# -- backends ---------------------------------------------------------------------------------------------------


class EmbeddingCache(Closing, ABC):
    """What :class:`CachedEmbeddings` needs from a backend: ``get``, ``put``, ``stats`` and ``close``.

    Keys are hex strings; values float32 arrays. ``get`` returns a copy the caller may change, or ``None``; ``put``
    keeps its own copy. ``get_many``/``put_many`` default to loops; backends override them to batch I/O.
    ``blocking`` says whether calls may wait on I/O or locks, in which case async callers run them on a thread.
    """

    blocking: ClassVar[bool] = False

    @abstractmethod
    def get(self, key: str) -> Embedding | None:
        """The value stored under ``key`` (a copy), or ``None``."""

    @abstractmethod
    def put(self, key: str, value: Embedding) -> None:
        """Store ``value`` under ``key`` (a value larger than the whole budget is not stored)."""

    @abstractmethod
    def stats(self) -> CacheStats:
        """Hits and misses of this instance's lookups, and the bytes and entries held."""

    def get_many(self, keys: Sequence[str]) -> list[Embedding | None]:
        """:meth:`get` for each key, in order."""
        return [self.get(key) for key in keys]

    def put_many(self, entries: Sequence[tuple[str, Embedding]]) -> None:
        """:meth:`put` for each ``(key, value)``."""
        for key, value in entries:
            self.put(key, value)

    def close(self) -> None:
        """Release resources; the cache stays usable (it reopens what it needs)."""

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()


def _float32(value: Embedding) -> np.ndarray:
    return np.ascontiguousarray(value, dtype=np.float32)


class MemoryCache(EmbeddingCache):
    """In-process LRU cache bounded by ``max_bytes`` of vector data (default 256 MiB); thread-safe.

    >>> import numpy as np
    >>> cache = MemoryCache(max_bytes=64)
    >>> cache.put("a", np.zeros((2, 4), np.float32))  # 32 bytes
    >>> cache.put("b", np.ones((2, 4), np.float32))
    >>> cache.get("a") is not None  # "a" is now the most recently used
    True
    >>> cache.put("c", np.ones((2, 4), np.float32))  # over budget: "b" goes
    >>> cache.get("b") is None, cache.stats()
    (True, CacheStats(hits=1, misses=1, bytes=64, entries=2))
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = positive_int(max_bytes, "max_bytes")
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryCache(max_bytes={self.max_bytes})"

    def get(self, key: str) -> Embedding | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
        return value.copy()  # stored arrays are read-only, so copying outside the lock is safe

    def put(self, key: str, value: Embedding) -> None:
        stored = _float32(value).copy()
        if stored.nbytes > self.max_bytes:
            return
        stored.flags.writeable = False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = stored
            self._bytes += stored.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._bytes, len(self._entries))

    def clear(self) -> None:
        """Drop every entry (the hit and miss counters stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


# SQLite result codes (primary, low byte) that say nothing about the file itself: wait, space, permissions, I/O.
_TRANSIENT_CODES = frozenset({3, 5, 6, 7, 8, 9, 10, 13, 14, 15, 23})
_SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE entries (
        key TEXT PRIMARY KEY, dtype TEXT NOT NULL, shape TEXT NOT NULL, crc INTEGER NOT NULL,
        data BLOB NOT NULL, size INTEGER NOT NULL, used INTEGER NOT NULL)""",
    "CREATE INDEX entries_used ON entries (used)",
    """CREATE TABLE totals (
        id INTEGER PRIMARY KEY CHECK (id = 0), clock INTEGER NOT NULL, bytes INTEGER NOT NULL,
        entries INTEGER NOT NULL)""",
    "INSERT INTO totals VALUES (0, 0, 0, 0)",
    """CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
        UPDATE totals SET bytes = bytes + new.size, entries = entries + 1 WHERE id = 0; END""",
    """CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
        UPDATE totals SET bytes = bytes - old.size, entries = entries - 1 WHERE id = 0; END""",
    """CREATE TRIGGER entries_update AFTER UPDATE OF size ON entries BEGIN
        UPDATE totals SET bytes = bytes - old.size + new.size WHERE id = 0; END""",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)
#: SQLite's bound on ``?`` parameters in old builds is 999.
_SQL_CHUNK = 500


def _is_damage(err: sqlite3.Error) -> bool:
    """Whether ``err`` means the file is damaged or not ours (recreate it), rather than busy, full or unreadable."""
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) not in _TRANSIENT_CODES
    return not isinstance(err, sqlite3.OperationalError)


def _crc(key: str, dtype: str, shape: str, data: bytes) -> int:
    # The key is inside the checksum so that a damaged index pointing a key at another row reads as damage.
    return zlib.crc32(data, zlib.crc32(f"{key}\0{dtype}\0{shape}".encode()))


def _decode(key: str, dtype: str, shape: str, crc: int, data: bytes) -> np.ndarray | None:
    """The stored array, or ``None`` when any part of the row is not what :meth:`DiskCache.put` wrote."""
    try:
        if dtype != _DTYPE.str or not isinstance(data, bytes) or _crc(key, dtype, shape, data) != crc:
            return None
        dims = tuple(int(part) for part in shape.split(","))
        if not 1 <= len(dims) <= 2 or min(dims) < 1 or math.prod(dims) * _DTYPE.itemsize != len(data):
            return None
        return np.frombuffer(data, dtype=_DTYPE).reshape(dims).astype(np.float32)
    except (TypeError, ValueError, AttributeError):
        return None


def _marks(part: Sequence[object]) -> str:
    return ",".join("?" * len(part))


def _chunks(items: Sequence[R], size: int = _SQL_CHUNK) -> Iterator[Sequence[R]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DiskCache(EmbeddingCache):
    """Persistent cache in the folder ``path`` (file ``embeddings.sqlite3``), shared safely by processes and threads.

    - Bounded: at most ``max_bytes`` of vector data (default 1 GiB); the least recently used entries go first, and
      freed pages are returned to the file system.
    - Concurrent: SQLite in WAL mode (readers never wait for the writer), short write transactions, and a busy
      wait of up to ``timeout`` seconds for the write lock. A lookup or store that still cannot get it is a miss or
      a skipped store, with a log warning, never an error.
    - Damage-tolerant: every entry carries its dtype, shape and a CRC; an entry that does not check out is a miss
      and is deleted. A file SQLite reports as damaged or not a database is recreated empty (the folder belongs
      to the cache, so nothing else is ever deleted).

    Threads may share an instance (its one connection is used under a lock); each process opens its own, and an
    instance inherited through ``fork`` reopens in the child. ``close()`` releases the connection; the next call
    reopens it. A file of another schema version is treated as damaged.

    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with DiskCache(folder, max_bytes=1 << 20) as cache:
    ...         cache.put("k", np.ones((3, 4), np.float32))
    ...         print(cache.get("k").shape, cache.get("other"), cache.stats())
    (3, 4) None CacheStats(hits=1, misses=1, bytes=48, entries=1)
    """

    blocking: ClassVar[bool] = True
    FILE_NAME: ClassVar[str] = "embeddings.sqlite3"

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 1 << 30, timeout: float = 30.0) -> None:
        if not isinstance(path, str | os.PathLike) or not os.fspath(path):
            raise ConfigurationError(f"path must be a folder path (str or os.PathLike), got {path!r}")
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigurationError(
                f"path must be a folder (the cache keeps {self.FILE_NAME} and its lock there), "
                f"but {str(self.path)!r} is a file"
            )
        self.max_bytes = positive_int(max_bytes, "max_bytes")
        self.timeout = number(timeout, "timeout", minimum=0, open_minimum=True)
        self.file = self.path / self.FILE_NAME
        self._conn: sqlite3.Connection | None = None
        self._file_id: tuple[int, int] | None = None
        self._opened_id: tuple[int, int] | None = None  # the file last opened, to tell which one was damaged
        self._pid = os.getpid()
        self._hits = 0
        self._misses = 0
        self._lock = threading.RLock()
        try:
            self._run("open", lambda conn: None, None)
        except OSError as err:  # the folder cannot be created: a bad option, not a damaged cache
            raise ConfigurationError(f"path {str(self.path)!r} cannot hold the cache: {err}") from None

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r}, max_bytes={self.max_bytes})"

    # -- connection, recovery ----------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: the parent's connection must not be used (or closed) here
            self._conn, self._file_id, self._pid = None, None, os.getpid()
        if self._conn is not None and self._file_id != _file_id(self.file):
            self._disconnect()  # another process recreated the file: ours is the old, unlinked one
        if self._conn is None:
            self.path.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.file, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            self._opened_id = _file_id(self.file)  # the file this connection holds open (created if missing)
            try:
                if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                    # a new file (setting it on an existing one would write its header each time it opens)
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA journal_size_limit = 67108864")
                self._init_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._conn, self._file_id = conn, self._opened_id
        return self._conn

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
            return
        with _write(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == _SCHEMA_VERSION:  # another process created it meanwhile
                return
            if version != 0 or conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise sqlite3.DatabaseError(f"not an embedding cache of schema {_SCHEMA_VERSION}")
            for statement in _SCHEMA:
                conn.execute(statement)

    def _disconnect(self) -> None:
        conn, self._conn, self._file_id = self._conn, None, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    def _recreate(self, damaged: tuple[int, int] | None) -> None:
        """Replace the damaged file by an empty one, unless another process already did."""
        self._disconnect()
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / "embeddings.lock", "a") as lock:
            try:
                import fcntl  # POSIX only; imported here so that the embedders import everywhere

                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            except ImportError:
                pass
            current = _file_id(self.file)
            if current is None or damaged is None or current == damaged:
                logger.warning("embedding cache %s is damaged; starting it again empty", self.file)
                # the WAL and shared memory first: a new file must never meet the old file's WAL
                for suffix in ("-wal", "-shm", ""):
                    Path(f"{self.file}{suffix}").unlink(missing_ok=True)
            self._connection()

    def _run(self, what: str, op: Callable[[sqlite3.Connection], R], default: R) -> R:
        """``op`` on the connection; a damaged file is recreated (and ``op`` retried once), other failures give
        ``default``."""
        with self._lock:
            for attempt in range(2):
                try:
                    return op(self._connection())
                except sqlite3.Error as err:
                    if not _is_damage(err) or attempt:
                        logger.warning("embedding cache %s: %s failed (%s)", self.file, what, err)
                        return default
                    try:
                        self._recreate(self._file_id or self._opened_id)
                    except (sqlite3.Error, OSError) as again:
                        logger.warning("embedding cache %s: cannot recreate it (%s)", self.file, again)
                        self._disconnect()
                        return default
                except OSError as err:
                    if what == "open":
                        raise
                    logger.warning("embedding cache %s: %s failed (%s)", self.file, what, err)
                    return default
        return default

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._disconnect()
            self._conn = None

    # -- the cache -------------------------------------------------------------------------------------------

    def get(self, key: str) -> Embedding | None:
        return self.get_many([key])[0]

    def get_many(self, keys: Sequence[str]) -> list[Embedding | None]:
        unique = list(dict.fromkeys(keys))
        wanted = set(unique)

        def read(conn: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            damaged: list[str] = []
            for part in _chunks(unique):
                rows = conn.execute(
                    f"SELECT key, dtype, shape, crc, data FROM entries WHERE key IN ({_marks(part)})", tuple(part)
                ).fetchall()
                for key, dtype, shape, crc, data in rows:
                    value = _decode(key, dtype, shape, crc, data) if key in wanted else None
                    if value is None:
                        damaged.append(key)
                    else:
                        found[key] = value
            if found or damaged:
                try:
                    with _write(conn):
                        clock = _tick(conn)
                        for part in _chunks(list(found)):
                            conn.execute(
                                f"UPDATE entries SET used = ? WHERE key IN ({_marks(part)})",
                                (clock, *part),
                            )
                        for part in _chunks(damaged):
                            conn.execute(f"DELETE FROM entries WHERE key IN ({_marks(part)})", tuple(part))
                except sqlite3.Error as err:
                    if _is_damage(err):
                        raise
                    # the values read are good; only their recency (or a damaged entry's removal) waits
                    logger.warning("embedding cache %s: marking entries used failed (%s)", self.file, err)
            return found

        found: dict[str, np.ndarray] = self._run("get", read, {})
        out: list[Embedding | None] = []
        seen: set[str] = set()
        for key in keys:
            value = found.get(key)
            out.append(None if value is None else value.copy() if key in seen else value)
            seen.add(key)
        with self._lock:
            hits = sum(value is not None for value in out)
            self._hits += hits
            self._misses += len(out) - hits
        return out

    def put(self, key: str, value: Embedding) -> None:
        self.put_many([(key, value)])

    def put_many(self, entries: Sequence[tuple[str, Embedding]]) -> None:
        rows = []
        for key, value in entries:
            array = np.ascontiguousarray(value, dtype=_DTYPE)
            if array.nbytes > self.max_bytes or array.ndim not in (1, 2) or array.size == 0:
                continue
            data = array.tobytes()
            shape = ",".join(str(n) for n in array.shape)
            rows.append((key, _DTYPE.str, shape, _crc(key, _DTYPE.str, shape, data), data, len(data)))
        if not rows:
            return

        def write(conn: sqlite3.Connection) -> None:
            with _write(conn):
                clock = _tick(conn)
                conn.executemany(
                    """INSERT INTO entries (key, dtype, shape, crc, data, size, used) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET dtype = excluded.dtype, shape = excluded.shape,
                    crc = excluded.crc, data = excluded.data, size = excluded.size, used = excluded.used""",
                    [(*row, clock) for row in rows],
                )
                evicted = self._evict(conn)
            if evicted:
                _release_free_pages(conn)

        self._run("put", write, None)

    def _evict(self, conn: sqlite3.Connection) -> bool:
        excess = conn.execute("SELECT bytes FROM totals WHERE id = 0").fetchone()[0] - self.max_bytes
        if excess <= 0:
            return False
        victims = []
        rows = conn.execute("SELECT key, size FROM entries ORDER BY used, rowid")
        for key, size in rows:
            victims.append(key)
            excess -= size
            if excess <= 0:
                break
        rows.close()  # an open read statement would block the vacuum below
        for part in _chunks(victims):
            conn.execute(f"DELETE FROM entries WHERE key IN ({_marks(part)})", tuple(part))
        return True

    def stats(self) -> CacheStats:
        def read(conn: sqlite3.Connection) -> tuple[int, int]:
            size, count = conn.execute("SELECT bytes, entries FROM totals WHERE id = 0").fetchone()
            return int(size), int(count)

        size, count = self._run("stats", read, (0, 0))
        with self._lock:
            return CacheStats(self._hits, self._misses, size, count)

    def clear(self) -> None:
        """Drop every entry (the hit and miss counters stay)."""

        def wipe(conn: sqlite3.Connection) -> None:
            with _write(conn):
                conn.execute("DELETE FROM entries")
            _release_free_pages(conn)

        self._run("clear", wipe, None)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """One short write transaction (taking the write lock at once, so it never fails half-way on a busy file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _release_free_pages(conn: sqlite3.Connection) -> None:
    """Give freed pages back to the file system (the file shrinks at the next checkpoint).

    A transaction of its own: ``incremental_vacuum`` frees one page per step, and only ``executescript`` steps a
    statement to the end (it commits first, so it cannot run inside the eviction's transaction). A busy file
    skips it: the pages stay free inside the file, and the next eviction returns them.
    """
    try:
        conn.executescript("PRAGMA incremental_vacuum;")
    except sqlite3.Error as err:
        if _is_damage(err):
            raise


def _tick(conn: sqlite3.Connection) -> int:
    """The next value of the file's use clock (shared by all processes, so LRU order is global)."""
    conn.execute("UPDATE totals SET clock = clock + 1 WHERE id = 0")
    return int(conn.execute("SELECT clock FROM totals WHERE id = 0").fetchone()[0])


# -- the wrapper ------------------------------------------------------------------------------------------------


def default_cache_identity(embedder: MultiVectorBaseEmbedding) -> str:
    """What distinguishes ``embedder``'s outputs: its class, ``model_name`` and public settings that shape them.

    Settings are the public instance attributes, minus those about how or where it runs (batch sizes, device,
    URLs, timeouts…); values whose ``repr`` differs between processes (``<… at 0x…>``) are left out and sets are
    sorted. An embedder
    may declare its own identity with a ``cache_identity`` attribute (a string, or a method returning one).
    Neither sees a model that changed under the same name or path: pass ``identity=`` to
    :class:`CachedEmbeddings` with a revision or checksum when that can happen.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> default_cache_identity(DeterministicFakeMultiVectorEmbedding(dim=8))
    "multivec.embeddings.fake.DeterministicFakeMultiVectorEmbedding model_name='deterministic-fake' grid=4"
    """
    own = getattr(embedder, "cache_identity", None)
    if callable(own):
        own = own()
    if isinstance(own, str) and own:
        return own
    cls = type(embedder)
    parts = [f"{cls.__module__}.{cls.__qualname__}", f"model_name={embedder.model_name!r}"]
    for name, value in sorted(vars(embedder).items()):
        if name.startswith("_") or name in _NOT_IDENTITY:
            continue
        # sets print in an order that changes between processes (string hashing is salted)
        text = repr(sorted(map(repr, value))) if isinstance(value, set | frozenset) else repr(value)
        if " at 0x" not in text:
            parts.append(f"{name}={text}")
    return " ".join(parts)


def _text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _image_digest(image: Image.Image) -> bytes:
    digest = hashlib.sha256(f"{image.mode} {image.width}x{image.height}\0".encode())
    digest.update(image.tobytes())
    return digest.digest()


@dataclass
class _Lookup:
    """One hook call: the key of each input, the values known so far, and the inputs to embed (first of each key)."""

    keys: list[str]
    found: dict[str, Embedding] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


class _CachingEmbedder(MultiVectorBaseEmbedding):
    """What :class:`CachedEmbeddings` does. Its ``__init__`` lives here, a class above the overloaded ``__new__``,
    so that type checkers take the constructor's type from ``__new__`` (which picks the multimodal subclass)."""

    def __init__(
        self, embedder: MultiVectorBaseEmbedding, cache: EmbeddingCache | None = None, *, identity: str | None = None
    ) -> None:
        if not isinstance(embedder, MultiVectorBaseEmbedding):
            raise ConfigurationError(f"embedder must be a multivec embedder, got {type(embedder).__name__}")
        if cache is not None and not isinstance(cache, EmbeddingCache):
            raise ConfigurationError(
                f"cache must be an EmbeddingCache (MemoryCache, DiskCache), got {type(cache).__name__}"
            )
        if identity is not None and (not isinstance(identity, str) or not identity.strip()):
            raise ConfigurationError(f"identity must be a non-empty string, got {identity!r}")
        super().__init__(
            model_name=embedder.model_name,
            embed_batch_size=embedder.embed_batch_size,
            max_concurrency=embedder.max_concurrency,
        )
        self.embedder = embedder
        self.cache: EmbeddingCache = cache if cache is not None else MemoryCache()
        self._identity = identity
        self._prefix: Any = None  # sha256 state of the key's fixed part, made on first use
        self._prepare_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.embedder!r}, cache={self.cache!r})"

    # -- what the wrapped embedder is -------------------------------------------------------------------------

    # read-only on purpose: it follows the wrapped embedder
    @property
    def is_multi_vector(self) -> bool:  # type: ignore[override]
        return self.embedder.is_multi_vector

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def supports_images(self) -> bool:
        """Whether the wrapped embedder takes images (its own ``supports_images`` when it has one)."""
        supports = getattr(self.embedder, "supports_images", None)
        if isinstance(supports, bool):
            return supports
        return isinstance(self.embedder, MultiVectorMultiModalEmbedding)

    @property
    def cache_identity(self) -> str:
        """The identity in every key: ``identity=`` if given, else :func:`default_cache_identity` of the embedder."""
        if self._identity is None:
            self._identity = default_cache_identity(self.embedder)
        return self._identity

    def query_tokens(self, query: str) -> list[str] | None:
        return self.embedder.query_tokens(query)

    def document_tokens(self, text: str) -> list[str] | None:
        return self.embedder.document_tokens(text)

    def special_tokens(self) -> frozenset[str]:
        return self.embedder.special_tokens()

    def cache_stats(self) -> CacheStats:
        """This wrapper's hits and misses (one lookup per distinct input of a call), and the cache's bytes and
        entries."""
        held = self.cache.stats()
        with self._stats_lock:
            return CacheStats(self._hits, self._misses, held.bytes, held.entries)

    def stats(self) -> EmbedderStats:
        """The embedder's numbers (calls, items, latency; see :meth:`MultiVectorBaseEmbedding.stats`) with
        :meth:`cache_stats` as ``cache``. A call answered from the cache alone counts as a call too."""
        return EmbedderStats.of(self, cache=self.cache_stats())

    def close(self) -> None:
        super().close()
        self.embedder.close()
        self.cache.close()

    async def aclose(self) -> None:
        super().close()
        await self.embedder.aclose()
        if self.cache.blocking:
            await asyncio.to_thread(self.cache.close)
        else:
            await self.cache.aclose()

    # -- lookups -------------------------------------------------------------------------------------------------

    def _key_prefix(self) -> Any:
        if self._prefix is None:
            with self._prepare_lock:
                if self._prefix is None:
                    kind = "multi" if self.is_multi_vector else "single"
                    fixed = f"{_KEY_FORMAT}\0{self.cache_identity}\0{self.dim}\0{kind}\0"
                    self._prefix = hashlib.sha256(fixed.encode("utf-8", "surrogatepass"))
        return self._prefix

    def _usable(self, value: Embedding) -> bool:
        ndim = 2 if self.is_multi_vector else 1
        return (
            isinstance(value, np.ndarray)
            and value.dtype == np.float32
            and value.ndim == ndim
            and value.size > 0
            and value.shape[-1] == self.dim
            and bool(np.isfinite(value).all())
        )

    def _lookup(self, kind: str, digests: list[bytes]) -> _Lookup:
        prefix = self._key_prefix()
        keys = []
        for digest in digests:
            key = prefix.copy()
            key.update(f"{kind}\0".encode())
            key.update(digest)
            keys.append(key.hexdigest())
        lookup = _Lookup(keys)
        unique = list(dict.fromkeys(keys))
        for key, value in zip(unique, self.cache.get_many(unique), strict=True):
            if value is not None and self._usable(value):
                lookup.found[key] = value
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in lookup.found:
                first.setdefault(key, i)
        lookup.missing = list(first.values())
        with self._stats_lock:
            self._hits += len(lookup.found)
            self._misses += len(lookup.missing)
        return lookup

    def _store(self, lookup: _Lookup, fresh: list[Embedding]) -> None:
        entries = [(lookup.keys[i], value) for i, value in zip(lookup.missing, fresh, strict=True)]
        self.cache.put_many(entries)
        lookup.found.update(entries)

    @staticmethod
    def _results(lookup: _Lookup) -> list[Embedding]:
        out: list[Embedding] = []
        given: set[str] = set()
        for key in lookup.keys:
            value = lookup.found[key]
            out.append(value.copy() if key in given else value)  # equal inputs still get arrays of their own
            given.add(key)
        return out

    async def _off_loop(self, fn: Callable[[], R], heavy: bool = False) -> R:
        if heavy or self.cache.blocking or self._prefix is None:  # the first key may read ``dim`` (I/O remotely)
            return await asyncio.to_thread(fn)
        return fn()

    # -- primitives ----------------------------------------------------------------------------------------------

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        lookup = self._lookup("query" if is_query else "document", [_text_digest(t) for t in texts])
        if lookup.missing:
            todo = [texts[i] for i in lookup.missing]
            fresh = self.embedder._checked(self.embedder._embed_texts(todo, is_query=is_query), len(todo))
            self._store(lookup, fresh)
        return self._results(lookup)

    async def _aembed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        kind = "query" if is_query else "document"
        lookup = await self._off_loop(lambda: self._lookup(kind, [_text_digest(t) for t in texts]))
        if lookup.missing:
            todo = [texts[i] for i in lookup.missing]
            fresh = self.embedder._checked(await self.embedder._aembed_texts(todo, is_query=is_query), len(todo))
            await self._off_loop(lambda: self._store(lookup, fresh))
        return self._results(lookup)


class CachedEmbeddings(_CachingEmbedder):
    """An embedder that answers from ``cache`` and asks the wrapped ``embedder`` only for what it lacks.

    It is an embedder itself: every method of ``embedder`` (queries, documents, images for multimodal ones, the
    ``*_batch`` and async twins) with the same validation and batching (``embed_batch_size`` and
    ``max_concurrency`` are the wrapped embedder's). Wrapping a multimodal embedder gives a
    :class:`CachedMultiModalEmbeddings`, so ``isinstance`` checks for image support keep working.

    - ``cache``: an :class:`EmbeddingCache`; by default a new :class:`MemoryCache`. One cache may serve several
      embedders: keys never collide between identities.
    - ``identity``: overrides :attr:`cache_identity` (default :func:`default_cache_identity`).

    A key is the sha256 of the identity, the embedder's ``dim`` and vector kind, whether the input is a query, a
    document text or an image, and the sha256 of its content (UTF-8 text; RGB pixels with mode and size). Equal
    inputs in one call are embedded once. A cached value that does not fit the embedder (shape, non-finite) is a
    miss. Async methods call the wrapped embedder's async primitives for the misses; blocking backends
    (:class:`DiskCache`) and image hashing run on a worker thread, memory lookups inline.

    ``close()`` closes the wrapped embedder and the cache (which stays usable by others sharing it).

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> emb = CachedEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=8))
    >>> emb.embed_query("red apples").shape, emb.embed_query("red apples").shape
    ((2, 8), (2, 8))
    >>> emb.embed_text("red apples") is not None  # documents are kept apart from queries
    True
    >>> s = emb.cache_stats()
    >>> s.hits, s.misses, s.entries
    (1, 2, 2)
    """

    @overload
    def __new__(
        cls,
        embedder: MultiVectorMultiModalEmbedding,
        cache: EmbeddingCache | None = None,
        *,
        identity: str | None = None,
    ) -> CachedMultiModalEmbeddings: ...

    @overload
    def __new__(
        cls, embedder: MultiVectorBaseEmbedding, cache: EmbeddingCache | None = None, *, identity: str | None = None
    ) -> CachedEmbeddings: ...

    def __new__(cls, embedder: Any = None, cache: Any = None, *, identity: Any = None) -> CachedEmbeddings:
        if cls is CachedEmbeddings and isinstance(embedder, MultiVectorMultiModalEmbedding):
            cls = CachedMultiModalEmbeddings
        return super().__new__(cls)


class CachedMultiModalEmbeddings(CachedEmbeddings, MultiVectorMultiModalEmbedding):
    """:class:`CachedEmbeddings` of a multimodal embedder (what ``CachedEmbeddings(multimodal)`` returns).

    Images are decoded and checked by the wrapped embedder's rules (``allow_urls``, pixel limits, its own
    ``load_images``), then hashed by their pixels: a path, its bytes and the PIL image share an entry.

    >>> from PIL import Image
    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> emb = CachedEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=8, grid=2))
    >>> type(emb).__name__
    'CachedMultiModalEmbeddings'
    >>> page = Image.new("RGB", (20, 20), "red")
    >>> emb.embed_images([page, page.convert("RGBA")])[1].shape  # same pixels once normalised: one encoder pass
    (4, 8)
    >>> emb.cache_stats().misses, emb.cache_stats().entries
    (1, 1)
    """

    embedder: MultiVectorMultiModalEmbedding

    def __init__(
        self,
        embedder: MultiVectorBaseEmbedding,
        cache: EmbeddingCache | None = None,
        *,
        identity: str | None = None,
    ) -> None:
        if not isinstance(embedder, MultiVectorMultiModalEmbedding):
            raise ConfigurationError(f"embedder must be a multimodal multivec embedder, got {type(embedder).__name__}")
        super().__init__(embedder, cache, identity=identity)
        self.allow_urls = embedder.allow_urls
        self.max_image_pixels = embedder.max_image_pixels
        self.min_image_size = embedder.min_image_size

    def _image_options(self) -> dict[str, Any]:
        return self.embedder._image_options()

    def load_images(self, images: Sequence[ImageInput]) -> list[Image.Image]:
        return self.embedder.load_images(images)

    def image_patch_grid(self, image: ImageInput) -> PatchGrid | None:
        return self.embedder.image_patch_grid(image)

    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        lookup = self._lookup("image", [_image_digest(image) for image in images])
        if lookup.missing:
            todo = [images[i] for i in lookup.missing]
            fresh = self.embedder._checked(self.embedder._embed_images(todo), len(todo))
            self._store(lookup, fresh)
        return self._results(lookup)

    async def _aembed_images(self, images: list[Image.Image]) -> list[Embedding]:
        lookup = await self._off_loop(lambda: self._lookup("image", [_image_digest(i) for i in images]), heavy=True)
        if lookup.missing:
            todo = [images[i] for i in lookup.missing]
            fresh = self.embedder._checked(await self.embedder._aembed_images(todo), len(todo))
            await self._off_loop(lambda: self._store(lookup, fresh))
        return self._results(lookup)


def with_cache(embedder: MultiVectorBaseEmbedding, cache: EmbeddingCache | bool = True) -> MultiVectorBaseEmbedding:
    """``embedder`` answering from an embedding cache: ``True`` a new :class:`MemoryCache`, an
    :class:`EmbeddingCache` that one, ``False`` none (``embedder`` itself). An embedder that is already a
    :class:`CachedEmbeddings` is returned as it is. The ``cache=`` option of the LlamaIndex embedding model and of
    both frameworks' MaxSim rerankers.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> type(with_cache(DeterministicFakeMultiVectorEmbedding(dim=8))).__name__
    'CachedMultiModalEmbeddings'
    >>> with_cache(DeterministicFakeMultiVectorEmbedding(dim=8), False).model_name
    'deterministic-fake'
    """
    if not isinstance(cache, EmbeddingCache | bool):
        raise ConfigurationError(f"cache must be True, False or an EmbeddingCache, got {type(cache).__name__}")
    if cache is False or isinstance(embedder, CachedEmbeddings):
        return embedder
    return CachedEmbeddings(embedder, MemoryCache() if cache is True else cache)
