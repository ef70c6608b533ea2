"""Contract 4: a full filesystem or a file-size limit is a :class:`~multivec.errors.StorageFullError`, never a
SIGBUS or a misleading :class:`~multivec.errors.StoreLockedError`, and the store reopens with every acknowledged call
once space is back.

The filesystems are real (a small tmpfs, a loop-mounted ext4 image; skipped where mounting is not permitted) and so
is the engine. Every store is opened in a child process (this module run as a script), so that a SIGBUS kills only
the child: the tests assert that it exits normally, having caught the error. Space is taken by a filler file on the
same filesystem and given back by removing it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

MiB = 2**20
DIM = 16
TOKENS = 32  # 33 rows x 16 x 4 bytes: 2112 bytes of vectors a document
ROOT = Path(__file__).resolve().parents[2]


# -- the child: opens the store, runs the actions, reports what happened as JSON lines ---------------------------------


def _doc(i: int) -> Any:
    from tests.store.conftest import random_corpus

    return random_corpus(1, DIM, seed=i, min_len=TOKENS, max_len=TOKENS)[0]


def _child(args: dict[str, Any]) -> None:
    import resource

    import numpy as np

    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.errors import StorageFullError
    from multivec.store import MultiVectorStore

    def report(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}), flush=True)

    def full(err: StorageFullError, **fields: Any) -> None:
        report("full", path=err.path, needed=err.needed, available=err.available, message=str(err), **fields)

    def add(ids: list[int]) -> bool:
        try:
            store.add_embeddings([_doc(i) for i in ids], [{"content": f"doc {i}"} for i in ids], ids=ids)
        except StorageFullError as err:
            full(err, ids=ids)
            return False
        report("ack", ids=ids)
        return True

    if args.get("fsize"):
        resource.setrlimit(resource.RLIMIT_FSIZE, (args["fsize"], resource.RLIM_INFINITY))
    try:
        store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=args["path"], **args["options"])
    except StorageFullError as err:
        full(err, action="open")
        return
    report("opened")
    for action in args["actions"]:
        do = action["do"]
        if do == "add":
            add(action["ids"])
        elif do == "add_until_full":
            first, size = action["first"], action["per_call"]
            for call in range(action["max_calls"]):
                if not add(list(range(first + call * size, first + (call + 1) * size))):
                    break
        elif do == "delete":
            store.delete(action["ids"])
            report("deleted", ids=action["ids"])
        elif do == "optimize":
            try:
                store.optimize()
            except StorageFullError as err:
                full(err, action="optimize")
            else:
                report("optimized")
        elif do == "fill":
            _fill(Path(action["file"]), action["leave"])
        elif do == "fsize":
            resource.setrlimit(resource.RLIMIT_FSIZE, (action["bytes"], resource.RLIM_INFINITY))
        elif do == "verify":
            ids, absent = action["ids"], action["absent"]
            records = {r.id: r.content for r in store.get(ids)}
            vectors = store.get_vectors(ids) if len(records) == len(ids) else []
            wrong_vectors = [i for i, v in zip(ids, vectors, strict=True) if not np.allclose(v, _doc(i), atol=1e-5)]
            probes = ids[:: max(1, len(ids) // 10)]
            top = [store.search(_doc(i), k=1, exact=True)[0].id for i in probes]
            report(
                "state",
                count=store.count(),
                missing=sorted(set(map(str, ids)) - set(records)),
                wrong_content=[i for i in ids if str(i) in records and records[str(i)] != f"doc {i}"],
                wrong_vectors=wrong_vectors,
                wrong_top=[i for i, t in zip(probes, top, strict=True) if t != str(i)],
                present_absent=[r.id for r in store.get(absent)],
            )
    store.close()
    report("closed")


def _run_child(path: Path, actions: list[dict[str, Any]], fsize: int | None = None, **options: Any) -> list[dict]:
    """Run the actions in a child process; fail unless it exited normally. Returns its events."""
    args = {"path": str(path), "options": options, "actions": actions, "fsize": fsize}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.test_disk_full", json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"the child died (exit status {proc.returncode}; -7 is SIGBUS):\n{proc.stderr[-3000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _events(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


# -- real filesystems -----------------------------------------------------------------------------------------------


def _fill(filler: Path, leave: int) -> None:
    """Allocate ``filler`` so that ``leave`` bytes stay available on its filesystem."""
    stat = os.statvfs(filler.parent)
    size = stat.f_bavail * stat.f_frsize - leave
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        if size > 0:
            os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


def _try(cmd: list[str]) -> str | None:
    """Run ``cmd``; the reason it failed, or None."""
    if shutil.which(cmd[0]) is None:
        return f"{cmd[0]} not found"
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return None if proc.returncode == 0 else f"`{' '.join(cmd)}` failed: {proc.stderr.strip()}"


@contextmanager
def _mounted(kind: str, where: Path, size_mb: int) -> Iterator[Path]:
    """A fresh ``kind`` ("tmpfs" or "ext4") filesystem of ``size_mb`` MiB mounted at ``where``; skips the test where
    mounting is not permitted (not root, no loop devices, ...)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs the suite as root)")
    where.mkdir()
    if kind == "tmpfs":
        failed = _try(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)])
    else:
        image = where.with_suffix(".img")
        with open(image, "wb") as f:
            f.truncate(size_mb * MiB)
        failed = _try(["mkfs.ext4", "-q", "-F", str(image)]) or _try(["mount", "-o", "loop", str(image), str(where)])
    if failed:
        pytest.skip(f"cannot mount a {kind} filesystem here: {failed}")
    try:
        yield where
    finally:
        if _try(["umount", str(where)]):
            _try(["umount", "-l", str(where)])


