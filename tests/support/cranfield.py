"""The Cranfield test collection (BEIR layout) kept in the repository, for quality tests and benchmarks.

The collection lives in ``<repo>/datasets/cranfield``. Documents are the BEIR ``text`` field, which already starts
with the title.

Example::

    >>> from tests.support.cranfield import cranfield_subset, load_cranfield
    >>> full = load_cranfield()  # doctest: +SKIP
    >>> len(full.corpus), len(full.queries)  # doctest: +SKIP
    (1398, 225)
    >>> small = cranfield_subset(n_queries=20, n_docs=200)  # doctest: +SKIP
    >>> all(set(rels) <= set(small.corpus) for rels in small.qrels.values())  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cranfield", "cranfield_dir", "cranfield_subset", "load_cranfield"]


@dataclass(frozen=True)
class Cranfield:
    """A (subset of the) collection: ids map to texts; ``qrels[query_id][doc_id]`` is the graded relevance 1..4.

    ``qrels`` only names documents in ``corpus`` and only queries in ``queries`` (queries left without any judged
    document in the corpus are kept in ``queries`` but absent from ``qrels``). The dict layout is what ``ranx``'s
    ``Qrels``/``Run`` take.
    """

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def cranfield_dir() -> Path:
    """Directory of the collection; raises ``FileNotFoundError`` naming the path it looked at."""
    path = Path(__file__).resolve().parents[2] / "datasets" / "cranfield"
    if not (path / "corpus.jsonl").is_file():
        raise FileNotFoundError(f"Cranfield collection not found at {path}")
    return path


def _read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            score = int(row["score"])
            if score > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = score
    return qrels


def _restrict(corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> Cranfield:
    kept: dict[str, dict[str, int]] = {}
    for qid in queries:
        rels = {doc: score for doc, score in qrels.get(qid, {}).items() if doc in corpus}
        if rels:
            kept[qid] = rels
    return Cranfield(corpus=corpus, queries=queries, qrels=kept)


def load_cranfield(n_docs: int | None = None, n_queries: int | None = None, *, skip_empty: bool = True) -> Cranfield:
    """Load the first ``n_docs`` documents and ``n_queries`` queries in file order (all when ``None``).

    Two documents (ids 471 and 995) are empty; ``skip_empty`` (the default) leaves them out, and out of ``qrels``.
    """
    path = cranfield_dir()
    docs = _read_jsonl(path / "corpus.jsonl")
    if skip_empty:
        docs = [d for d in docs if d["text"].strip()]
    docs = docs[:n_docs]
    qs = _read_jsonl(path / "queries.jsonl")[:n_queries]
    corpus = {d["_id"]: d["text"] for d in docs}
    queries = {q["_id"]: q["text"] for q in qs}
    return _restrict(corpus, queries, _read_qrels(path / "qrels" / "test.tsv"))


def cranfield_subset(n_queries: int = 20, n_docs: int = 200) -> Cranfield:
    """A fixed, deterministic subset for quick quality tests.

    Takes the first ``n_queries`` queries (in file order) that have judged documents, every document judged
    relevant to them, then fills the corpus up to ``n_docs`` with the remaining documents in file order (the
    distractors). Chance-level nDCG@10 on the default subset is about 0.05.
    """
    full = load_cranfield()
    qids = [qid for qid in full.queries if qid in full.qrels][:n_queries]
    wanted = {doc for qid in qids for doc in full.qrels[qid]}
    for doc in full.corpus:
        if len(wanted) >= n_docs:
            break
        wanted.add(doc)
    corpus = {doc: text for doc, text in full.corpus.items() if doc in wanted}
    queries = {qid: full.queries[qid] for qid in qids}
    return _restrict(corpus, queries, full.qrels)
