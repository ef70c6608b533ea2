"""Who owns an embedded store directory: one process (a file lock), and in it one open handle (a registry).

Another process is refused with :class:`~multivec.errors.StoreLockedError` before anything in the directory is
read or written: the lock is an exclusive, non-blocking ``flock`` on ``<store directory>/.lock``, held for as long
as the store is open and released by the kernel if the process dies. The lock file is the only thing an opener
creates before it holds the lock (with the directory itself, for a new store).

In one process, opening a directory that is already open takes it over: the earlier handle is closed first
(:meth:`Owner.close_for_reopen`), so that re-running a notebook cell that opens a store works. The registry holds
weak references, so a handle that was garbage-collected is simply gone.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from multivec.errors import ConfigurationError, StoreError, StoreLockedError

__all__ = ["LOCK_FILE", "Owner", "StoreLock", "owning"]

LOCK_FILE = ".lock"


class Owner(Protocol):
    """An open handle on a store directory."""

    def close_for_reopen(self) -> None:
        """Close because this process opens the same directory again (flush; later calls raise StoreError)."""


class StoreLock:
    """An exclusive lock on ``directory`` (created if missing) for this process, until :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ConfigurationError(
                f"cannot use {str(directory)!r} as a store directory: it, or a folder above it, is a file"
            ) from None
        except OSError as err:
            raise StoreError(f"cannot create the store directory {str(directory)!r}: {err}") from err
        try:
            self._fd: int | None = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise StoreError(f"cannot create the lock file of the store at {str(directory)!r}: {err}") from err
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            self.release()
            raise StoreLockedError(
                f"the store at {str(directory)!r} is already open in another process; close it there first, or "
                "use a Qdrant server (url=...) for concurrent access"
            ) from err

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)  # not just close(): a forked child may share the descriptor
            finally:
                os.close(fd)


_owners: weakref.WeakValueDictionary[str, Owner] = weakref.WeakValueDictionary()
_registry = threading.RLock()


@contextmanager
def owning(directory: Path, owner: Owner) -> Iterator[StoreLock]:
    """Lock ``directory`` for ``owner`` while it opens (the ``with`` block); register it as the owner if it does.

    A handle of this process still open on ``directory`` is closed first; opens of one directory are serialised.
    If the block raises, the lock is released and nothing is registered.
    """
    key = str(directory.resolve())
    with _registry:
        previous = _owners.get(key)
        if previous is not None:
            previous.close_for_reopen()
        lock = StoreLock(directory)
        try:
            yield lock
        except BaseException:
            lock.release()
            raise
        _owners[key] = owner
