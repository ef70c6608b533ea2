"""One process owns a store directory: another process is refused without a byte of the store changing, and in one
process a second open takes the store over (re-run notebook cells), as does an open after garbage collection."""

from __future__ import annotations

import atexit
import gc
import hashlib
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, StoreCorruptedError, StoreError, StoreLockedError
from multivec.store import MultiVectorStore

REPO = Path(__file__).resolve().parents[2]

# Holds the store open (with a search-pool option the engine persists in its config, which a refused opener used to
# rewrite), then on each line from stdin runs one step and answers "ok <result>" or "error <type>: <message>".
HOLDER = """
    import sys
    import numpy as np
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    path = sys.argv[1]
    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=path, max_search_threads=1)
    store.add_texts(["red apples", "blue cars"], ids=["a", "b"])
    print("ok ready", flush=True)
    for line in sys.stdin:
        try:
            step = line.strip()
            if step == "write":
                result = store.add_texts(["green pears"], ids=["c"])
            elif step == "search":
                result = [h.id for h in store.search("green pears", k=1)]
            elif step == "reopen":
                store.close()
                store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=path)
                result = sorted(r.id for r in store.scroll())
            elif step == "close":
                store.close()
                result = "closed"
            print("ok", result, flush=True)
        except BaseException as err:
            print(f"error {type(err).__name__}: {err}", flush=True)
"""


def _fake(dim: int = 16) -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=dim)


def _files(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with the SHA-256 of its bytes (directories: ``"dir"``)."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _open_elsewhere(path: Path) -> str:
    """Open the store at ``path`` in another process: ``"count N"`` or ``"locked"``."""
    code = textwrap.dedent(f"""
        from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        from multivec.errors import StoreLockedError
        from multivec.store import MultiVectorStore
        try:
            with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path={str(path)!r}) as store:
                print("count", store.count())
        except StoreLockedError:
            print("locked")
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return result.stdout.strip() or result.stderr


class _Holder:
    """A child process holding a store open, driven one step at a time."""

    def __init__(self, path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(HOLDER), str(path)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.step(None) == "ok ready"

    def step(self, command: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=120)


@pytest.mark.parametrize("embedding_dim", [16, 8], ids=["same-embedder", "other-dimension"])
def test_an_open_refused_in_another_process_touches_nothing(tmp_path: Path, embedding_dim: int) -> None:
    holder = _Holder(tmp_path)
    try:
        before = _files(tmp_path)
        with pytest.raises(StoreLockedError, match="already open in another process"):
            MultiVectorStore(_fake(embedding_dim), path=tmp_path)
        assert _files(tmp_path) == before  # every file byte-identical, nothing added or removed
        # the owner goes on as if nothing happened: write (flushed), search, close and reopen
        assert holder.step("write") == "ok ['c']"
        assert holder.step("search") == "ok ['c']"
        assert holder.step("reopen") == "ok ['a', 'b', 'c']"
        assert holder.step("close") == "ok closed"
    finally:
        holder.stop()
    assert holder.process.returncode == 0
    with MultiVectorStore(_fake(), path=tmp_path) as store:  # the owner is gone: the lock went with it
        assert store.count() == 3


def test_the_lock_is_released_when_the_owner_is_killed(tmp_path: Path) -> None:
    holder = _Holder(tmp_path)
    assert _open_elsewhere(tmp_path) == "locked"
    holder.process.kill()
    holder.process.wait(timeout=60)
    assert _open_elsewhere(tmp_path) == "count 2"


def test_reopening_in_the_same_process_closes_the_earlier_store(tmp_path: Path) -> None:
    first = MultiVectorStore(_fake(), path=tmp_path)
    first.add_texts(["one"], ids=["1"])
    second = MultiVectorStore(_fake(), path=tmp_path)
    for call in (lambda: first.add_texts(["two"]), lambda: first.search("one"), first.optimize):
        with pytest.raises(StoreError, match="was opened again in this process"):
            call()
    second.add_texts(["two"], ids=["2"])
    assert sorted(r.id for r in second.scroll()) == ["1", "2"]
    first.close()
    second.close()


async def test_reopening_closes_the_earlier_store_for_async_calls_too(tmp_path: Path) -> None:
    first = MultiVectorStore(_fake(), path=tmp_path)
    await first.aadd_texts(["one"], ids=["1"])
    async with MultiVectorStore(_fake(), path=tmp_path) as second:
        with pytest.raises(StoreError, match="was opened again in this process"):
            await first.asearch("one")
        assert await second.acount() == 1
    await first.aclose()


def test_a_re_run_cell_that_opens_the_store_works(tmp_path: Path) -> None:
    store = None
    for run in range(3):  # the same cell run three times: the earlier store is still referenced while it runs
        store = MultiVectorStore(_fake(), path=tmp_path)
        store.add_texts([f"run {run}"], ids=[str(run)])
    assert store is not None and store.count() == 3


def test_a_store_dropped_without_close_can_be_opened_again(tmp_path: Path) -> None:
    store = MultiVectorStore(_fake(), path=tmp_path)
    store.add_texts(["kept"], ids=["k"])
    del store
    gc.collect()
    with MultiVectorStore(_fake(), path=tmp_path) as again:
        assert [r.content for r in again.get(["k"])] == ["kept"]
    assert _open_elsewhere(tmp_path) == "count 1"  # another process needs the lock to be gone


def _forked_child(run_exit_handlers: bool) -> None:
    if run_exit_handlers:  # as a child that exits through sys.exit() would: the store's finalizer runs here
        atexit._run_exitfuncs()


@pytest.mark.parametrize("run_exit_handlers", [False, True], ids=["child-waits", "child-runs-exit-handlers"])
def test_a_forked_child_neither_keeps_nor_releases_the_parents_lock(tmp_path: Path, run_exit_handlers: bool) -> None:
    store = MultiVectorStore(_fake(), path=tmp_path)
    store.add_texts(["x"], ids=["x"])
    child = multiprocessing.get_context("fork").Process(target=_forked_child, args=(run_exit_handlers,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert _open_elsewhere(tmp_path) == "locked"  # still this process's store
    store.add_texts(["y"], ids=["y"])
    store.close()
    with MultiVectorStore(_fake(), path=tmp_path) as again:
        assert again.count() == 2


def test_a_directory_that_is_not_a_store_is_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "multivec"
    (foreign / "notes").mkdir(parents=True)
    (foreign / "notes" / "todo.txt").write_text("buy milk")
    (foreign / "edge_config.json").write_text("{}")
    before = _files(tmp_path)
    with pytest.raises(StoreCorruptedError, match="is not a multivec store") as caught:
        MultiVectorStore(_fake(), path=tmp_path)
    assert caught.value.path == str(foreign)
    assert _files(tmp_path) == before


def test_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "data.bin"
    file.write_bytes(b"\x00\x01")
    with pytest.raises(ConfigurationError, match="is a file"):
        MultiVectorStore(_fake(), path=file)
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "docs").write_text("a file where the collection would be")
    with pytest.raises(ConfigurationError, match="is a file"):
        MultiVectorStore(_fake(), "docs", path=tmp_path / "store")
    assert file.read_bytes() == b"\x00\x01"
    assert (tmp_path / "store" / "docs").read_text() == "a file where the collection would be"
