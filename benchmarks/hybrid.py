"""Hybrid search (BM25 + MaxSim) against MaxSim alone on Cranfield, side by side in one run.

One embedded store holds Cranfield (offline MiniLM token vectors, the corpus and queries ``multivec eval`` uses);
every query runs, round-robin so that load hits all alike, as: BM25 alone (the lexical branch of a hybrid
request), MaxSim two-stage (the default search), exact MaxSim, hybrid with weighted RRF and DBSF over a sweep of
lexical weights (shape a: the two rankings fused), and hybrid ``rerank`` (shape b: BM25 candidates join the
first stage, MaxSim reranks). Query vectors are embedded once up front, so latencies are the search alone; p50 is
reported as a ratio to two-stage. Results: docs/hybrid.md.

Run::

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/hybrid.py [--dataset datasets/cranfield] [--json out.json]
        [--vectors cranfield-minilm.npz]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from multivec.embeddings import ColBERTEmbeddings
from multivec.evaluation import load_beir, score_runs
from multivec.store import MultiVectorStore
from multivec.store.backend import HybridQuery

WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


def configs() -> dict[str, dict[str, Any]]:
    """Name -> search options (``None``: BM25 alone)."""
    out: dict[str, dict[str, Any]] = {"two-stage": {}, "exact": {"exact": True}}
    for fusion in ("rrf", "dbsf"):
        for weight in WEIGHTS:
            out[f"hybrid {fusion} w={weight:g}"] = {"mode": "hybrid", "hybrid_fusion": fusion, "hybrid_weight": weight}
    out["hybrid rerank"] = {"mode": "hybrid", "hybrid_fusion": "rerank"}
    return out


def bm25_alone(store: MultiVectorStore, vectors: Any, text: str, k: int) -> list[tuple[str, float]]:
    """The lexical branch of a hybrid request, alone (what the fusion sees from BM25)."""
    op, _ = store._run(store._search_op(vectors, k, None, False, None, None))
    _, lexical = store._backend.execute(HybridQuery(op, text, k))
    return [(str(r.payload["id"]), r.score) for r in lexical]


def encode(
    emb: ColBERTEmbeddings, corpus: dict[str, str], queries: dict[str, str], cache: str | None
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Token vectors of the corpus (in its order) and of the queries, from ``cache`` when it holds them."""
    if cache and Path(cache).is_file():
        with np.load(cache) as stored:
            return [stored[f"d:{d}"] for d in corpus], {qid: stored[f"q:{qid}"] for qid in queries}
    started = time.perf_counter()
    docs = emb.embed_documents_batch(list(corpus.values()))
    query_vectors = {qid: emb.embed_query(text) for qid, text in queries.items()}
    print(f"encoded {len(docs)} documents and {len(queries)} queries in {time.perf_counter() - started:.0f} s")
    if cache:
        arrays = {f"d:{d}": v for d, v in zip(corpus, docs, strict=True)}
        np.savez(cache, **arrays, **{f"q:{qid}": v for qid, v in query_vectors.items()})
    return docs, query_vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[1] / "datasets" / "cranfield"))
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the queries (best-of per query)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--vectors", help="cache of the encoded corpus and queries (.npz): read if it exists, else written"
    )
    args = parser.parse_args()

    data = load_beir(args.dataset)
    queries = data.judged_queries()
    emb = ColBERTEmbeddings(device="cpu")
    doc_ids = list(data.corpus)
    doc_vectors, query_vectors = encode(emb, data.corpus, queries, args.vectors)

    runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in ["bm25", *configs()]}
    times: dict[str, dict[str, float]] = {name: {} for name in runs}
    with MultiVectorStore(emb, collection_name="hybrid-bench") as store:
        store.add_embeddings(doc_vectors, [{"content": data.corpus[d]} for d in doc_ids], ids=doc_ids)
        store.optimize()
        for options in configs().values():  # warm-up
            text = {"lexical_query": "warm up"} if options.get("mode") == "hybrid" else {}
            store.search(next(iter(query_vectors.values())), k=args.k, **text, **options)
        for _ in range(args.repeat):
            for qid, text in queries.items():
                vectors = query_vectors[qid]
                began = time.perf_counter()
                ranking = bm25_alone(store, vectors, text, args.k)
                times["bm25"][qid] = min(times["bm25"].get(qid, 1e9), time.perf_counter() - began)
                runs["bm25"][qid] = dict(ranking)
                for name, options in configs().items():
                    began = time.perf_counter()
                    lexical = {"lexical_query": text} if options.get("mode") == "hybrid" else {}
                    hits = store.search(vectors, k=args.k, **lexical, **options)
                    elapsed = time.perf_counter() - began
                    times[name][qid] = min(times[name].get(qid, 1e9), elapsed)
                    runs[name][qid] = {hit.id: hit.score for hit in hits}
        # a RAG-like k=10: two-stage against hybrid (the store's defaults) at several candidate limits, interleaved
        small_configs: dict[str, dict[str, Any]] = {"two-stage": {}}
        for limit in (30, 50, 100):
            small_configs[f"hybrid limit={limit}"] = {"mode": "hybrid", "hybrid_limit": limit}
        small: dict[str, dict[str, float]] = {name: {} for name in small_configs}
        small_runs: dict[str, dict[str, dict[str, float]]] = {name: {} for name in small_configs}
        for _ in range(args.repeat):
            for qid, text in queries.items():
                for name, options in small_configs.items():
                    lexical = {"lexical_query": text} if options else {}
                    began = time.perf_counter()
                    hits = store.search(query_vectors[qid], k=10, **lexical, **options)
                    small[name][qid] = min(small[name].get(qid, 1e9), time.perf_counter() - began)
                    small_runs[name][qid] = {hit.id: hit.score for hit in hits}
        defaults = store.hybrid

    base_p50 = statistics.median(times["two-stage"].values())
    results = []
    for name, run in runs.items():
        metrics = score_runs(data.qrels, run)
        p50 = statistics.median(times[name].values())
        results.append(
            {
                "config": name,
                **{m: round(v, 4) for m, v in metrics.items()},
                "p50_ms": round(1000 * p50, 2),
                "p50_vs_two_stage": round(p50 / base_p50, 2),
            }
        )
    width = max(len(r["config"]) for r in results)
    print(f"{'config'.ljust(width)}  nDCG@10  R@100   MRR@10  p50 ms  x two-stage")
    for r in results:
        print(
            f"{r['config'].ljust(width)}  {r['ndcg@10']:.4f}   {r['recall@100']:.4f}  {r['mrr@10']:.4f}  "
            f"{r['p50_ms']:6.2f}  {r['p50_vs_two_stage']:.2f}"
        )
    print(f"\nk=10, hybrid {defaults} but the candidate limit:")
    small_results = []
    for name, run in small_runs.items():
        metrics = score_runs(data.qrels, run, ("ndcg@10", "mrr@10"))
        p50 = statistics.median(small[name].values())
        ratio = p50 / statistics.median(small["two-stage"].values())
        small_results.append(
            {
                "config": name,
                **{m: round(v, 4) for m, v in metrics.items()},
                "p50_ms": round(1000 * p50, 2),
                "p50_vs_two_stage": round(ratio, 2),
            }
        )
        print(f"{name.ljust(width)}  {metrics['ndcg@10']:.4f}  {metrics['mrr@10']:.4f}  {1000 * p50:6.2f}  {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "dataset": data.name,
                    "k": args.k,
                    "results": results,
                    "k10": small_results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
