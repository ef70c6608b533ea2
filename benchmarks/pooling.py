"""Ingest-time token pooling (``pool_factor``) on Cranfield real vectors: quality, size, speed, in one run.

Vectors: the Cranfield collection embedded token by token with the offline all-MiniLM-L6-v2 (1398 documents, 225
queries, 384-d; embedded once and cached by ``benchmarks/store.py`` under ``~/.cache/multivec-ci/bench``). For
each pool factor (1 = none, then 2, 3, 4), measured side by side:

- nDCG@10 (ranx, Cranfield qrels) of exact MaxSim over the pooled documents, and of the store's two-stage search;
- recall@10 of the store's two-stage search against exact MaxSim over the same pooled documents and against exact
  MaxSim over the unpooled ones (the reference);
- stored token vectors per document; disk bytes of the embedded store per original token;
- rerank token pairs per query (query tokens x prefetch candidates x stored tokens per document, on average) and
  the two-stage p50 latency;
- pooling cost per document (``multivec.pooling.pool_documents``, one thread of work);
- ingest docs/s through the real embedded store (precomputed vectors via ``add_embeddings``, including the final
  ``optimize()``; median of ``--rounds`` interleaved rounds) and, with ``--text-docs N``, ``add_texts`` of N
  documents with the MiniLM ColBERT encoder (embedding included, what ``multivec index`` does).

With ``--prefetch 100,200,400`` it also sweeps the prefetch limit on the same stores: per factor and limit, recall@10
of the two-stage search against unpooled and against pooled exact MaxSim, nDCG@10 and the p50 as a ratio to the
unpooled store at the default limit; the ``exact`` row is the store's own exact MaxSim search, which no prefetch can
beat.

Then it applies the default rule of issue #19: a factor qualifies as a default only if its exact nDCG@10 stays
within 0.003 of unpooled exact MaxSim and its two-stage recall@10 against unpooled exact MaxSim is at least 0.95.

Run: ``python benchmarks/pooling.py`` (about 5 minutes on a quiet 2-core box), ``--factors 1,2``,
``--text-docs 0`` to skip the encoder, ``--prefetch 100,200,400``, ``--json results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import store as bench

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.evaluation import score_runs
from multivec.pooling import pool_documents
from multivec.store import MultiVectorStore
from multivec.store.store import DEFAULT_PREFETCH_LIMIT
from tests.support.cranfield import load_cranfield

K = bench.K
NDCG_TOLERANCE = 0.003
RECALL_TARGET = 0.95


def ranking(indices: list[int], doc_ids: list[str]) -> dict[str, float]:
    return {doc_ids[i]: float(len(indices) - rank) for rank, i in enumerate(indices)}


def ingest(docs: list[np.ndarray], factor: int, tmp: str | None) -> tuple[float, MultiVectorStore, Path]:
    """Seconds to add every document (precomputed vectors) and optimize; the store is returned open."""
    root = Path(tempfile.mkdtemp(prefix="bench-pool-", dir=tmp))
    store = MultiVectorStore(
        DeterministicFakeMultiVectorEmbedding(dim=docs[0].shape[1]),
        path=root,
        pool_factor=factor if factor > 1 else None,
    )
    ids = [str(i) for i in range(len(docs))]
    start = time.perf_counter()
    for a in range(0, len(docs), 500):
        store.add_embeddings(docs[a : a + 500], ids=ids[a : a + 500])
    store.optimize()
    return time.perf_counter() - start, store, root


def timed_search(
    store: MultiVectorStore, queries: list[np.ndarray], prefetch: int | None
) -> tuple[list[float], list[list[int]]]:
    """Per-query ms and top-k ids, one query at a time; ``prefetch=None`` is the store's exact MaxSim search."""
    times, found = [], []
    for q in queries:
        if prefetch is None:
            t, hits = bench.timed(lambda q=q: store.search(q, k=K, exact=True), 1)
        else:
            t, hits = bench.timed(lambda q=q: store.search(q, k=K, prefetch_limit=prefetch), 1)
        times += t
        found.append([int(h.id) for h in hits])
    return times, found