@pytest.fixture(params=["tmpfs", "ext4"])
def small_fs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    with _mounted(request.param, tmp_path / request.param, 128) as mount:
        yield mount


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    with _mounted("tmpfs", tmp_path / "tmpfs", 128) as mount:
        yield mount


# -- tests ----------------------------------------------------------------------------------------------------------


def _assert_full(event: dict, store: Path) -> None:
    assert event["path"] == str(store / "multivec"), event
    assert event["needed"] > event["available"], event
    assert "StoreLocked" not in event["message"]


def _assert_intact(state: dict, ids: list[int]) -> None:
    assert state["count"] == len(ids)
    for problem in ("missing", "wrong_content", "wrong_vectors", "wrong_top", "present_absent"):
        assert state[problem] == [], (problem, state[problem])


def test_ingest_until_the_disk_is_full_raises_storage_full_and_keeps_every_acknowledged_call(small_fs: Path) -> None:
    store, filler = small_fs / "db", small_fs / "filler"
    _fill(filler, 56 * MiB)
    # calls of 640 documents in requests of 16, a seal every 1 MB (31 requests): the call that no longer fits fails
    # part-way, after some of its requests were written
    events = _run_child(
        store,
        [
            {"do": "add", "ids": list(range(48))},
            {"do": "add_until_full", "first": 48, "per_call": 640, "max_calls": 20},
            {"do": "delete", "ids": [0]},
        ],
        segment_mb=1,
        write_batch_size=16,
    )
    acked = [i for e in _events(events, "ack") for i in e["ids"]]
    failed = _events(events, "full")
    assert acked and len(failed) == 1, events[-3:]
    _assert_full(failed[0], store)
    # every write keeps a reserve: deletes (and the failed call's rollback) still fit once writes are refused
    assert _events(events, "deleted") and _events(events, "closed")

    # opening needs room too (the WAL, the engine's files): refused while the disk is full, the store untouched
    _fill(small_fs / "filler-2", 1 * MiB)
    refused = _run_child(store, [], segment_mb=1)
    assert [e["event"] for e in refused] == ["full"] and refused[0]["action"] == "open"
    _assert_full(refused[0], store)

    for f in (filler, small_fs / "filler-2"):
        f.unlink()
    kept = [i for i in acked if i != 0]
    events = _run_child(store, [{"do": "verify", "ids": kept, "absent": [0, *failed[0]["ids"]]}], segment_mb=1)
    _assert_intact(_events(events, "state")[0], kept)


def test_creating_a_store_on_a_full_disk_is_refused_before_anything_is_written(tmpfs: Path) -> None:
    store, filler = tmpfs / "db", tmpfs / "filler"
    _fill(filler, 1 * MiB)
    events = _run_child(store, [{"do": "add", "ids": [1]}])
    assert [e["event"] for e in events] == ["full"] and events[0]["action"] == "open"
    _assert_full(events[0], store)
    assert not store.exists()

    filler.unlink()
    events = _run_child(
        store, [{"do": "add", "ids": list(range(10))}, {"do": "verify", "ids": list(range(10)), "absent": []}]
    )
    _assert_intact(_events(events, "state")[0], list(range(10)))


