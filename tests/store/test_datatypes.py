"""multivector_datatype: turbo8 (8-bit) storage next to float32/float16, refusals, and the reopen rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError
from multivec.scoring import maxsim
from multivec.store import MultiVectorStore
from tests.store.conftest import random_corpus

DIM = 64


def _store(path: Path, **options: object) -> MultiVectorStore:
    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=path, **options)  # type: ignore[arg-type]


def _segment_datatypes(path: Path) -> set[str]:
    found = set()
    for file in (path / "multivec" / "shard" / "segments").glob("*/segment.json"):
        found.add(json.loads(file.read_text())["config"]["vector_data"]["multivector"]["datatype"])
    return found


def test_turbo8_round_trip_within_quantisation_error(tmp_path: Path) -> None:
    docs = random_corpus(30, DIM, seed=1, min_len=4, max_len=20)
    with _store(tmp_path, multivector_datatype="turbo8") as store:
        store.add_embeddings(docs, ids=[str(i) for i in range(len(docs))])
        store.optimize()
        assert store.multivector_datatype == "turbo8"
        assert _segment_datatypes(tmp_path) == {"turbo8"}
        back = store.get_vectors([str(i) for i in range(len(docs))])
        for stored, original in zip(back, docs, strict=True):
            assert stored.shape == original.shape
            assert float(np.abs(stored - original).max()) < 0.02  # 8 bits a value, not exact
            assert float(np.abs(stored - original).max()) > 0  # and really quantised, not float32
        assert store.verify().ok


def test_turbo8_rankings_agree_with_float32_on_clear_margins(tmp_path: Path) -> None:
    docs = random_corpus(60, DIM, seed=2, min_len=8, max_len=16)
    rng = np.random.default_rng(5)
    queries = []
    for doc in range(0, 60, 4):  # a few of a document's tokens, noised: that document wins by a wide margin
        picks = docs[doc][rng.integers(0, len(docs[doc]), 6)] + 0.1 * rng.standard_normal((6, DIM))
        queries.append((str(doc), picks.astype(np.float32)))
    stores = {dt: _store(tmp_path / dt, multivector_datatype=dt) for dt in ("float32", "turbo8")}
    try:
        for store in stores.values():
            store.add_embeddings(docs, ids=[str(i) for i in range(len(docs))])
        for target, query in queries:
            exact = {dt: s.search(query, k=3, exact=True) for dt, s in stores.items()}
            staged = stores["turbo8"].search(query, k=3)
            assert exact["float32"][0].id == exact["turbo8"][0].id == staged[0].id == target
            normed = query / np.linalg.norm(query, axis=1, keepdims=True)
            want = maxsim(normed, docs[int(target)])
            assert exact["float32"][0].score == pytest.approx(want, abs=1e-3)
            assert exact["turbo8"][0].score == pytest.approx(want, abs=0.05)  # the quantisation error, summed
    finally:
        for store in stores.values():
            store.close()


def test_turbo8_refused_in_local_mode() -> None:
    with pytest.raises(ConfigurationError, match=r"turbo8.*local mode.*:memory:"):
        MultiVectorStore(
            DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:", multivector_datatype="turbo8"
        )


@pytest.mark.parametrize("bad", ["uint8", "int8", "turbo4", "FLOAT32"])
def test_unknown_datatypes_refused_naming_the_choices(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError, match=r"float16, float32, turbo8"):
        _store(tmp_path, multivector_datatype=bad)
    assert not (tmp_path / "multivec").exists()


def test_embedded_reopen_keeps_or_refuses_the_stored_datatype(tmp_path: Path) -> None:
    with _store(tmp_path, multivector_datatype="turbo8") as store:
        store.add_embeddings(random_corpus(3, DIM), ids=["a", "b", "c"])
    with _store(tmp_path) as store:  # left out: the collection's own
        assert store.multivector_datatype == "turbo8"
    with _store(tmp_path, multivector_datatype="turbo8") as store:  # the same: fine
        assert store.count() == 3
    with pytest.raises(ConfigurationError, match=r"'turbo8'.*multivector_datatype='float32'"):
        _store(tmp_path, multivector_datatype="float32")
    with _store(tmp_path / "new") as store:  # a new collection without one: float32
        assert store.multivector_datatype == "float32"


def test_server_reopen_refuses_another_datatype() -> None:
    client = QdrantClient(location=":memory:")
    embedding = DeterministicFakeMultiVectorEmbedding(dim=8)
    try:
        with MultiVectorStore(embedding, "docs", client=client, multivector_datatype="float16") as store:
            store.add_texts(["one"], ids=["1"])
        with MultiVectorStore(embedding, "docs", client=client) as store:
            assert store.multivector_datatype == "float16"
        with pytest.raises(ConfigurationError, match=r"'float16'.*multivector_datatype='float32'"):
            MultiVectorStore(embedding, "docs", client=client, multivector_datatype="float32")
    finally:
        client.close()
