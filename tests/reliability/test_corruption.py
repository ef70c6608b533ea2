"""Damaged store files never pass silently and never escape as a Rust panic.

Each case damages one file of a real store (a copy of one built once per module) the way a disk, a crash or a
careless hand would, then opens it: the open raises ``StoreCorruptedError`` naming the file or directory, or the store
opens and ``verify()`` (and ``multivec verify``) reports the problem. Which damage the engine itself catches was
measured by damaging every file of a store five ways (see the README's Reliability section).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import models

from multivec.cli.app import main
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import StoreCorruptedError
from multivec.store import MultiVectorStore
from multivec.store.integrity import verify_path
from multivec.validation import point_id
from tests.store.conftest import FakeSingleVectorEmbedding

N = 80
DIM = 16


def _fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=DIM)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    rng = np.random.default_rng(3)
    vectors = [rng.standard_normal((int(rng.integers(3, 9)), DIM)).astype(np.float32) for _ in range(N)]
    with MultiVectorStore(_fake(), path=root) as store:
        store.add_embeddings(vectors, [{"content": f"doc {i}", "metadata": {"i": i}} for i in range(N)], ids=range(N))
    return root


@pytest.fixture
def damaged(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the pristine store to damage."""
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _one(root: Path, pattern: str) -> Path:
    matches = sorted(root.glob(f"multivec/{pattern}"))
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