def test_an_os_error_for_a_full_disk_maps_to_storage_full(tmpfs: Path) -> None:
    from multivec.errors import StorageFullError
    from multivec.store.space import storage_error

    _fill(tmpfs / "filler", 0)
    with pytest.raises(OSError) as caught:
        (tmpfs / "more").write_bytes(bytes(MiB))
    mapped = storage_error(caught.value, tmpfs)
    assert isinstance(mapped, StorageFullError) and mapped.path == str(tmpfs) and mapped.available == 0
    assert storage_error(ValueError("bad input"), tmpfs) is None


def test_optimize_without_room_raises_and_a_write_call_defers_it(tmp_path: Path) -> None:
    # a filesystem of its own, larger than the shared fixture's: on tmpfs every segment's flag files (deleted
    # points, the lexical index's null flags) are filled, and a seal is sized from what the segments allocate
    with _mounted("tmpfs", tmp_path / "tmpfs", 256) as tmpfs:
        _optimize_without_room(tmpfs)


def _optimize_without_room(tmpfs: Path) -> None:
    store = tmpfs / "db"
    events = _run_child(
        store,
        [
            {"do": "add", "ids": list(range(4))},
            {"do": "fill", "file": str(tmpfs / "filler"), "leave": 20 * MiB},
            # this call passes optimize_threshold: it is acknowledged, its optimize waits for room
            {"do": "add", "ids": list(range(4, 12))},
            {"do": "optimize"},
        ],
        optimize_threshold=8,
    )
    assert [e["event"] for e in events] == ["opened", "ack", "ack", "full", "closed"]
    assert events[3]["action"] == "optimize"
    _assert_full(events[3], store)

    (tmpfs / "filler").unlink()
    ids = list(range(12))
    events = _run_child(store, [{"do": "optimize"}, {"do": "verify", "ids": ids, "absent": []}])
    assert _events(events, "optimized"), json.dumps(events)
    _assert_intact(_events(events, "state")[0], ids)


def test_a_file_size_limit_refuses_open_and_writes_not_as_locked_and_keeps_the_store(tmp_path: Path) -> None:
    store = tmp_path / "db"
    # below the engine's 32 MiB WAL segments and vector chunks: the engine's error used to read as StoreLockedError
    events = _run_child(store, [], fsize=8 * MiB, segment_mb=1)
    assert [e["event"] for e in events] == ["full"] and events[0]["action"] == "open"
    assert events[0]["needed"] == 32 * MiB and events[0]["available"] == 8 * MiB
    assert "RLIMIT_FSIZE" in events[0]["message"]
    assert not store.exists()

    # lowered while the store is open: the next write is refused before the engine writes anything
    events = _run_child(
        store,
        [
            {"do": "add", "ids": list(range(10))},
            {"do": "fsize", "bytes": 16 * MiB},
            {"do": "add", "ids": list(range(10, 40))},
        ],
        segment_mb=1,
        write_batch_size=8,
    )
    assert [e["event"] for e in events] == ["opened", "ack", "full", "closed"]
    assert events[2]["available"] == 16 * MiB

    # an existing store is refused the same way, and stays intact
    events = _run_child(store, [], fsize=8 * MiB, segment_mb=1)
    assert [e["event"] for e in events] == ["full"]
    events = _run_child(store, [{"do": "verify", "ids": list(range(10)), "absent": list(range(10, 40))}], segment_mb=1)
    _assert_intact(_events(events, "state")[0], list(range(10)))


def test_a_file_size_limit_too_small_for_the_sealed_segments_refuses_open(tmp_path: Path) -> None:
    # sealed segments of a segment_mb=32 store may hold 64 MB files: a 48 MB limit would fail mid-seal
    events = _run_child(tmp_path / "db", [], fsize=48 * MiB, segment_mb=32)
    assert events[0]["event"] == "full" and events[0]["needed"] == 64 * MiB
    assert "segment_mb" in events[0]["message"]


def test_the_engine_s_own_file_size_error_maps_to_storage_full(tmp_path: Path) -> None:
    # the engine's error for a file over RLIMIT_FSIZE (it used to read as "already open": StoreLockedError)
    code = (
        "import resource, qdrant_edge as qe\n"
        "from multivec.store.space import storage_error\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))\n"
        "config = qe.EdgeConfig(vectors={'d': qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)})\n"
        "try:\n"
        f"    qe.EdgeShard.create({str(tmp_path)!r}, config)\n"
        "except Exception as err:\n"
        f"    full = storage_error(err, {str(tmp_path)!r})\n"
        "    print(type(full).__name__, full.path if full else '', err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"StorageFullError {tmp_path} "), proc.stdout


if __name__ == "__main__":
    with suppress(BrokenPipeError):
        _child(json.loads(sys.argv[1]))
