"""Contract 1: a write call that raises leaves the store as it was; a call that returns is durable; a process killed
mid-call keeps every acknowledged call and nothing of the interrupted one (rolled back when the store is opened).

Faults are real exceptions raised at the n-th engine request (the real engine ran every request before it), or a
real SIGKILL of a child process at the n-th request.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import StoreError
from multivec.store import MultiVectorStore
from multivec.store.undo import UNDO_DIR
from tests.reliability.conftest import fail_at, heal, state
from tests.store.conftest import random_corpus

DIM = 16
QUERY = random_corpus(1, DIM, seed=99)[0]
ERRORS = {
    "engine": lambda: StoreError("injected engine failure"),
    "os": lambda: OSError(28, "No space left on device (injected)"),
    "interrupt": KeyboardInterrupt,
}


def _open(backend: str, tmp_path: Path, **options: object) -> MultiVectorStore:
    where = {"path": tmp_path / "db"} if backend == "edge" else {"location": ":memory:"}
    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), **where, **options)  # type: ignore[arg-type]


def _seed(store: MultiVectorStore, n: int = 6) -> None:
    vectors = random_corpus(n, DIM, seed=1)
    store.add_embeddings(vectors, [{"content": f"old {i}", "metadata": {"v": 1}} for i in range(n)], ids=range(n))


def _call(n_new: int, n_overwrite: int) -> tuple[list[np.ndarray], list[dict], list[int]]:
    ids = list(range(n_overwrite)) + list(range(100, 100 + n_new))
    vectors = random_corpus(len(ids), DIM, seed=2)
    return vectors, [{"content": f"new {i}", "metadata": {"v": 2}} for i in ids], ids


@pytest.mark.parametrize("backend", ["edge", "memory"])
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n_new=st.integers(0, 9),
    n_overwrite=st.integers(0, 6),
    batch=st.integers(1, 4),
    fail=st.integers(0, 12),
    kind=st.sampled_from(sorted(ERRORS)),
)
def test_a_call_that_raises_leaves_the_store_as_it_was(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    n_new: int,
    n_overwrite: int,
    batch: int,
    fail: int,
    kind: str,
) -> None:
    if n_new + n_overwrite == 0:
        return
    with _open(backend, tmp_path_factory.mktemp("s"), write_batch_size=batch) as store:
        _seed(store)
        before = state(store, QUERY)
        sent = fail_at(store, fail, ERRORS[kind])
        vectors, payloads, ids = _call(n_new, n_overwrite)
        try:
            store.add_embeddings(vectors, payloads, ids)
        except (StoreError, OSError, KeyboardInterrupt):
            heal(store)
            assert fail < len(sent), "raised without the injected fault"
            assert state(store, QUERY) == before
        else:
            heal(store)
            assert fail >= len(sent)
            assert store.count() == len(set(before.records) | {str(i) for i in ids})


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_async_calls_roll_back_too(backend: str, tmp_path: Path) -> None:
    async def main() -> None:
        store = _open(backend, tmp_path, write_batch_size=2)
        _seed(store)
        before = state(store, QUERY)
        fail_at(store, 5, ERRORS["engine"])
        vectors, payloads, ids = _call(5, 3)
        with pytest.raises(StoreError, match="injected"):
            await store.aadd_embeddings(vectors, payloads, ids)
        heal(store)
        assert state(store, QUERY) == before
        await store.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_atomic_block_keeps_all_or_nothing(backend: str, tmp_path: Path) -> None:
    with _open(backend, tmp_path) as store:
        _seed(store)
        before = state(store, QUERY)
        with pytest.raises(KeyboardInterrupt), store.atomic():
            store.add_texts(["red apples"], ids=["a"])
            vectors, payloads, ids = _call(3, 2)
            store.add_embeddings(vectors, payloads, ids)
            raise KeyboardInterrupt
        assert state(store, QUERY) == before
        with store.atomic():
            store.add_texts(["red apples"], ids=["a"])
            try:  # a failing call inside the block is taken back alone; the block goes on
                fail_at(store, 1, ERRORS["engine"])
                store.add_texts(["blue cars"], ids=["b"])
            except StoreError:
                heal(store)
            store.add_texts(["green pears"], ids=["c"])
        assert sorted(r.id for r in store.get(["a", "b", "c"])) == ["a", "c"]


def test_failed_rollback_is_finished_before_the_next_write(tmp_path: Path) -> None:
    with _open("edge", tmp_path, write_batch_size=2) as store:
        _seed(store)
        before = state(store, QUERY)
        fail_at(store, 4, ERRORS["os"], every_after=True)  # the write fails, and so does every rollback request
        vectors, payloads, ids = _call(4, 2)
        with pytest.raises(OSError) as info:
            store.add_embeddings(vectors, payloads, ids)
        notes = getattr(info.value, "__notes__", None)
        if sys.version_info >= (3, 11):  # add_note exists: the error must say the write is not taken back yet
            assert notes and any("taken back before the next write" in note for note in notes), notes
        heal(store)
        assert store._tx.unfinished and (tmp_path / "db" / "multivec" / UNDO_DIR).is_dir()
        store.add_texts(["later"], ids=["later"])  # settles the failed rollback first, then writes
        after = state(store, QUERY)
        assert {k: v for k, v in after.records.items() if k != "later"} == before.records
        assert not list((tmp_path / "db" / "multivec" / UNDO_DIR).iterdir())


_CHILD = textwrap.dedent(
    """
    import sys
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore
    from tests.reliability.conftest import kill_at
    from tests.store.conftest import random_corpus

    import contextlib

    path, n, after, block = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "after", sys.argv[4] == "block"
    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=path, write_batch_size=2)
    store.add_texts(["acknowledged one"], ids=["ack1"])
    store.add_embeddings(random_corpus(3, 16, seed=5), [{"content": f"ack {i}"} for i in range(3)], ids=[0, 1, 2])
    print("acknowledged", flush=True)
    kill_at(store, n, after=after)
    ids = [0, 1] + list(range(100, 105))
    with store.atomic() if block else contextlib.nullcontext():
        store.add_embeddings(random_corpus(7, 16, seed=6), [{"content": f"new {i}"} for i in ids], ids=ids)
        if block:
            store.add_texts(["also new"], ids=[2])
    print("returned", flush=True)
    """
)


@pytest.mark.parametrize(
    ("n", "after", "block"),
    [
        (0, True, False),
        (1, False, False),
        (1, True, False),
        (2, True, False),
        (4, True, False),
        (5, True, False),
        (1, True, True),
        (6, True, True),
        (8, True, True),
    ],
)
def test_a_process_killed_mid_call_keeps_acknowledged_calls_and_nothing_of_the_interrupted_one(
    tmp_path: Path, n: int, after: bool, block: bool
) -> None:
    # requests of the interrupted call: Snapshot, one Upsert per batch of 2 (4 batches), Finish = requests 0..5;
    # in a block (two calls then the block's commit): Snapshot, 4 Upserts, Snapshot, Upsert, Finish = 0..7
    path = tmp_path / "db"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(n), "after" if after else "before", "block" if block else ""],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    assert child.stdout.split() == ["acknowledged"]
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=path) as store:
        assert sorted(r.id for r in store.scroll()) == ["0", "1", "2", "ack1"]
        assert [r.content for r in store.get(["0", "1", "2"])] == ["ack 0", "ack 1", "ack 2"]
        for got, want in zip(store.get_vectors(["0", "1", "2"]), random_corpus(3, 16, seed=5), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)
    assert not (path / "multivec" / UNDO_DIR).exists() or not list((path / "multivec" / UNDO_DIR).iterdir())


def test_a_write_cut_off_by_a_takeover_is_taken_back_and_never_undoes_later_writes(tmp_path: Path) -> None:
    first = _open("edge", tmp_path, write_batch_size=2)
    _seed(first)
    before = state(first, QUERY)
    reached, go = threading.Event(), threading.Event()
    real = first._send
    sent: list[str] = []

    def send(request: object) -> object:
        sent.append(type(request).__name__)
        if len(sent) == 3:  # Snapshot and one Upsert are done: wait here while another handle takes over
            reached.set()
            go.wait(60)
        return real(request)

    first._send = send  # type: ignore[method-assign]
    errors: list[BaseException] = []
    vectors, payloads, ids = _call(4, 2)

    def write() -> None:
        try:
            first.add_embeddings(vectors, payloads, ids)
        except BaseException as err:
            errors.append(err)

    writer = threading.Thread(target=write)
    writer.start()
    assert reached.wait(60)
    second = _open("edge", tmp_path)  # takes the directory over: the cut-off write is handed to this open
    go.set()
    writer.join(60)
    assert len(errors) == 1 and isinstance(errors[0], StoreError), errors
    assert state(second, QUERY) == before  # taken back at this open
    second.add_texts(["newer"], ids=[0])  # a later, acknowledged write of an id the cut-off write touched
    after = state(second, QUERY)
    second.close()
    with _open("edge", tmp_path) as third:
        assert state(third, QUERY) == after


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_mixed_modalities_and_several_pdfs_are_one_transaction(backend: str, tmp_path: Path) -> None:
    from PIL import Image

    from multivec.items import Item
    from multivec.testing import write_text_pdf

    with _open(backend, tmp_path, write_batch_size=2) as store:
        _seed(store)
        before = state(store, QUERY)
        documents = [
            Item.text("a text", id="t1"),
            Item.image(Image.new("RGB", (8, 8), "red"), id="i1"),
            Item.text("more text", id="t2"),
        ]
        sent = fail_at(store, 4, ERRORS["engine"])  # the second batch's write, after the first one was written
        with pytest.raises(StoreError, match="injected"):
            store.add_items(documents)
        heal(store)
        assert sent[:4] == ["EmbedDocuments", "EmbedImages", "Snapshot", "Upsert"]
        assert state(store, QUERY) == before
        pdfs = [write_text_pdf(tmp_path / f"{n}.pdf", [f"page {n}.1", f"page {n}.2"]) for n in range(3)]
        sent = fail_at(store, 6, ERRORS["os"])  # while the third PDF is embedded, two are written
        with pytest.raises(OSError, match="injected"):
            store.add_pdfs(pdfs, dpi=30)
        heal(store)
        assert sent.count("Upsert") == 2 and state(store, QUERY) == before
        assert len(store.add_pdfs(pdfs, dpi=30)) == 6
