"""The undo log: what a write call needs to be taken back, kept until the call is acknowledged.

Before a write call (``add_*``) writes anything, the store reads the points it is about to overwrite. If anything
fails before the call returns (the engine, the disk, the process), the store deletes the points the call created and
writes back the ones it replaced, so a call that raises leaves the store as it was
(:meth:`~multivec.store.MultiVectorStore.atomic` widens this to several calls).

A call that fits in one write request is atomic in the engine's write-ahead log already; one that needs more (more
than ``write_batch_size`` items, or several calls in :meth:`~multivec.store.MultiVectorStore.atomic`) is also
written to disk, in ``<store>/multivec.undo/<transaction>/``, before its second request, so a process killed
mid-call is rolled back when the store is next opened (:func:`pending`). Each record file is fsynced before the
write it guards, and a transaction's directory is removed (and the removal fsynced) before the call returns.

>>> import numpy as np
>>> from multivec.store.backend import PointData
>>> log = UndoLog(None)
>>> old = PointData("p1", np.ones(2, np.float32), None, {"id": "1"})
>>> log.add(UndoRecord(["p1", "p2"], [old]))
>>> [type(op).__name__ for op in log.rollback_ops(0, batch_size=10)]
['Delete', 'Upsert', 'Finish']
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multivec.errors import StoreCorruptedError, StoreError
from multivec.store.backend import Delete, Finish, Op, PointData, Upsert

__all__ = ["UNDO_DIR", "UndoLog", "UndoRecord", "pending"]

UNDO_DIR = "multivec.undo"
_RECORD = "{:06d}.npz"
_DONE = ".done"


@dataclass(frozen=True)
class UndoRecord:
    """One write request's worth of undo: every point it writes, and those of them that existed, as they were."""

    point_ids: list[str]
    previous: list[PointData]

    def ops(self, batch_size: int) -> Iterator[Op]:
        """The operations that take this record's write back."""
        existed = {p.point_id for p in self.previous}
        created = [i for i in self.point_ids if i not in existed]
        if created:
            yield Delete(created, None)
        for start in range(0, len(self.previous), batch_size):
            yield Upsert(self.previous[start : start + batch_size])


class UndoLog:
    """The undo records of one transaction (a write call, or an :meth:`~multivec.store.MultiVectorStore.atomic` block).

    ``root`` is the store directory (``None``: kept in memory only, for server stores). Records are written to disk
    from the moment :meth:`persist` is called.
    """

    def __init__(self, root: Path | None, *, directory: Path | None = None) -> None:
        self.root = root
        self.records: list[UndoRecord] = []
        self.directory = directory
        self._files: list[Path] = []
        #: held while the log changes: the store's close (another thread) may hand the log over meanwhile
        self.lock = threading.RLock()
        #: set when the store closed with this transaction open: only the next open may take it back now
        self.handed_over = False

    @property
    def persisted(self) -> bool:
        return self.directory is not None

    def add(self, record: UndoRecord) -> None:
        """Keep ``record`` (and write it, once the log is persisted)."""
        with self.lock:
            self.records.append(record)
            if self.directory is not None:
                self._write(record)

    def persist(self) -> None:
        """Write every record to disk (a no-op without a root, or when already persisted)."""
        with self.lock:
            if self.root is None or self.directory is not None:
                return
            parent = self.root / UNDO_DIR
            parent.mkdir(exist_ok=True)
            directory = parent / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
            directory.mkdir()
            _fsync_dir(parent)
            _fsync_dir(self.root)
            self.directory = directory
            for record in self.records:
                self._write(record)

    def rollback_ops(self, mark: int, *, batch_size: int) -> Iterator[Op]:
        """Operations that undo the records from ``mark`` on, newest first, ending with a flush."""
        for record in reversed(self.records[mark:]):
            yield from record.ops(batch_size)
        yield Finish()

    def truncate(self, mark: int) -> None:
        """Forget the records from ``mark`` on (they were rolled back)."""
        with self.lock:
            del self.records[mark:]
            for path in self._files[mark:]:
                path.unlink(missing_ok=True)
            del self._files[mark:]

    def commit(self) -> None:
        """The transaction is acknowledged (or fully taken back): drop its records, from disk too, durably.

        Raises :class:`~multivec.errors.StoreError` when the store was closed first (:attr:`handed_over`): the
        transaction then stays for the next open to take back, and must not be acknowledged.
        """
        with self.lock:
            if self.handed_over:
                raise StoreError(
                    "the store was closed (or opened again in this process) before this write was acknowledged; it "
                    "is taken back when the store is next opened"
                )
            self.records.clear()
            self._files.clear()
            if self.directory is not None:
                directory, self.directory = self.directory, None
                done = directory.with_name(directory.name + _DONE)  # one rename: a kill mid-removal undoes nothing
                os.rename(directory, done)
                _fsync_dir(directory.parent)
                shutil.rmtree(done, ignore_errors=True)

    def hand_over(self) -> None:
        """The store closes with this transaction open: keep it on disk for the next open, which takes it back."""
        with self.lock:
            self.handed_over = True
            self.persist()

    def _write(self, record: UndoRecord) -> None:
        assert self.directory is not None
        path = self.directory / _RECORD.format(len(self._files))
        buffer = io.BytesIO()
        np.savez(buffer, **_arrays(record))
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.directory)
        self._files.append(path)


def pending(root: Path) -> list[UndoLog]:
    """Transactions a killed process left unfinished under ``root``, newest first (to roll back in that order)."""
    parent = root / UNDO_DIR
    if not parent.is_dir():
        return []
    logs = []
    for directory in sorted((d for d in parent.iterdir() if d.is_dir()), reverse=True):
        if directory.name.endswith(_DONE):
            shutil.rmtree(directory, ignore_errors=True)
            continue
        log = UndoLog(root, directory=directory)
        for path in sorted(directory.glob("*.npz")):
            log.records.append(_read(path))
            log._files.append(path)
        logs.append(log)
    return logs


def _arrays(record: UndoRecord) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "point_ids": np.array(record.point_ids, dtype=str),
        "payloads": np.array(json.dumps([p.payload for p in record.previous])),
        "previous_ids": np.array([p.point_id for p in record.previous], dtype=str),
    }
    for i, p in enumerate(record.previous):
        arrays[f"dense_{i}"] = p.dense
        if p.multivector is not None:
            arrays[f"multivector_{i}"] = p.multivector
        if p.pooled_tokens is not None:
            arrays[f"pooled_{i}"] = p.pooled_tokens
    return arrays


def _read(path: Path) -> UndoRecord:
    try:
        with np.load(path, allow_pickle=False) as data:
            payloads = json.loads(str(data["payloads"]))
            previous = [
                PointData(
                    point_id=str(pid),
                    dense=data[f"dense_{i}"],
                    multivector=data.get(f"multivector_{i}", None),
                    payload=payloads[i],
                    pooled_tokens=data.get(f"pooled_{i}", None),
                )
                for i, pid in enumerate(data["previous_ids"].tolist())
            ]
            return UndoRecord([str(i) for i in data["point_ids"].tolist()], previous)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise StoreCorruptedError(f"the undo record {str(path)!r} cannot be read ({err})", path=str(path)) from err


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
