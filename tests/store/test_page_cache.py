"""PageCacheWarmer: reads the allocated ranges of the wanted files into the page cache, on a background thread."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import pytest

from multivec.store.page_cache import PageCacheWarmer

needs_page_cache_calls = pytest.mark.skipif(
    not hasattr(os, "posix_fadvise"), reason="evicting a file needs posix_fadvise (and mincore to see it)"
)

MB = 2**20


def _write(path: Path, data_bytes: int, size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(data_bytes))
        if size is not None:
            f.truncate(size)  # a preallocated, never written tail: a hole
        f.flush()
        os.fsync(f.fileno())
    return path


def _resident_fraction(path: Path) -> float:
    """The share of the file's pages in the page cache (``mincore`` on a private read mapping)."""
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mapping:
        view = ctypes.c_char.from_buffer(mapping)
        vector = ctypes.create_string_buffer(pages)
        status = libc.mincore(ctypes.addressof(view), size, vector)
        del view  # the mapping cannot close while exported
        if status != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        return sum(byte & 1 for byte in vector.raw) / pages


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@needs_page_cache_calls
def test_evicted_file_is_read_back_into_the_page_cache(tmp_path: Path) -> None:
    path = _write(tmp_path / "vectors.bin", 8 * MB)
    _evict(path)
    if _resident_fraction(path) > 0.5:
        pytest.skip("this file system keeps the file cached (tmpfs?); eviction cannot be observed")
    warmer = PageCacheWarmer(tmp_path)
    warmer.start()
    assert warmer.wait(timeout=30)
    assert _resident_fraction(path) == 1.0
    assert warmer.read_bytes == 8 * MB


def test_only_allocated_ranges_of_wanted_files_are_read(tmp_path: Path) -> None:
    _write(tmp_path / "seg" / "vector_storage-multivector" / "chunk_0.mmap", 1 * MB, size=32 * MB)
    _write(tmp_path / "seg" / "payload_storage" / "page_0.dat", 2 * MB)
    warmer = PageCacheWarmer(tmp_path, lambda p: "vector_storage-multivector" in p.parts)
    warmer.start()
    assert warmer.wait(timeout=30)
    # the 31 MB hole is skipped where the file system reports holes (SEEK_DATA); else the whole file is read
    assert warmer.read_bytes in (1 * MB, 32 * MB)
    if hasattr(os, "SEEK_DATA"):
        assert warmer.read_bytes == 1 * MB


def test_a_new_pass_reads_only_files_new_or_changed_since_and_a_missing_root_is_no_error(tmp_path: Path) -> None:
    warmer = PageCacheWarmer(tmp_path / "segments")
    warmer.start()  # the directory does not exist yet
    assert warmer.wait(timeout=30)
    assert warmer.read_bytes == 0
    sealed = _write(tmp_path / "segments" / "a" / "chunk_0.mmap", 1 * MB)
    warmer.start()
    assert warmer.wait(timeout=30)
    assert warmer.read_bytes == 1 * MB
    _write(tmp_path / "segments" / "b" / "chunk_0.mmap", 2 * MB)
    warmer.start()  # "a" is unchanged: only "b" is read
    assert warmer.wait(timeout=30)
    assert warmer.read_bytes == 3 * MB
    with open(sealed, "ab") as f:
        f.write(os.urandom(MB))
    warmer.start()
    assert warmer.wait(timeout=30)
    assert warmer.read_bytes == 5 * MB  # "a" changed: read again, whole
    warmer.stop()
    warmer.stop()  # idempotent
