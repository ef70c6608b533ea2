"""Retrieval quality on BEIR-layout datasets: nDCG@10, Recall@100 and MRR@10 (computed by ranx) plus timings.

A BEIR dataset is a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``,
``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score`` with a header line). :func:`evaluate`
builds a temporary embedded store, adds the corpus, runs every judged query and scores the rankings::

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> data = BeirDataset(
    ...     name="toy",
    ...     corpus={"d1": "red apples and pears", "d2": "blue sports cars"},
    ...     queries={"q1": "apples"},
    ...     qrels={"q1": {"d1": 1}},
    ... )
    >>> result = evaluate(DeterministicFakeMultiVectorEmbedding(dim=32), data, exact=True)  # doctest: +SKIP
    >>> result.metrics["ndcg@10"]  # doctest: +SKIP
    1.0

The Cranfield collection kept in the repository (``datasets/cranfield``) with the offline MiniLM ColBERT encoder
reproduces nDCG@10 ≈ 0.381 in exact mode (``multivec eval datasets/cranfield --exact``: 0.3807).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multivec._progress import tqdm
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import InvalidInputError, MissingDependencyError

__all__ = ["DEFAULT_METRICS", "BeirDataset", "EvalResult", "evaluate", "load_beir", "score_runs"]

#: ranx metric names reported by default.
DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass
class BeirDataset:
    """A retrieval test collection: document texts, query texts and graded relevance judgements.

    ``corpus`` maps document id → text (title and body joined by :func:`load_beir`), ``queries`` query id → text,
    ``qrels`` query id → {document id: relevance grade}.
    """

    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def judged_queries(self) -> dict[str, str]:
        """The queries that have at least one positive judgement (the ones BEIR evaluates), in file order."""
        return {qid: text for qid, text in self.queries.items() if any(g > 0 for g in self.qrels.get(qid, {}).values())}

    def subset(self, n_queries: int | None = None, n_docs: int | None = None) -> BeirDataset:
        """A smaller deterministic copy: the first ``n_queries`` judged queries, and a corpus of every document
        judged for them plus the first other documents in file order up to ``n_docs`` in all."""
        queries = dict(list(self.judged_queries().items())[:n_queries])
        qrels = {qid: self.qrels[qid] for qid in queries}
        judged = {doc for grades in qrels.values() for doc in grades}
        others = [doc for doc in self.corpus if doc not in judged]
        limit = n_docs if n_docs is not None else len(self.corpus)
        keep_set = (judged & self.corpus.keys()) | set(others[: max(0, limit - len(judged & self.corpus.keys()))])
        corpus = {doc: text for doc, text in self.corpus.items() if doc in keep_set}
        return BeirDataset(f"{self.name}[{len(queries)}q/{len(corpus)}d]", corpus, queries, qrels)


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"{path}:{number} is not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise InvalidInputError(f"{path}:{number} has no '_id' field; expected BEIR's JSONL layout")
            yield number, row


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInputError(
            f"{path} is missing; a BEIR dataset folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
        )
    return path


def load_beir(path: str | Path, *, split: str = "test", title: bool = True) -> BeirDataset:
    """Load a BEIR-layout folder.

    Document text is ``title + " " + text``, as BEIR's own evaluation builds it (``title=False``: the ``text`` field
    alone). Documents with no text are dropped.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"{str(root)!r} is not a folder; pass a BEIR dataset folder")
    corpus_file, queries_file = _require(root / "corpus.jsonl"), _require(root / "queries.jsonl")
    qrels_file = _require(root / "qrels" / f"{split}.tsv")
    corpus: dict[str, str] = {}
    for _, row in _jsonl(corpus_file):
        parts = [row.get("title") or "", row.get("text") or ""] if title else [row.get("text") or ""]
        text = " ".join(p.strip() for p in parts if p and p.strip())
        if text:
            corpus[str(row["_id"])] = text
    queries = {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(queries_file)}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, cells in enumerate(reader, 1):
            if number == 1 and cells and not cells[-1].lstrip("-").isdigit():
                continue  # header
            if len(cells) < 3 or not cells[2].lstrip("-").isdigit():
                raise InvalidInputError(f"{qrels_file}:{number} needs query-id, corpus-id, integer score")
            qrels.setdefault(cells[0], {})[cells[1]] = int(cells[2])
    if not corpus or not queries or not qrels:
        raise InvalidInputError(f"{str(root)!r} has an empty corpus, query set or qrels file")
    return BeirDataset(root.name, corpus, queries, qrels)


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. ``metrics`` maps ranx metric names to scores; times are in seconds."""

    dataset: str
    model: str
    mode: str
    n_docs: int
    n_queries: int
    k: int
    metrics: dict[str, float]
    index_seconds: float
    search_seconds: float
    query_latencies: list[float] = field(repr=False, default_factory=list)
    #: the store's ingest-time token pooling (``pool_factor`` store option), ``None`` for none
    pool_factor: int | None = None
    #: hybrid searches: the fusion settings used (``{"fusion", "weight", "limit"}``), else ``None``
    hybrid: dict[str, Any] | None = None

    @property
    def docs_per_second(self) -> float:
        return self.n_docs / self.index_seconds if self.index_seconds else float("inf")

    def latency_ms(self, quantile: float) -> float:
        """Query latency (embedding + search) at ``quantile`` in milliseconds."""
        if not self.query_latencies:
            return 0.0
        ordered = sorted(self.query_latencies)
        return 1000 * ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "mode": self.mode,
            **({"pool_factor": self.pool_factor} if self.pool_factor else {}),
            **({f"hybrid_{key}": value for key, value in self.hybrid.items()} if self.hybrid else {}),
            "docs": self.n_docs,
            "queries": self.n_queries,
            "k": self.k,
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "index_s": round(self.index_seconds, 2),
            "docs_per_s": round(self.docs_per_second, 1),
            "query_p50_ms": round(self.latency_ms(0.5), 1),
            "query_p95_ms": round(self.latency_ms(0.95), 1),
        }

    def table(self) -> str:
        """A two-column text table of the results."""
        rows = [(name, str(value)) for name, value in self.as_dict().items()]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)

    def __str__(self) -> str:
        return self.table()


def _ranx() -> Any:
    try:
        import ranx
    except ImportError as err:
        raise MissingDependencyError("Retrieval evaluation", "eval", missing="ranx") from err
    return ranx


def score_runs(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], metrics: tuple[str, ...] = DEFAULT_METRICS
) -> dict[str, float]:
    """ranx scores of ``run`` (query id → {document id: score}) against ``qrels``, averaged over queries."""
    ranx = _ranx()
    judged = {qid: grades for qid, grades in qrels.items() if qid in run}
    # ranx rejects queries with an empty ranking; such a query scores 0 on every metric, as it should.
    runs = {qid: (ranking or {"\x00none": 0.0}) for qid, ranking in run.items()}
    scores = ranx.evaluate(ranx.Qrels(judged), ranx.Run(runs), list(metrics), make_comparable=True)
    if isinstance(scores, float):
        scores = {metrics[0]: scores}
    return {name: float(value) for name, value in scores.items()}


def evaluate(
    embedding: MultiVectorBaseEmbedding,
    dataset: BeirDataset,
    *,
    exact: bool = False,
    k: int = 100,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    prefetch_limit: int | None = None,
    show_progress: bool = False,
    mode: str = "maxsim",
    **store_options: Any,
) -> EvalResult:
    """Index ``dataset.corpus`` with ``embedding`` in a temporary embedded store, run every judged query (top ``k``;
    exact MaxSim with ``exact=True``, else the two-stage search; ``mode="hybrid"``: BM25 fused with it, see
    :mod:`multivec.store.hybrid`) and score the rankings with ranx.

    ``store_options`` go to :class:`~multivec.store.MultiVectorStore` (``hybrid_weight=``, ``hybrid_fusion=``
    set the hybrid defaults). Query latency includes embedding the query.
    """
    from multivec.store import MultiVectorStore
    from multivec.store.hybrid import check_mode

    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    check_mode(mode)
    queries = dataset.judged_queries()
    doc_ids = list(dataset.corpus)
    with MultiVectorStore(
        embedding, collection_name="beir-eval", show_progress=show_progress, **store_options
    ) as store:
        started = time.perf_counter()
        store.add_texts([dataset.corpus[doc] for doc in doc_ids], ids=doc_ids)
        index_seconds = time.perf_counter() - started
        run: dict[str, dict[str, float]] = {}
        latencies = []
        for qid, text in tqdm(queries.items(), desc="Searching", unit="query", disable=not show_progress):
            began = time.perf_counter()
            hits = store.search(text, k=k, exact=exact, prefetch_limit=prefetch_limit, mode=mode)
            latencies.append(time.perf_counter() - began)
            run[qid] = {hit.id: hit.score for hit in hits}
        pool_factor = store.pool_factor
        settings = store.hybrid if mode == "hybrid" else None
    name = "exact" if exact else "two-stage"
    return EvalResult(
        dataset=dataset.name,
        model=embedding.model_name,
        mode=name if mode == "maxsim" else f"hybrid ({name} MaxSim)",
        n_docs=len(doc_ids),
        n_queries=len(queries),
        k=k,
        metrics=score_runs(dataset.qrels, run, metrics),
        index_seconds=index_seconds,
        search_seconds=math.fsum(latencies),
        query_latencies=latencies,
        pool_factor=pool_factor,
        hybrid=None if settings is None else settings.as_dict(),
    )
