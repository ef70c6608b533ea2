"""The embedded (qdrant-edge) store on disk: reopen, metadata checks, locking, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, DimensionMismatchError, StoreError
from multivec.store import MultiVectorStore

from .conftest import FakeSingleVectorEmbedding, random_corpus

REPO = Path(__file__).resolve().parents[2]


def _fake(dim: int = 16) -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=dim)


def test_reopen_after_close_gives_identical_data(tmp_path: Path) -> None:
    corpus = random_corpus(50, 16, seed=11)
    payloads = [{"content": f"doc {i}", "metadata": {"i": i, "tags": ["a", str(i)]}, "page": i} for i in range(50)]
    queries = random_corpus(3, 16, seed=12)
    with MultiVectorStore(_fake(), path=tmp_path, filterable_fields={"i": "integer"}) as store:
        ids = store.add_embeddings(corpus, payloads, ids=list(range(50)))
        store.delete(ids=["7"])
        before = store.scroll()
        before_hits = [store.search(q, k=10, exact=exact) for q in queries for exact in (False, True)]
    assert json.loads((tmp_path / "multivec" / "multivec.json").read_text())["dim"] == 16
    with MultiVectorStore(_fake(), path=tmp_path) as reopened:
        assert reopened.count() == 49
        assert reopened.scroll() == before
        assert [reopened.search(q, k=10, exact=exact) for q in queries for exact in (False, True)] == before_hits
        assert reopened.get(ids[:3])[2].metadata == {"i": 2, "tags": ["a", "2"]}
        assert reopened.count({"i": {"$gte": 40}}) == 10


def test_reopen_with_another_dimension_raises(tmp_path: Path) -> None:
    with MultiVectorStore(_fake(16), path=tmp_path) as store:
        store.add_texts(["x"])
    with pytest.raises(DimensionMismatchError, match="16-d"):
        MultiVectorStore(_fake(8), path=tmp_path)
    with pytest.raises(ConfigurationError, match="multi-vector collection"):
        MultiVectorStore(FakeSingleVectorEmbedding(16), path=tmp_path)
    with MultiVectorStore(_fake(8), "other", path=tmp_path) as other:  # another collection in the same path is fine
        assert other.count() == 0
    with MultiVectorStore(_fake(16), path=tmp_path) as again:  # the failed opens left it intact and unlocked
        assert again.count() == 1


def test_stored_model_name_and_datatype_survive_reopen(tmp_path: Path) -> None:
    class Renamed(DeterministicFakeMultiVectorEmbedding):
        pass

    with MultiVectorStore(_fake(), path=tmp_path, multivector_datatype="float16") as store:
        assert store.stored_model_name == "deterministic-fake"
    other = Renamed(dim=16)
    other.model_name = "another-model"
    with MultiVectorStore(other, path=tmp_path) as reopened:  # a datatype left out: the store's own
        assert reopened.stored_model_name == "deterministic-fake"  # the CLI can compare it with the embedder's
        assert reopened.multivector_datatype == "float16"  # fixed at creation (tests/store/test_datatypes.py)


def test_second_open_in_the_same_process_takes_the_store_over(tmp_path: Path) -> None:
    first = MultiVectorStore(_fake(), path=tmp_path)
    first.add_texts(["x"], ids=["x"])
    with MultiVectorStore(_fake(), path=tmp_path) as second:  # a re-run notebook cell
        assert [r.id for r in second.get(["x"])] == ["x"]
        with pytest.raises(StoreError, match="opened again in this process"):
            first.count()
        second.add_texts(["y"])
        first.close()  # still fine, and it leaves the new one alone
        assert second.count() == 2
    with MultiVectorStore(_fake(), path=tmp_path) as third:
        assert third.count() == 2


def _python(code: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return [sys.executable, "-c", textwrap.dedent(code)], env


def test_second_opener_in_another_process_is_refused(tmp_path: Path) -> None:
    with MultiVectorStore(_fake(), path=tmp_path) as store:
        store.add_texts(["x"])
        cmd, env = _python(f"""
            from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
            from multivec.errors import StoreLockedError
            from multivec.store import MultiVectorStore
            try:
                MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path={str(tmp_path)!r})
                print("opened")
            except StoreLockedError as err:
                print("locked:", err)
            """)
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert result.stdout.startswith("locked:"), result.stdout + result.stderr


def test_temporary_store_is_removed_on_close() -> None:
    store = MultiVectorStore(_fake())
    store.add_texts(["x"])
    directory = store._backend.directory  # type: ignore[attr-defined]
    assert directory.is_dir()
    store.close()
    assert not directory.parent.exists()


CHILD = """
    import sys
    import numpy as np
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=32), path=sys.argv[1], write_batch_size=16)
    for batch in range(1000):
        rng = np.random.default_rng(batch)
        vectors = [rng.standard_normal((20, 32)).astype(np.float32) for _ in range(40)]
        ids = [f"{batch}-{i}" for i in range(40)]
        store.add_embeddings(vectors, [{"content": f"{batch}-{i}", "metadata": {"batch": batch}} for i in range(40)], ids)
        print(batch, flush=True)
"""


def test_batches_that_returned_survive_sigkill(tmp_path: Path) -> None:
    cmd, env = _python(CHILD)
    child = subprocess.Popen([*cmd, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    reported = []
    assert child.stdout is not None
    for line in child.stdout:
        reported.append(int(line))
        if len(reported) == 12:
            break
    os.kill(child.pid, signal.SIGKILL)
    reported.extend(int(line) for line in child.stdout)  # batches reported between our last read and the kill
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    with MultiVectorStore(_fake(32), path=tmp_path) as store:
        for batch in reported:
            ids = [f"{batch}-{i}" for i in range(40)]
            records = store.get(ids)
            assert [r.id for r in records] == ids
            assert all(r.content == r.id and r.metadata == {"batch": batch} for r in records)
            rng = np.random.default_rng(batch)
            first = rng.standard_normal((20, 32)).astype(np.float32)
            hit = store.search(first, k=1, exact=True)[0]
            assert hit.id == f"{batch}-0" and hit.relevance == pytest.approx(1.0, abs=1e-4)
        # a batch cut off mid-write may be partly there, but nothing beyond the next batch exists
        assert store.count() <= (len(reported) + 1) * 40
