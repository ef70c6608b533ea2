"""``--pool-factor N`` on ``multivec index`` and ``multivec eval`` (ingest-time token pooling)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore

Cli = Callable[..., tuple[int, str, str]]
TEXT = "the wing tip stalls first on a swept wing because the outboard sections carry more lift than the root"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "stall.md").write_text(TEXT)
    return folder


def test_index_creates_a_pooled_store_and_keeps_its_factor(cli: Cli, docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, _, err = cli("index", docs, "--store", store, "--embedder", "fake", "--pool-factor", "3", "--quiet")
    assert code == 0, err
    fake = DeterministicFakeMultiVectorEmbedding()  # the one `--embedder fake` builds
    with MultiVectorStore(fake, path=store) as opened:
        assert opened.pool_factor == 3
        [rows] = opened.get_vectors([r.id for r in opened.scroll()])
        assert len(rows) == len(fake.embed_text(TEXT)) // 3
    (docs / "more.md").write_text("laminar flow reduces skin friction drag")
    assert cli("index", docs, "--store", store, "--quiet")[0] == 0  # left out: the store's own
    code, _, err = cli("index", docs, "--store", store, "--pool-factor", "2", "--quiet")
    assert code == 2
    assert "pool_factor=3 but pool_factor=2" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["1", "0", "two"])
def test_bad_pool_factor_is_a_usage_error(cli: Cli, docs: Path, tmp_path: Path, bad: str) -> None:
    code, _, err = cli("index", docs, "--store", tmp_path / "store", "--embedder", "fake", "--pool-factor", bad)
    assert code == 2
    assert "--pool-factor" in err and "integer >= 2" in err
    assert not (tmp_path / "store").exists()


def test_eval_with_pool_factor(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "toy"
    (data / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Apples", "text": "red apples and green pears grow in the orchard by the river"},
        {"_id": "d2", "title": "Cars", "text": "blue sports cars race around the track on sunday afternoons"},
    ]
    (data / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus) + "\n")
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "sports cars race"}) + "\n")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    code, out, err = cli("eval", data, "--embedder", "fake", "--pool-factor", "2", "--exact", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["pool_factor"] == 2
    assert result["ndcg@10"] == pytest.approx(1.0)
    code, out, _ = cli("eval", data, "--embedder", "fake", "--exact", "--json", "--quiet")
    assert code == 0 and "pool_factor" not in json.loads(out)