def _flip(path: Path) -> None:
    """XOR 16 bytes in the middle of the file's written (non-zero) data."""
    data = bytearray(path.read_bytes())
    written = np.flatnonzero(np.frombuffer(bytes(data[: 1 << 20]), dtype=np.uint8))
    offset = int(written[len(written) // 2])
    data[offset : offset + 16] = bytes(b ^ 0x5A for b in data[offset : offset + 16])
    path.write_bytes(bytes(data))


def _set_bits(path: Path) -> None:
    """Set the first 16 bytes' bits (a bitmap file: flags on the first 128 entries)."""
    data = path.read_bytes()
    path.write_bytes(b"\xff" * 16 + data[16:])


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _delete(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a store file\x00\xff" * 4)


SEGMENT = "shard/segments/*"
# (file or directory, damage): the engine panicked, opened with records missing, or blamed a lock, before
OPEN_REFUSED = [
    pytest.param(f"{SEGMENT}/vector_storage-dense/vectors/status.dat", _truncate, id="status-truncated-panic"),
    pytest.param(f"{SEGMENT}/vector_storage-multivector/deleted/status.dat", _truncate, id="deleted-status-panic"),
    pytest.param(f"{SEGMENT}/mutable_id_tracker.versions", _delete, id="id-versions-deleted-count"),
    pytest.param(f"{SEGMENT}/mutable_id_tracker.mappings", _truncate, id="id-mappings-truncated-count"),
    pytest.param(f"{SEGMENT}/version.info", _delete, id="version-deleted-count"),
    pytest.param("shard/segments", _delete, id="segments-deleted-count"),
    pytest.param("shard/wal/first-index", _garbage, id="wal-garbage-not-a-lock-error"),
    pytest.param("shard/edge_config.json", _delete, id="engine-config-deleted"),
    pytest.param(f"{SEGMENT}/segment.json", _flip, id="segment-config-flipped"),
    pytest.param("multivec.json", _delete, id="metadata-deleted"),
]


@pytest.mark.parametrize(("target", "damage"), OPEN_REFUSED)
def test_damage_the_engine_misses_or_panics_on_is_refused_at_open(
    damaged: Path, target: str, damage: Callable[[Path], None]
) -> None:
    path = _one(damaged, target)
    damage(path)
    with pytest.raises(StoreCorruptedError) as caught:
        MultiVectorStore(_fake(), path=damaged)
    assert caught.value.path is not None and caught.value.path.startswith(str(damaged / "multivec"))
    assert caught.value.path in str(caught.value)
    report = verify_path(damaged)  # `multivec verify` says the same, and does not raise
    assert not report.ok and report.records == 0 and caught.value.path in report.problems[0]


# damage the engine opens without a word, with every record there: only reading everything back shows it
VERIFY_FINDS = [
    pytest.param(f"{SEGMENT}/vector_storage-multivector/vectors/chunk_0.mmap", _flip, id="token-vectors-flipped"),
    pytest.param(f"{SEGMENT}/vector_storage-dense/deleted/flags_a.dat", _set_bits, id="pooled-vectors-flagged-deleted"),
    pytest.param(f"{SEGMENT}/vector_storage-dense/vectors/chunk_0.mmap", _flip, id="pooled-vectors-flipped"),
]


@pytest.mark.parametrize(("target", "damage"), VERIFY_FINDS)
def test_damage_that_opens_is_reported_by_verify(
    damaged: Path, target: str, damage: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    damage(_one(damaged, target))
    with MultiVectorStore(_fake(), path=damaged) as store:
        report = store.verify()
    assert not report.ok and report.records == N, report
    assert all(problem.startswith("record ") for problem in report.problems), report
    assert main(["verify", "--store", str(damaged)]) == 1
    out = capsys.readouterr().out
    assert "problem(s) found" in out and report.problems[0] in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"multivec": 1, "model_name": "deterministic-fa', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2, 3]", "JSON list, not an object"),
        (b'{"multivec": 1, "model_name": "m", "dim": "16", "multi_vector": true, "datatype": "float32"}', "'dim'"),
        (b'{"multivec": 1, "model_name": "m", "dim": 16, "multi_vector": 1, "datatype": "float32"}', "'multi_vector'"),
        (
            b'{"multivec": 1, "model_name": "m", "dim": 16, "multi_vector": true, "datatype": "int4"}',
            "unknown datatype",
        ),
        (b'{"multivec": 1, "model_name": "m", "dim": 16, "multi_vector": true}', "'datatype' is None"),
        (
            b'{"multivec": 1, "model_name": "m", "dim": 16, "multi_vector": true, "datatype": "float32", '
            b'"token_pooling": 1}',
            "'token_pooling'",
        ),
    ],
    ids=[
        "empty",
        "truncated",
        "not-utf8",
        "not-an-object",
        "dim-a-string",
        "kind-an-int",
        "unknown-datatype",
        "missing-key",
        "bad-pooling",
    ],
)
def test_a_damaged_metadata_file_is_refused_naming_it(damaged: Path, content: bytes, message: str) -> None:
    meta = damaged / "multivec" / "multivec.json"
    meta.write_bytes(content)
    engine_config = (damaged / "multivec" / "shard" / "edge_config.json").read_bytes()
    with pytest.raises(StoreCorruptedError, match=message) as caught:
        MultiVectorStore(_fake(), path=damaged)
    assert caught.value.path == str(meta)
    assert meta.read_bytes() == content  # not rewritten
    assert (damaged / "multivec" / "shard" / "edge_config.json").read_bytes() == engine_config


def test_a_metadata_file_changed_to_other_valid_values_is_caught(damaged: Path) -> None:
    meta = damaged / "multivec" / "multivec.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "model_name": "another-model"}))
    with pytest.raises(StoreCorruptedError, match="was changed after the store wrote it") as caught:
        MultiVectorStore(_fake(), path=damaged)
    assert caught.value.path == str(meta)


def test_a_damaged_ledger_is_refused_and_deleting_it_recovers(damaged: Path) -> None:
    ledger = damaged / "multivec" / "multivec.state.json"
    ledger.write_text('{"records": "many"}')
    with pytest.raises(StoreCorruptedError, match="delete it to open the store") as caught:
        MultiVectorStore(_fake(), path=damaged)
    assert caught.value.path == str(ledger)
    ledger.unlink()  # as a store made before the ledger existed: opens, and records the count again
    with MultiVectorStore(_fake(), path=damaged) as store:
        assert store.count() == N and store.verify().ok
    assert json.loads(ledger.read_text())["records"] == N


def test_a_sound_store_verifies_on_both_backends_and_from_the_command_line(
    damaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MultiVectorStore(_fake(), path=damaged, token_pooling=None) as store:
        report = store.verify()
        assert report.ok and report.records == N and report.problems == []
    with MultiVectorStore(_fake(), location=":memory:", token_pooling=2) as memory:
        memory.add_texts(["red apples", "blue cars and more words"], ids=["a", "b"])
        assert memory.verify().ok and memory.verify().records == 2
    assert main(["verify", "--store", str(damaged)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {N} records")
    assert main(["verify", "--store", str(damaged), "--collection", "missing"]) == 2
    assert not (damaged / "missing").exists()  # verify creates nothing
    with MultiVectorStore(FakeSingleVectorEmbedding(DIM), "single", path=damaged) as single:
        single.add_texts(["one", "two", "three"])
    report = verify_path(damaged, "single")  # opened with a stand-in for the single-vector embedder
    assert report.ok and report.records == 3


async def test_averify_reports_like_verify(damaged: Path) -> None:
    async with MultiVectorStore(_fake(), path=damaged) as store:
        assert (await store.averify()) == store.verify()


def test_verify_finds_records_changed_behind_the_stores_back_on_a_server_collection() -> None:
    with MultiVectorStore(_fake(), location=":memory:") as store:
        store.add_texts(["red apples", "blue cars", "green pears"], ids=["a", "b", "c"])
        client = store._backend._client  # type: ignore[attr-defined]
        client.set_payload("multivec", payload={"id": "renamed"}, points=[point_id("a")])
        client.update_vectors(
            "multivec", points=[models.PointVectors(id=point_id("b"), vector={"multivector": [[3.0] * DIM]})]
        )
        report = store.verify()
    assert report.records == 3 and len(report.problems) == 2, report
    assert f"record 'renamed' is not found under its point id {point_id('renamed')}" in report.problems
    assert any(p.startswith("record 'b': its 'multivector' vector is not normalised") for p in report.problems)
