"""All-or-nothing writes: a write call (or an :meth:`~multivec.store.MultiVectorStore.atomic` block) either returns
with everything stored durably or raises with the store as it was.

The flows here are driven by the store like every other flow (:mod:`multivec._flow`): a request that fails is
thrown back into the flow, which then rolls the transaction back with more requests, using its
:class:`~multivec.store.undo.UndoLog`. A rollback that fails too (the disk is still full, the store was closed) is
kept and retried before the next write, and at the next open when its log reached the disk, so that no later write
can be undone by it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multivec._flow import Flow
from multivec._progress import tqdm
from multivec.errors import StoreError
from multivec.store import space
from multivec.store.backend import Finish, PointData, Snapshot, Upsert
from multivec.store.undo import UndoLog, UndoRecord, pending

__all__ = ["Scope", "Transactions"]

# the open transaction of each store (by id) in this thread or task: atomic() blocks join the calls inside them
_ACTIVE: ContextVar[dict[int, UndoLog]] = ContextVar("multivec_transactions", default={})  # noqa: B039 - never mutated


@dataclass(frozen=True)
class Scope:
    """An open :meth:`Transactions.begin` block."""

    log: UndoLog
    mark: int
    own: bool
    token: Token[dict[int, UndoLog]]


class Transactions:
    """The write side of one store: ``root`` is where undo records go (``None``: memory only)."""

    def __init__(self, root: Path | None, batch_size: int) -> None:
        self.root = root
        self.batch_size = batch_size
        #: transactions whose rollback failed; retried before anything else is written
        self.unfinished: list[UndoLog] = pending(root) if root is not None else []
        #: transactions in progress (in any thread or task), handed over to the next open if the store closes
        self.active: set[UndoLog] = set()
        self._active_lock = threading.Lock()

    def hand_over(self) -> None:
        """The store is closing (after the engine call in progress): keep every open transaction for the next open.

        Their writes cannot be finished or taken back through this store any more; the next open of the directory
        (in this process or another) takes them back before anything else is written.
        """
        with self._active_lock:
            logs = list(self.active)
        for log in logs:
            with suppress(OSError):  # nothing more can be done here: the write stays as far as it got
                log.hand_over()

    def write(self, points: list[PointData], *, show_progress: bool = False) -> Flow[None]:
        """Upsert ``points`` in batches; on any error take back what this call wrote, then re-raise."""
        yield from self.settle()
        outer = _ACTIVE.get().get(id(self))
        log = outer if outer is not None else self._open_log()
        mark = len(log.records)
        # one request is atomic in the engine's write-ahead log; more (or a block) need the undo log on disk first,
        # so that a process killed between them is rolled back at the next open
        durable = outer is not None or len(points) > self.batch_size
        try:
            point_ids = [p.point_id for p in points]
            previous = yield Snapshot(point_ids)
            with self._storage_errors():
                if durable:
                    log.persist()
                log.add(UndoRecord(point_ids, previous))
            with tqdm(total=len(points), desc="Writing", unit="item", disable=not show_progress) as bar:
                for start in range(0, len(points), self.batch_size):
                    batch = points[start : start + self.batch_size]
                    yield Upsert(batch)
                    bar.update(len(batch))
            if outer is None:
                yield Finish()
        except BaseException as err:
            yield from self._abort(log, mark, err, own=outer is None)
            raise
        if outer is None:
            self._close_log(log, commit=True)

    def _open_log(self) -> UndoLog:
        log = UndoLog(self.root)
        with self._active_lock:
            self.active.add(log)
        return log

    def _close_log(self, log: UndoLog, *, commit: bool) -> None:
        with self._active_lock:
            self.active.discard(log)
        if commit:
            with self._storage_errors():
                log.commit()

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            if self.root is None:
                raise
            raise space.storage_error(err, self.root) or StoreError(
                f"could not write the undo log of the store at {str(self.root)!r}: {err}"
            ) from err

    def change(self, op: Any) -> Flow[Any]:
        """A single-request change (delete, clear): atomic in the engine; only waits for unfinished rollbacks."""
        yield from self.settle()
        return (yield op)

    def settle(self) -> Flow[None]:
        """Finish the rollbacks that failed earlier (or that a killed process left), oldest transaction last."""
        while self.unfinished:
            log = self.unfinished[0]
            try:
                yield from log.rollback_ops(0, batch_size=self.batch_size)
            except Exception as err:
                raise StoreError(
                    "an earlier write that failed could not be taken back yet, so nothing else can be written; "
                    f"free the resource named below and retry (or reopen the store): {err}"
                ) from err
            log.commit()
            self.unfinished.pop(0)

    def _abort(self, log: UndoLog, mark: int, err: BaseException, *, own: bool) -> Flow[None]:
        if log.handed_over:
            self._close_log(log, commit=False)
            _note(err, "the store closed during this write; it is taken back when the store is next opened")
            return
        try:
            yield from log.rollback_ops(mark, batch_size=self.batch_size)
        except Exception as rollback_error:
            kept = self._keep(log, mark, own)
            _note(
                err,
                f"multivec could not take this write back yet ({rollback_error}); it will be taken back before the "
                f"next write{' or when the store is next opened' if kept else ''}",
            )
            return
        if not own:
            log.truncate(mark)
            return
        try:
            self._close_log(log, commit=True)
        except StoreError as commit_error:  # closed meanwhile: the next open takes the rest back
            _note(err, str(commit_error))

    def _keep(self, log: UndoLog, mark: int, own: bool) -> bool:
        """Keep the failed part of ``log`` for :meth:`settle`; ``True`` when it also reached the disk."""
        if own:
            self._close_log(log, commit=False)
        unfinished = log if own else UndoLog(self.root)
        if not own:
            for record in log.records[mark:]:
                unfinished.add(record)
            log.truncate(mark)
        self.unfinished.insert(0, unfinished)
        try:
            unfinished.persist()
        except OSError:
            return False
        return unfinished.persisted

    def begin(self) -> Scope:
        """Open a transaction around every write until :meth:`end` (joins an enclosing one as a savepoint)."""
        active = _ACTIVE.get()
        outer = active.get(id(self))
        log = outer if outer is not None else self._open_log()
        return Scope(log, len(log.records), outer is None, _ACTIVE.set({**active, id(self): log}))

    def end(self, scope: Scope, err: BaseException | None) -> Flow[None]:
        """Close ``scope``: commit it (its outermost level), or take it back when the block raised ``err``."""
        _ACTIVE.reset(scope.token)
        if err is not None:
            yield from self._abort(scope.log, scope.mark, err, own=scope.own)
        elif scope.own:
            yield from self._commit(scope.log)

    def _commit(self, log: UndoLog) -> Flow[None]:
        try:
            yield Finish()
        except BaseException as err:
            yield from self._abort(log, 0, err, own=True)
            raise
        self._close_log(log, commit=True)


def _note(err: BaseException, text: str) -> None:
    add_note = getattr(err, "add_note", None)  # Python >= 3.11
    if add_note is not None:
        add_note(text)
