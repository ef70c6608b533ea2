"""The shared tiny-model fixtures build loadable checkpoints, and the Cranfield helpers read the collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multivec.testing.tiny_models import build_tiny_colpali
from tests.support.cranfield import cranfield_subset, load_cranfield


@pytest.mark.parametrize(
    ("fixture", "architecture"),
    [
        ("tiny_colpali_dir", "ColPali"),
        ("tiny_colqwen2_dir", "ColQwen2"),
        ("tiny_bipali_dir", "BiPali"),
        ("minilm_colbert_dir", "HF_ColBERT"),
    ],
)
def test_tiny_model_dirs_have_the_expected_architecture(
    request: pytest.FixtureRequest, fixture: str, architecture: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == [architecture]
    if architecture != "HF_ColBERT":
        assert "vision_config" in config  # what Infinity uses to pick its vision engine


def test_builders_are_deterministic_and_idempotent(tiny_colpali_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_colpali(tmp_path / "again")
    assert (again / "model.safetensors").read_bytes() == (tiny_colpali_dir / "model.safetensors").read_bytes()
    stamp = (again / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_colpali(again) == again
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt


def test_minilm_dir_is_the_offline_bert(minilm_dir: Path) -> None:
    assert json.loads((minilm_dir / "config.json").read_text())["model_type"] == "bert"


def test_cranfield_full_and_subset() -> None:
    full = load_cranfield()
    assert (len(full.corpus), len(full.queries)) == (1398, 225)
    assert len(load_cranfield(skip_empty=False).corpus) == 1400
    assert sum(len(r) for r in full.qrels.values()) > 1500
    small = cranfield_subset(n_queries=20, n_docs=200)
    assert len(small.corpus) == 200 and len(small.queries) == 20 and set(small.qrels) == set(small.queries)
    assert all(set(rels) <= set(small.corpus) for rels in small.qrels.values())
    assert cranfield_subset(n_queries=20, n_docs=200) == small
    head = load_cranfield(n_docs=10, n_queries=5)
    assert list(head.corpus) == [str(i) for i in range(1, 11)]
    assert all(set(rels) <= set(head.corpus) for rels in head.qrels.values())
