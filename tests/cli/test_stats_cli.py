"""``multivec stats``: a store's size and settings, as a table or JSON, without its embedding model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore


def build(store_dir: Path, collection: str = "multivec", n: int = 50) -> None:
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((12, 16)).astype(np.float32) for _ in range(n)]
    emb = DeterministicFakeMultiVectorEmbedding(dim=16)
    with MultiVectorStore(emb, collection, path=store_dir, token_pooling=4, prefetch_limit=60) as store:
        store.add_embeddings(docs)


def test_json_reports_the_store_as_it_is(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    build(tmp_path / "store", "papers", n=50)
    code, out, err = cli("stats", "--store", tmp_path / "store", "--collection", "papers", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["records"], data["collection"], data["backend"]) == (50, "papers", "edge")
    assert (data["dim"], data["datatype"], data["token_pooling"], data["model_name"]) == (
        16,
        "float32",
        4,
        "deterministic-fake",
    )
    assert data["disk_bytes"] == sum(data["disk_by_component"].values()) > 0
    assert {"vectors.multivector", "vectors.pooled_tokens", "wal", "multivec"} <= set(data["disk_by_component"])
    assert data["disk_by_component"]["vectors.multivector"] >= 50 * 12 * 16 * 4
    assert 0 < data["ram_bytes_estimate"] < data["disk_bytes"]
    assert data["tuning"] is None and data["embedding_cache"] is None


def test_table_names_every_setting(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    build(tmp_path / "store")
    code, out, _ = cli("stats", "--store", tmp_path / "store")
    assert code == 0
    lines = {line.split(":")[0].strip(): line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    assert lines["records"] == "50" and lines["token_pooling"] == "4" and lines["datatype"] == "float32"
    assert lines["tuning"] == "not tuned"
    assert lines["hybrid"] == "dbsf fusion, lexical weight 0.3, 30 per branch"
    assert lines["disk"].endswith("KiB") or lines["disk"].endswith("MiB")
    assert "vectors.multivector" in out and "RAM estimate" in out


def test_a_tuned_store_shows_its_tuning(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    build(tmp_path / "store", n=80)
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path / "store") as store:
        result = store.tune(target_recall=0.8, sample=10, k=3)
    code, out, err = cli("stats", "--store", tmp_path / "store", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["tuning"]["k"] == 3 and data["prefetch_limit"] == data["tuning"]["prefetch_limit"]
    assert data["prefetch_limit"] == result.prefetch_limit
    code, out, _ = cli("stats", "--store", tmp_path / "store")
    assert f"recall@3 {result.recall:.3f}" in out


def test_a_missing_collection_exits_2(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    build(tmp_path / "store")
    code, out, err = cli("stats", "--store", tmp_path / "store", "--collection", "nope")
    assert code == 2 and out == ""
    assert "no collection 'nope'" in err
