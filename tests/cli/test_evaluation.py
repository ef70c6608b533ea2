"""multivec.evaluation: the BEIR loader, subsets, ranx scoring and an end-to-end evaluation on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.evaluation import BeirDataset, evaluate, load_beir, score_runs
from tests.support.cranfield import cranfield_dir


def _write_beir(root: Path, corpus: list[dict[str, str]], queries: list[dict[str, str]], qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus) + "\n")
    (root / "queries.jsonl").write_text("\n".join(json.dumps(row) for row in queries) + "\n")
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return _write_beir(
        tmp_path / "toy",
        corpus=[
            {"_id": "d1", "title": "Apples", "text": "red apples and green pears"},
            {"_id": "d2", "title": "Cars", "text": "blue sports cars race"},
            {"_id": "d3", "title": "Empty", "text": ""},
            {"_id": "d4", "title": "Boats", "text": "sail boats on the lake"},
        ],
        queries=[
            {"_id": "q1", "text": "red apples"},
            {"_id": "q2", "text": "sports cars"},
            {"_id": "q3", "text": "unjudged query"},
        ],
        qrels="query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\nq2\td4\t0\n",
    )


def test_load_beir_reads_the_layout(toy: Path) -> None:
    data = load_beir(toy)
    assert data.name == "toy"
    assert data.corpus == {  # title + text, as BEIR builds it; d3 has a title only
        "d1": "Apples red apples and green pears",
        "d2": "Cars blue sports cars race",
        "d3": "Empty",
        "d4": "Boats sail boats on the lake",
    }
    assert data.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1, "d4": 0}}
    assert list(data.judged_queries()) == ["q1", "q2"]  # q3 has no judgement
    text_only = load_beir(toy, title=False).corpus
    assert text_only == {
        "d1": "red apples and green pears",
        "d2": "blue sports cars race",
        "d4": "sail boats on the lake",
    }


def test_load_beir_rejects_broken_folders(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        load_beir(tmp_path / "absent")
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(InvalidInputError, match=r"test\.tsv:2 needs query-id, corpus-id, integer score"):
        load_beir(toy)
    (toy / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{not json\n')
    with pytest.raises(InvalidInputError, match=r"corpus\.jsonl:2 is not valid JSON"):
        load_beir(toy)
    with pytest.raises(InvalidInputError, match=r"qrels/dev\.tsv is missing"):
        load_beir(toy, split="dev")


def test_subset_keeps_judged_documents_and_fills_up_in_file_order() -> None:
    data = BeirDataset(
        "d",
        corpus={f"d{i}": f"text {i}" for i in range(10)},
        queries={"q1": "a", "q2": "b", "q3": "c"},
        qrels={"q1": {"d7": 1}, "q2": {"d9": 2, "d1": 0}, "q3": {"d3": 1}},
    )
    small = data.subset(n_queries=2, n_docs=5)
    assert list(small.queries) == ["q1", "q2"]
    assert set(small.qrels) == {"q1", "q2"}
    assert list(small.corpus) == ["d0", "d1", "d2", "d7", "d9"]  # judged d1, d7, d9 + the first two others
    assert small.name == "d[2q/5d]"


def test_score_runs_uses_ranx_metrics() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    perfect = score_runs(qrels, {"q1": {"a": 2.0, "x": 1.0}, "q2": {"b": 2.0}})
    assert perfect == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    second = score_runs(qrels, {"q1": {"x": 2.0, "a": 1.0}, "q2": {}})  # q2 found nothing: it scores 0
    assert second["mrr@10"] == pytest.approx(0.25)
    assert second["recall@100"] == pytest.approx(0.5)


def test_evaluate_on_a_real_store_with_the_fake_embedder(toy: Path) -> None:
    result = evaluate(DeterministicFakeMultiVectorEmbedding(dim=32), load_beir(toy, title=False), exact=True, k=10)
    assert result.metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert (result.n_docs, result.n_queries, result.mode, result.k) == (3, 2, "exact", 10)
    assert len(result.query_latencies) == 2 and result.index_seconds > 0
    table = result.table()
    assert "ndcg@10" in table and "query_p95_ms" in table
    with pytest.raises(InvalidInputError, match="k must be"):
        evaluate(DeterministicFakeMultiVectorEmbedding(dim=32), load_beir(toy), k=0)


def test_cranfield_loads_as_documented() -> None:
    data = load_beir(cranfield_dir())
    assert len(data.corpus) == 1398  # 1,400 abstracts, two of them without title or text
    assert len(data.judged_queries()) == 225
    assert sum(len(grades) for grades in data.qrels.values()) == 1612