def text_ingest(texts: list[str], factors: list[int], tmp: str | None) -> dict[int, float]:
    """docs/s of ``add_texts`` with the offline MiniLM ColBERT encoder (embedding included), per factor."""
    from multivec.embeddings import ColBERTEmbeddings, offline_minilm_path

    encoder = ColBERTEmbeddings(model_name=offline_minilm_path(), device="cpu")
    encoder.embed_documents_batch(texts[:8])  # warm-up: model load, first batch
    out = {}
    for factor in factors:
        root = Path(tempfile.mkdtemp(prefix="bench-pool-text-", dir=tmp))
        with MultiVectorStore(encoder, path=root, pool_factor=factor if factor > 1 else None) as store:
            start = time.perf_counter()
            store.add_texts(texts)
            out[factor] = len(texts) / (time.perf_counter() - start)
        shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factors", default="1,2,3,4")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds (median reported)")
    parser.add_argument("--text-docs", type=int, default=100, help="documents for the add_texts ingest (0: skip)")
    parser.add_argument("--tmp", default=None, help="scratch directory for stores (default: system temp)")
    parser.add_argument(
        "--prefetch", default="", help="comma-separated prefetch limits to sweep on the same stores (and exact)"
    )
    parser.add_argument("--json", type=Path, default=bench.CACHE / "pooling-results.json")
    args = parser.parse_args(argv)
    factors = sorted({int(f) for f in args.factors.split(",")} | {1})
    sweep: list[int | None] = [int(v) for v in args.prefetch.split(",") if v]
    sweep += [None] if sweep else []
    started = time.perf_counter()
    corpus = bench.cranfield()
    data = load_cranfield()
    doc_ids = sorted(data.corpus, key=int)
    query_ids = sorted(data.queries, key=int)
    assert len(doc_ids) == len(corpus.docs) and len(query_ids) == len(corpus.queries)
    docs, queries = corpus.docs, corpus.queries
    original_tokens = corpus.tokens
    print(
        f"Cranfield: {len(docs)} docs, {original_tokens / len(docs):.1f} tokens/doc, {len(queries)} queries "
        f"({np.mean([len(q) for q in queries]):.1f} tokens), d={corpus.dim}; numpy {np.__version__}, "
        f"effective cores {bench.effective_cores():.2f}",
        flush=True,
    )
    unpooled_index = bench.NumpyMaxSim(docs)
    exact_unpooled = [unpooled_index.top(q, K) for q in queries]

    rows: dict[int, dict[str, Any]] = {}
    pooled_docs: dict[int, list[np.ndarray]] = {}
    for factor in factors:
        start = time.perf_counter()
        pooled_docs[factor] = pool_documents(docs, factor) if factor > 1 else docs
        pool_ms = (time.perf_counter() - start) * 1000 / len(docs) if factor > 1 else 0.0
        index = bench.NumpyMaxSim(pooled_docs[factor])
        exact = [index.top(q, K) for q in queries]
        run = {qid: ranking(top, doc_ids) for qid, top in zip(query_ids, exact, strict=True)}
        stored = sum(len(d) for d in pooled_docs[factor])
        rows[factor] = {
            "pool_factor": factor,
            "pool_ms_per_doc": pool_ms,
            "tokens_per_doc": stored / len(docs),
            "ndcg10_exact": score_runs(data.qrels, run, ("ndcg@10",))["ndcg@10"],
            "exact_top10_vs_unpooled": bench.recall(
                [[str(i) for i in t] for t in exact], [[str(i) for i in t] for t in exact_unpooled]
            ),
            "_exact": exact,
        }
        print(f"  pooled f={factor}: {pool_ms:.2f} ms/doc", flush=True)

    ingest_s: dict[int, list[float]] = {f: [] for f in factors}
    for round_ in range(args.rounds):  # interleaved, so that the box's load moves all factors alike
        for factor in factors if round_ % 2 == 0 else factors[::-1]:
            seconds, store, root = ingest(docs, factor, args.tmp)
            ingest_s[factor].append(seconds)
            if round_ < args.rounds - 1:
                store.close()
                shutil.rmtree(root, ignore_errors=True)
                continue
            row = rows[factor]
            store._backend._warmer.wait()
            for q in queries[:3]:
                store.search(q, k=K)
            times, found = timed_search(store, queries, DEFAULT_PREFETCH_LIMIT)
            pooled_exact = [[str(i) for i in t] for t in row["_exact"]]
            row["sweep"] = []
            for limit in sweep:
                swept_times, swept = timed_search(store, queries, limit)
                swept_str = [[str(i) for i in t] for t in swept]
                swept_run = {qid: ranking(top, doc_ids) for qid, top in zip(query_ids, swept, strict=True)}
                row["sweep"].append(
                    {
                        "prefetch": limit,
                        "p50_ms": bench.p(swept_times, 50),
                        "recall10_vs_exact_unpooled": bench.recall(
                            swept_str, [[str(i) for i in t] for t in exact_unpooled]
                        ),
                        "recall10_vs_exact_pooled": bench.recall(swept_str, pooled_exact),
                        "ndcg10": score_runs(data.qrels, swept_run, ("ndcg@10",))["ndcg@10"],
                    }
                )
            store.close()
            row["disk_bytes_per_original_token"] = bench.dir_size(root) / original_tokens
            shutil.rmtree(root, ignore_errors=True)
            as_str = [[str(i) for i in t] for t in found]
            row["two_stage_p50_ms"] = bench.p(times, 50)
            row["recall10_vs_exact_pooled"] = bench.recall(as_str, [[str(i) for i in t] for t in row.pop("_exact")])
            row["recall10_vs_exact_unpooled"] = bench.recall(as_str, [[str(i) for i in t] for t in exact_unpooled])
            two_stage_run = {qid: ranking(top, doc_ids) for qid, top in zip(query_ids, found, strict=True)}
            row["ndcg10_two_stage"] = score_runs(data.qrels, two_stage_run, ("ndcg@10",))["ndcg@10"]
        print(f"  ingest round {round_ + 1}/{args.rounds} done", flush=True)
    q_tokens = float(np.mean([len(q) for q in queries]))
    base = rows[1]
    for factor in factors:
        row = rows[factor]
        row["ingest_docs_s"] = len(docs) / statistics.median(ingest_s[factor])
        row["ingest_vs_unpooled"] = row["ingest_docs_s"] / (len(docs) / statistics.median(ingest_s[1]))
        row["rerank_pairs_per_query"] = q_tokens * DEFAULT_PREFETCH_LIMIT * row["tokens_per_doc"]
    texts = [data.corpus[d] for d in doc_ids[: args.text_docs]]
    if texts:
        for factor, rate in text_ingest(texts, factors, args.tmp).items():
            rows[factor]["text_ingest_docs_s"] = rate
        for factor in factors:
            rows[factor]["text_ingest_vs_unpooled"] = rows[factor]["text_ingest_docs_s"] / base["text_ingest_docs_s"]

    print(
        "\n| pool_factor | tokens/doc | nDCG@10 exact (Δ) | nDCG@10 two-stage | recall@10 two-stage vs exact "
        "unpooled (vs exact pooled) | disk bytes / original token | rerank pairs / query (× none) | "
        "two-stage p50 ms | pooling ms/doc | ingest docs/s, vectors (× none) | ingest docs/s, add_texts (× none) |"
    )
    print("|" + "---|" * 11)
    for factor in factors:
        r = rows[factor]
        text = (
            f"{r['text_ingest_docs_s']:.1f} ({r['text_ingest_vs_unpooled']:.2f}×)" if "text_ingest_docs_s" in r else "—"
        )
        print(
            f"| {factor if factor > 1 else '— (1)'} | {r['tokens_per_doc']:.1f} | {r['ndcg10_exact']:.4f} "
            f"({r['ndcg10_exact'] - base['ndcg10_exact']:+.4f}) | {r['ndcg10_two_stage']:.4f} | "
            f"{r['recall10_vs_exact_unpooled']:.3f} ({r['recall10_vs_exact_pooled']:.3f}) | "
            f"{r['disk_bytes_per_original_token']:.0f} | {r['rerank_pairs_per_query']:,.0f} "
            f"({r['rerank_pairs_per_query'] / base['rerank_pairs_per_query']:.2f}×) | {r['two_stage_p50_ms']:.2f} | "
            f"{r['pool_ms_per_doc']:.2f} | {r['ingest_docs_s']:.0f} ({r['ingest_vs_unpooled']:.2f}×) | {text} |"
        )
    if sweep:
        print(
            "\n| pool_factor | prefetch | recall@10 vs exact unpooled | recall@10 vs exact pooled | nDCG@10 | "
            "p50 ms (× unpooled at the default prefetch) |"
        )
        print("|" + "---|" * 6)
        for factor in factors:
            for s in rows[factor]["sweep"]:
                s["p50_ratio"] = s["p50_ms"] / base["two_stage_p50_ms"]
                print(
                    f"| {factor if factor > 1 else '— (1)'} | {s['prefetch'] or 'exact'} | "
                    f"{s['recall10_vs_exact_unpooled']:.3f} | {s['recall10_vs_exact_pooled']:.3f} | {s['ndcg10']:.4f} | "
                    f"{s['p50_ms']:.2f} ({s['p50_ratio']:.2f}×) |"
                )
    qualifying = [
        f
        for f in factors
        if f > 1
        and abs(rows[f]["ndcg10_exact"] - base["ndcg10_exact"]) <= NDCG_TOLERANCE
        and rows[f]["recall10_vs_exact_unpooled"] >= RECALL_TARGET
    ]
    print(
        f"\nDefault rule (nDCG@10 within {NDCG_TOLERANCE} of unpooled exact, two-stage recall@10 vs unpooled exact "
        f">= {RECALL_TARGET}): " + (f"qualifying factors {qualifying}" if qualifying else "no factor qualifies")
    )
    with_prefetch = {
        f: [
            s["prefetch"]
            for s in rows[f]["sweep"]
            if s["prefetch"] is not None and s["recall10_vs_exact_unpooled"] >= RECALL_TARGET
        ]
        for f in factors
        if f > 1 and abs(rows[f]["ndcg10_exact"] - base["ndcg10_exact"]) <= NDCG_TOLERANCE
    }
    for f, limits in with_prefetch.items() if sweep else []:
        ceiling = rows[f]["sweep"][-1]["recall10_vs_exact_unpooled"]
        print(
            f"pool_factor={f}: "
            + (f"passes the recall part at prefetch {limits}" if limits else "no swept prefetch passes the recall part")
            + f"; its own exact MaxSim reaches {ceiling:.3f} against unpooled exact"
            + (" (below the target: no prefetch can pass)" if ceiling < RECALL_TARGET else "")
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"rows": list(rows.values()), "qualifying": qualifying, "qualifying_with_prefetch": with_prefetch}, indent=2
        )
    )
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
