"""PageCacheWarmer: read files into the operating system's page cache on a background thread.

The embedded store maps its token vectors lazily (Qdrant's "cold" memory tier), so it opens at once instead of
loading every vector first; this warmer then reads them, so that the kernel caches them, while the store already
answers queries. Only a file's allocated ranges are read (``SEEK_DATA``/``SEEK_HOLE`` where the platform has them),
so the preallocated, never written tails of Qdrant's chunk files take no memory.

The files are read, not advised: ``posix_fadvise(POSIX_FADV_WILLNEED)`` would save the copy, but Linux caps each
call at the device's readahead window (8 MB on this project's test machine; 128 KB is common), so 16 MB calls
left half of every file uncached, and how much any call caches depends on the disk. Reading is exact everywhere.
The reads release the GIL.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["PageCacheWarmer"]

_CHUNK_BYTES = 8 * 2**20  # one read: stop() waits for no more than one chunk


class PageCacheWarmer:
    """Read the files under ``root`` for which ``wanted(path)`` is true into the page cache, in the background.

    :meth:`start` begins a pass over the directory (stopping a running one first), :meth:`wait` blocks until the
    pass is done, :meth:`stop` ends it early. A pass skips the files an earlier pass read whose size and mtime have
    not changed since (sealed segments never change; what the kernel evicted since, it may keep evicted), and files
    that vanish under it. ``read_bytes`` counts every byte read so far.

    Example:
        >>> import pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "vectors.bin").write_bytes(bytes(1 << 20))
        >>> warmer = PageCacheWarmer(root)
        >>> warmer.start()
        >>> warmer.wait(timeout=10)
        True
        >>> warmer.read_bytes
        1048576
        >>> warmer.stop()
    """

    def __init__(self, root: str | os.PathLike[str], wanted: Callable[[Path], bool] = lambda _: True) -> None:
        self.root = Path(root)
        self._wanted = wanted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_files: dict[Path, tuple[int, int]] = {}
        self.read_bytes = 0

    def start(self) -> None:
        """Start a pass over ``root`` (after stopping the running one)."""
        self.stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="multivec-warm", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current pass is done; False if ``timeout`` seconds passed first."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def stop(self) -> None:
        """End the current pass (it stops after the chunk it is reading) and wait for its thread."""
        self._stop.set()
        self.wait()
        self._thread = None

    def _run(self, stop: threading.Event) -> None:
        buffer = memoryview(bytearray(_CHUNK_BYTES))
        for path in sorted(self._files()):
            try:
                with open(path, "rb", buffering=0) as file:
                    info = os.fstat(file.fileno())
                    version = (info.st_size, info.st_mtime_ns)
                    if self._read_files.get(path) == version:
                        continue
                    for offset, length in _data_chunks(file.fileno(), info.st_size):
                        if stop.is_set():
                            return
                        file.seek(offset)
                        self.read_bytes += file.readinto(buffer[:length]) or 0
                    self._read_files[path] = version
            except OSError:
                continue

    def _files(self) -> Iterator[Path]:
        for directory, _, names in os.walk(self.root):
            for name in names:
                path = Path(directory) / name
                if self._wanted(path):
                    yield path


def _data_chunks(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The ``(offset, length)`` pieces, at most ``_CHUNK_BYTES`` long, of the file's allocated ranges."""
    for start, end in _data_ranges(fd, size):
        for offset in range(start, end, _CHUNK_BYTES):
            yield offset, min(_CHUNK_BYTES, end - offset)


def _data_ranges(fd: int, size: int) -> Iterator[tuple[int, int]]:
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        yield 0, size
        return
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, seek_data)
        except OSError as err:
            if err.errno != errno.ENXIO:  # the file system cannot tell holes apart: read the rest whole
                yield position, size
            return
        end = os.lseek(fd, start, seek_hole)
        yield start, end
        position = end
