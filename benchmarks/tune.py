"""Does a limit tuned on pseudo-queries hold on real queries? The recall tuner on Cranfield, real vectors.

Cranfield (1400 documents, 225 queries) embedded token by token with all-MiniLM-L6-v2 (benchmarks/store.py's
``cranfield()``: its cache and embedding code, imported), stored in the embedded store (qdrant-edge). For each
target recall (0.95 and 0.99, k=10):

1. ``store.tune(target_recall, k=10, sample=200)``: pseudo-queries made from stored documents, no real query seen;
   its wall time, the chosen ``prefetch_limit``, the recall it measured on the pseudo-queries;
2. recall@10 against exact MaxSim on the **225 real queries**, at the tuned limit and at the default (100), and the
   query latency p50 of both (interleaved query by query, same run, so the box's noise hits both alike).

It also prints the real queries' recall along the whole ladder: the limit an oracle tuned on the real queries would
choose, to compare with the pseudo-query choice. With ``--pooling G`` the store is built with ``token_pooling=G``
and the tuner also chooses ``pooled_limit``.

Run: ``python benchmarks/tune.py`` (about a minute plus the one-off Cranfield embedding); ``--json out.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import K, cranfield, recall  # benchmarks/store.py: the corpus and its cache

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.store.store import DEFAULT_POOLED_LIMIT, DEFAULT_PREFETCH_LIMIT
from multivec.store.tuning import ladder


def ids(store: MultiVectorStore, queries: list[np.ndarray], **options: Any) -> list[list[str]]:
    return [[h.id for h in store.search(q, k=K, **options)] for q in queries]


def latencies(
    store: MultiVectorStore, queries: list[np.ndarray], settings: list[dict[str, Any]], rounds: int
) -> list[float]:
    """p50 ms of each setting, the settings interleaved query by query."""
    times: list[list[float]] = [[] for _ in settings]
    for _ in range(rounds):
        for q in queries:
            for i, options in enumerate(settings):
                start = time.perf_counter()
                store.search(q, k=K, **options)
                times[i].append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="0.95,0.99", help="target recalls (default: %(default)s)")
    parser.add_argument("--sample", type=int, default=200, help="pseudo-queries (default: %(default)s)")
    parser.add_argument("--pooling", type=int, default=None, help="token_pooling of the store (default: none)")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over the 225 queries")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    corpus = cranfield()
    queries = corpus.queries
    root = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    out: dict[str, Any] = {"corpus": "cranfield", "docs": len(corpus.docs), "queries": len(queries), "k": K}
    try:
        store = MultiVectorStore(
            DeterministicFakeMultiVectorEmbedding(dim=corpus.dim), path=root, token_pooling=args.pooling
        )
        store.add_embeddings(corpus.docs, ids=list(range(len(corpus.docs))))
        store.optimize()
        start = time.perf_counter()
        exact = ids(store, queries, exact=True)
        exact_ms = (time.perf_counter() - start) * 1000 / len(queries)
        out["exact_mean_ms"] = exact_ms
        pooled = {} if args.pooling is None else {"pooled_limit": DEFAULT_POOLED_LIMIT}

        # the oracle: recall on the real queries along the ladder (at pooled_limit = prefetch: two-stage results)
        oracle = []
        for limit in ladder(K, len(corpus.docs)):
            found = ids(store, queries, prefetch_limit=limit)
            oracle.append({"prefetch_limit": limit, "real_recall": recall(found, exact)})
            if oracle[-1]["real_recall"] >= 0.999:
                break
        out["real_query_ladder"] = oracle
        print(f"Cranfield: {len(corpus.docs)} docs, {len(queries)} real queries, MiniLM tokens ({corpus.dim}-d), k={K}")
        print(
            "real-query recall@10 along the ladder (two-stage): "
            + ", ".join(f"{row['prefetch_limit']}: {row['real_recall']:.3f}" for row in oracle)
        )

        default = {"prefetch_limit": DEFAULT_PREFETCH_LIMIT, **pooled}
        default_recall = recall(ids(store, queries, **default), exact)
        rows: list[dict[str, Any]] = []
        for target in (float(t) for t in args.targets.split(",")):
            result = store.tune(target_recall=target, k=K, sample=args.sample)
            tuned = {"prefetch_limit": result.prefetch_limit}
            if result.pooled_limit is not None:
                tuned["pooled_limit"] = result.pooled_limit
            tuned_recall = recall(ids(store, queries, **tuned), exact)
            p50_tuned, p50_default = latencies(store, queries, [tuned, default], args.rounds)
            oracle_limit = next((r["prefetch_limit"] for r in oracle if r["real_recall"] >= target), None)
            rows.append(
                {
                    "target": target,
                    "tune_seconds": result.seconds,
                    "tuned": tuned,
                    "pseudo_recall": result.recall,
                    "settings_tried": len(result.curve),
                    "searches": {"exact": result.queries, "staged": sum(p.queries for p in result.curve)},
                    "curve": [asdict(p) for p in result.curve],
                    "real_recall_tuned": tuned_recall,
                    "real_recall_default": default_recall,
                    "oracle_prefetch_limit": oracle_limit,
                    "p50_ms_tuned": p50_tuned,
                    "p50_ms_default": p50_default,
                    "p50_ratio_tuned_over_default": p50_tuned / p50_default,
                    "met_on_real_queries": tuned_recall >= target,
                }
            )
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["results"] = rows

    header = (
        f"{'target':>6}  {'tune s':>6}  {'tuned limits':<24} {'pseudo R':>8}  {'real R tuned':>12}  "
        f"{'real R @100':>11}  {'oracle':>6}  {'p50 tuned':>9}  {'p50 @100':>8}  {'ratio':>5}"
    )
    print(header)
    for r in rows:
        limits = ", ".join(f"{key}={value}" for key, value in r["tuned"].items())
        print(
            f"{r['target']:>6.2f}  {r['tune_seconds']:>6.2f}  {limits:<24} {r['pseudo_recall']:>8.3f}  "
            f"{r['real_recall_tuned']:>12.3f}  {r['real_recall_default']:>11.3f}  {r['oracle_prefetch_limit']!s:>6}  "
            f"{r['p50_ms_tuned']:>7.2f}ms  {r['p50_ms_default']:>6.2f}ms  {r['p50_ratio_tuned_over_default']:>5.2f}"
        )
    print(f"exact search: {out['exact_mean_ms']:.1f} ms a query (mean over the 225, same run)")
    for r in rows:
        n = r["searches"]
        model = (n["exact"] * out["exact_mean_ms"] + n["staged"] * r["p50_ms_tuned"]) / 1000
        print(
            f"target {r['target']}: tuning ran {n['exact']} exact + {n['staged']} staged searches "
            f"(~{model:.0f} s at this run's latencies; took {r['tune_seconds']:.0f} s); curve: "
            + ", ".join(f"{p['prefetch_limit']}:{p['recall']:.3f}/{p['queries']}" for p in r["curve"])
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
