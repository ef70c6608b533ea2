"""Disk space and file-size limits of the embedded store: a write that cannot fit is refused before the engine starts.

qdrant-edge writes through memory maps into files it creates sparse (32 MiB WAL segments and vector chunks). When
the filesystem fills up, the kernel cannot back the page being written and the process dies with SIGBUS: there is
no error the engine could return. So :class:`~multivec.store.edge.EdgeBackend` asks :func:`ensure_space` before
each write for the bytes the write will allocate, and :func:`storage_error` turns the I/O errors the engine does
return (``No space left on device``, ``File too large``) into :class:`~multivec.errors.StorageFullError`.

What the engine allocates, measured on ext4 and tmpfs (qdrant-edge 0.9):

- the WAL holds each request with its vectors as float32 whatever the stored datatype: 1.26x the vector bytes for
  128 x 128 ColBERT-like documents, 1.35x for single 256-d vectors (the payload included). It keeps about two
  32 MiB segments once flushed, so it stays under 100 MiB;
- the write segment holds the stored vectors (1.004x) and the payloads;
- sealing a segment (``optimize``) writes a new one before the old one is removed: a transient copy of its data
  (127 MiB for a 128 MiB segment on ext4). On tmpfs every read through a shared mapping allocates, so each
  multi-vector storage of the new segment takes whole 32 MiB chunks (a 1 MiB segment costs 33 MiB there), and
  opening a store may fill the write segment's 32 MiB dense chunk.

:data:`RESERVE_BYTES` stay free after every upsert, so that deletes, and the rollback of a failed call, still fit.
The check cannot see another process filling the disk between it and the write: that one can still end in SIGBUS.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from multivec.errors import StorageFullError
from multivec.store.backend import PointData

__all__ = [
    "CHUNK_BYTES",
    "DELETE_BYTES",
    "OPEN_BYTES",
    "RESERVE_BYTES",
    "allocated_bytes",
    "available_bytes",
    "ensure_space",
    "file_size_limit",
    "largest_file",
    "seal_bytes",
    "storage_error",
    "upsert_bytes",
]

MiB = 2**20
#: Size of the engine's WAL segments and memory-mapped vector chunks: its unit of (sparse) preallocation.
CHUNK_BYTES = 32 * MiB
#: Kept free by every upsert for the deletes and rollbacks that may follow it.
RESERVE_BYTES = 8 * MiB
#: What a delete may allocate: its WAL entry and the pages of the deleted-flag bitmaps it sets.
DELETE_BYTES = 2 * MiB
#: Opening writes the WAL, the engine's config and the bookkeeping files; on tmpfs it may fill a 32 MiB chunk.
OPEN_BYTES = CHUNK_BYTES + RESERVE_BYTES
_WAL_FACTOR = 1.5  # measured 1.26-1.35
_SEGMENT_FACTOR = 1.1  # measured 1.004
_INDEX_FACTOR = 1.125  # a sealed segment also gets the dense HNSW graph and the payload indexes
_FRESH_SEGMENT_BYTES = 2 * MiB  # the empty write segment a seal leaves (its 1 MiB flag files, filled on tmpfs)

_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
# the engine's errors are text: "... No space left on device (os error 28)", "Os { code: 27, kind: FileTooLarge }",
# "Not enough space available for optimization, needed: 2.33 MiB, available: 0 B" (its own check before a seal)
_FULL_TEXT = re.compile(
    r"No space left on device|Not enough space|File too large|Disk quota exceeded|StorageFull|FileTooLarge|QuotaExceeded"
    r"|os error (?:" + "|".join(str(n) for n in sorted(_FULL_ERRNOS)) + r")\b"
    r"|code: (?:" + "|".join(str(n) for n in sorted(_FULL_ERRNOS)) + r")\b"
)


def available_bytes(directory: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer may still allocate on the filesystem of ``directory`` (or its nearest existing
    parent). Root may dig into the blocks reserved for it; they are not counted."""
    path = Path(directory).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def file_size_limit() -> int | None:
    """This process's ``RLIMIT_FSIZE`` in bytes, ``None`` when unlimited (or on a platform without it)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def largest_file(segment_bytes: int) -> int:
    """The largest file the engine writes for a store sealed every ``segment_bytes``: a 32 MiB WAL segment or vector
    chunk, or the dense vectors (and their graph) of a sealed segment, which may reach twice ``segment_bytes``."""
    return max(CHUNK_BYTES, 2 * segment_bytes)


def allocated_bytes(directory: str | os.PathLike[str]) -> int:
    """Disk blocks allocated to the files under ``directory`` (holes of sparse files not counted)."""
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # removed by the engine meanwhile
                continue
    return total


def upsert_bytes(points: Sequence[PointData], stored_vector_bytes: int) -> int:
    """What writing ``points`` allocates: their WAL entry and their place in the write segment.

    ``stored_vector_bytes``: the bytes of their vectors as stored (:func:`~multivec.store.backend.token_vector_bytes`).
    """
    request = 0
    payload = 0
    for p in points:
        rows = 1 + sum(len(v) for v in (p.multivector, p.pooled_tokens) if v is not None)
        request += rows * p.dense.shape[-1] * 4
        payload += len(json.dumps(p.payload, default=str))
    # the payload goes to the WAL, the payload storage and, when the segment is sealed, a copy
    return int(_WAL_FACTOR * request + _SEGMENT_FACTOR * stored_vector_bytes + 3 * payload)


def seal_bytes(data_bytes: int, multi_vector_storages: int) -> int:
    """What sealing (optimising) ``data_bytes`` of segments allocates before the old segments are removed: a copy
    with its indexes, each of the ``multi_vector_storages`` (token vectors, pooled tokens) rounded up to whole
    32 MiB chunks, and the new empty write segment."""
    return int(_INDEX_FACTOR * data_bytes) + multi_vector_storages * CHUNK_BYTES + _FRESH_SEGMENT_BYTES


def ensure_space(directory: str | os.PathLike[str], needed: int, what: str, *, largest: int = CHUNK_BYTES) -> None:
    """Raise :class:`~multivec.errors.StorageFullError` unless the filesystem of ``directory`` has ``needed`` bytes
    free and this process may write files of ``largest`` bytes (``RLIMIT_FSIZE``). ``what`` names the operation in
    the message ("write 64 records", "open the store")."""
    limit = file_size_limit()
    if limit is not None and limit < largest:
        raise StorageFullError(
            f"cannot {what}: the store at {str(directory)!r} writes files of up to {_mib(largest)} and the file-size "
            f"limit (RLIMIT_FSIZE, `ulimit -f`) is {_mib(limit)}; raise the limit"
            + (" or open the store with a smaller segment_mb" if largest > CHUNK_BYTES else ""),
            path=str(directory),
            needed=largest,
            available=limit,
        )
    available = available_bytes(directory)
    if available < needed:
        raise StorageFullError(
            f"cannot {what}: the store at {str(directory)!r} needs {_mib(needed)} free on its filesystem and "
            f"{_mib(available)} are; free some space and retry (every acknowledged write is kept)",
            path=str(directory),
            needed=needed,
            available=available,
        )


def storage_error(err: BaseException, directory: str | os.PathLike[str]) -> StorageFullError | None:
    """``err`` as a :class:`~multivec.errors.StorageFullError` when it is a full filesystem, an exceeded quota or
    file-size limit (an ``OSError`` or the engine's message for one); ``None`` for any other error."""
    if isinstance(err, StorageFullError):
        return err
    if not (isinstance(err, OSError) and err.errno in _FULL_ERRNOS) and not _FULL_TEXT.search(str(err)):
        return None
    try:
        available: int | None = available_bytes(directory)
    except OSError:
        available = None
    limit = file_size_limit()
    hint = "" if limit is None else f"; the file-size limit (RLIMIT_FSIZE) is {_mib(limit)}"
    return StorageFullError(
        f"the store at {str(directory)!r} ran out of space ({err}){hint}; free some space and retry",
        path=str(directory),
        available=available,
    )


def _mib(n: int) -> str:
    return f"{n / MiB:.1f} MiB"
