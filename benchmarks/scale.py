"""Storage and scaling of multivec's embedded store: the scale curve and the datatype table, measured in one run.

1. **Scale curve** on synthetic ColBERT-like passages (~160 tokens x 128, Q=32; generators from
   ``benchmarks/store.py``): 2k / 20k / 100k documents (``--quick``: 2k / 20k) in one store each, ``turbo8`` token
   vectors (RAM on a 24 GiB box) and ``segment_mb=512`` (about 24k passages a segment, so that segments of large
   stores pass the first stage's HNSW threshold, ``FULL_SCAN_POINTS``). Per size: ingest docs/s (with the final
   ``optimize()``), disk bytes per token, RSS of a fresh process after opening the store and after its warm-up,
   two-stage p50/p95, the first stage alone (pooled-vector top-100) searched the way the store does (HNSW where a
   segment has one, else a scan) and as a forced full scan (``exact``: what every segment did before), its share of
   the two-stage time, first-stage recall@100 against an exact dense search (numpy), recall@10 of two-stage
   against exact MaxSim. The first stage is also timed at each ``--ef-sweep`` value. Every variant (two-stage, full
   scan, each ef) runs over all the queries in turn, ``--rounds`` times in alternating order, and p50s are over all
   the rounds, so that the shared box's load moves them alike. Disk is also split by part (qdrant-edge's write-ahead log, token vectors, first-stage
   vectors and their HNSW graph, payloads, the rest) so that bytes per token can be read without the WAL, whose
   32 MiB segment files are allocated whatever the store holds. ``--pool-factor k`` builds the scale stores with
   ingest-time token pooling (bytes stay per *original* token; recall@10 is then against the pooled store's own
   exact MaxSim). ``--corpus docstrings`` builds the curve from real text instead: unique paragraphs of the
   docstrings of the installed packages (116k in the dev environment; ``--text-roots`` picks other folders),
   embedded once with all-MiniLM-L6-v2 token by token (384-d, about 100 paragraphs a second on 2 cores, cached 10k
   at a time) and queried with the first 32 tokens of 50 held-out paragraphs; the HNSW runs in segments of 20k
   documents or more (``--segment-mb 512``: 4 segments at 100k; ``2048``: 2).
2. **Datatype table** on Cranfield (real MiniLM token vectors, 384-d, cached by ``benchmarks/store.py``):
   float32 / float16 / turbo8 storage: token-vector bytes per token on disk, two-stage p50 and its ratio to float32,
   nDCG@10 (exact and two-stage) against the qrels, recall@10 against float32 exact MaxSim.

Run: ``python benchmarks/scale.py`` (about 25 minutes on a 2-core box), ``--quick`` (2k/20k, about 8 minutes),
``--only scale|datatypes``, ``--sizes 2000,20000``, ``--pool-factor 3``, ``--corpus docstrings``, ``--json results.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.store import (
    CACHE,
    Corpus,
    K,
    cranfield,
    dir_size,
    docstring_chunks,
    docstring_paragraphs,
    effective_cores,
    p,
    recall,
    synthetic,
    timed,
)

FIRST_STAGE = 100
CORPUS_LABELS = {
    "synthetic": "synthetic ColBERT-like passages",
    "docstrings": "real docstring paragraphs (MiniLM, 384-d)",
}
CHUNK_DOCS = 10_000  # generated and written a chunk at a time: 100k float32 passages would be 8 GB in Python


def _pooled(doc: np.ndarray) -> np.ndarray:
    v = doc.mean(axis=0)
    return (v / np.linalg.norm(v)).astype(np.float32)


_PARTS = (
    ("wal", "wal"),
    ("vector_storage-multivector", "token_vectors"),
    ("vector_storage-dense", "dense_vectors"),
    ("vector_index-dense", "dense_hnsw"),
    ("payload_storage", "payloads"),
    ("payload_index", "payload_index"),
)


def _disk_parts(root: Path) -> dict[str, int]:
    """Bytes allocated on disk per part of the store (the first matching directory name in a file's path)."""
    parts = dict.fromkeys([name for _, name in _PARTS] + ["other"], 0)
    for f in root.rglob("*"):
        if f.is_file():
            name = next((label for directory, label in _PARTS if directory in f.parts), "other")
            parts[name] += f.stat().st_blocks * 512
    return parts


def _rss_after_open(path: Path, dim: int) -> dict[str, float]:
    """RSS (MB) of a fresh process after it opens the store, and after the background warm-up has read it."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from multivec.embeddings import DeterministicFakeMultiVectorEmbedding as F\n"
        "from multivec.store import MultiVectorStore\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024\n"
        f"s = MultiVectorStore(F(dim={dim}), path={str(path)!r}); s.count(); a = rss()\n"
        "s._backend._warmer.wait(); print(a, rss())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"rss_open_mb": float(out[0]), "rss_warm_mb": float(out[1])}


def _chunks(n: int, args: argparse.Namespace) -> Iterator[tuple[list[np.ndarray], list[np.ndarray]]]:
    """``n`` documents, ``CHUNK_DOCS`` at a time, with about ``args.queries`` queries in all: (documents, queries)."""
    if args.corpus == "docstrings":
        # real text: MiniLM token vectors of docstring paragraphs; queries are the first 32 tokens of held-out ones
        texts = docstring_paragraphs(_text_roots(args))
        if len(texts) < n + args.queries:
            raise SystemExit(
                f"only {len(texts):,} docstring paragraphs under --text-roots; {n + args.queries:,} needed"
            )
        queries = [q for chunk in docstring_chunks(texts[-args.queries :], args.queries, max_tokens=34) for q in chunk]
        for index, docs in enumerate(docstring_chunks(texts[:n], CHUNK_DOCS)):
            yield docs, queries if index == 0 else []
        return
    per_chunk_q = max(1, args.queries // max(1, n // CHUNK_DOCS))
    for index, start in enumerate(range(0, n, CHUNK_DOCS)):
        chunk = synthetic("colbert-like", min(CHUNK_DOCS, n - start), 160, False, per_chunk_q, 32, seed=100 + index)
        yield chunk.docs, chunk.queries


def _text_roots(args: argparse.Namespace) -> list[Path]:
    import site
    import sysconfig

    if args.text_roots:
        return [Path(r) for r in args.text_roots.split(",")]
    return [Path(sysconfig.get_paths()["stdlib"]), *(Path(r) for r in site.getsitepackages())]


def bench_scale(n: int, args: argparse.Namespace) -> dict[str, Any]:
    import qdrant_edge as qe

    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    root = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.tmp))
    dim = 384 if args.corpus == "docstrings" else 128
    store = MultiVectorStore(
        DeterministicFakeMultiVectorEmbedding(dim=dim),
        path=root,
        multivector_datatype=args.datatype,
        segment_mb=args.segment_mb,
        pool_factor=args.pool_factor,
        hnsw_ef=args.hnsw_ef,
    )
    queries: list[np.ndarray] = []
    pooled_docs: list[np.ndarray] = []
    tokens = 0
    written = 0.0
    start = 0
    for docs, chunk_queries in _chunks(n, args):
        queries += chunk_queries
        pooled_docs += [_pooled(d) for d in docs]
        tokens += sum(len(d) for d in docs)
        began = time.perf_counter()
        store.add_embeddings(docs, ids=list(range(start, start + len(docs))))
        written += time.perf_counter() - began
        start += len(docs)
        del docs
        gc.collect()
    began = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - began
    store._backend._warmer.wait()
    queries = queries[: args.queries]
    res: dict[str, Any] = {
        "n": n,
        "corpus": args.corpus,
        "tokens": tokens,
        "datatype": args.datatype,
        "segment_mb": args.segment_mb,
        "pool_factor": args.pool_factor,
        "segments": store._backend.segment_count,
        "ingest_docs_s": n / (written + optimize_s),
        "optimize_s": optimize_s,
    }
    shard = store._backend._shard
    dense = np.stack(pooled_docs)
    del pooled_docs

    def first_stage(q: np.ndarray, ef: int | None) -> list[int]:
        """The store's first stage alone: HNSW at ``ef`` where a segment has one, else a scan; ``None``: all scan."""
        params = qe.SearchParams(exact=True) if ef is None else qe.SearchParams(hnsw_ef=ef)
        request = qe.QueryRequest(
            limit=FIRST_STAGE,
            query=qe.Query.Nearest(_pooled(q).tolist(), using="dense"),
            params=params,
            with_payload=True,
        )
        return [int(str((point.payload or {}).get("id"))) for point in shard.query(request)]

    truth = [np.argsort(-(dense @ _pooled(q)))[:FIRST_STAGE].tolist() for q in queries]
    efs = sorted(set(args.ef_sweep) | {args.hnsw_ef})
    variants: list[int | str | None] = ["two-stage", None, *efs]
    for q in queries[:3]:  # warm-up
        store.search(q, k=K)
        for ef in (None, *efs):
            first_stage(q, ef)
    # each variant runs over all the queries in turn, in alternating order over the rounds, so that the box's load
    # and the CPU caches treat them alike
    times: dict[int | str | None, list[float]] = {v: [] for v in variants}
    found: dict[int | str | None, list[list[Any]]] = {}
    for round_ in range(args.rounds):
        for variant in variants if round_ % 2 == 0 else variants[::-1]:
            ids_per_query = []
            for q in queries:
                if variant == "two-stage":
                    t, hits = timed(lambda q=q: store.search(q, k=K), 1)
                    ids = [h.id for h in hits]
                else:
                    t, ids = timed(lambda q=q, ef=variant: first_stage(q, ef), 1)
                times[variant] += t
                ids_per_query.append(ids)
            found[variant] = ids_per_query
    two_stage, indexed, scanned = times["two-stage"], times[args.hnsw_ef], times[None]
    two_ids = found["two-stage"]
    exact_ids = [[h.id for h in store.search(q, k=K, exact=True)] for q in queries[: args.exact_queries]]
    res.update(
        p50_ms=p(two_stage, 50),
        p95_ms=p(two_stage, 95),
        first_stage_p50_ms=p(indexed, 50),
        first_stage_scan_p50_ms=p(scanned, 50),
        first_stage_share=p(indexed, 50) / p(two_stage, 50),
        scan_share=p(scanned, 50) / (p(two_stage, 50) - p(indexed, 50) + p(scanned, 50)),
        first_stage_recall_at_100=recall(found[args.hnsw_ef], truth),
        first_stage_scan_recall_at_100=recall(found[None], truth),
        recall_at_10=recall(two_ids[: len(exact_ids)], exact_ids),
        ef_sweep=[
            {
                "hnsw_ef": ef,
                "p50_ms": p(times[ef], 50),
                "speedup_vs_scan": p(scanned, 50) / p(times[ef], 50),
                "recall_at_100": recall(found[ef], truth),
            }
            for ef in efs
        ],
    )
    store.close()
    size = dir_size(root)
    parts = _disk_parts(root)
    res.update(
        disk_bytes_per_token=size / tokens,
        disk_mb=size / 2**20,
        wal_mb=parts["wal"] / 2**20,
        disk_bytes_per_token_without_wal=(size - parts["wal"]) / tokens,
        token_vector_bytes_per_token=parts["token_vectors"] / tokens,
        disk_parts_bytes_per_token={name: b / tokens for name, b in parts.items()},
    )
    res.update(_rss_after_open(root, dim))
    res["rss_per_doc_kb"] = res["rss_warm_mb"] * 1024 / n
    shutil.rmtree(root, ignore_errors=True)
    return res


def _ndcg(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> float:
    from multivec.evaluation import score_runs

    return score_runs(qrels, run, ("ndcg@10",))["ndcg@10"]


def bench_datatypes(args: argparse.Namespace) -> list[dict[str, Any]]:
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore
    from tests.support.cranfield import load_cranfield

    corpus: Corpus = cranfield()
    data = load_cranfield()
    doc_ids, query_ids = sorted(data.corpus, key=int), sorted(data.queries, key=int)
    qrels = {q: {d: int(g) for d, g in data.qrels[q].items()} for q in query_ids if q in data.qrels}
    rows: list[dict[str, Any]] = []
    reference: list[list[str]] = []
    for datatype in ("float32", "float16", "turbo8"):
        root = Path(tempfile.mkdtemp(prefix="bench-dt-", dir=args.tmp))
        store = MultiVectorStore(
            DeterministicFakeMultiVectorEmbedding(dim=corpus.dim), path=root, multivector_datatype=datatype
        )
        store.add_embeddings(corpus.docs, ids=doc_ids)
        store.optimize()
        store._backend._warmer.wait()
        for q in corpus.queries[:5]:
            store.search(q, k=K)
        times, staged, exact = [], {}, {}
        for qid, q in zip(query_ids, corpus.queries, strict=True):
            t, hits = timed(lambda q=q, store=store: store.search(q, k=K), 1)
            times += t
            staged[qid] = {h.id: h.score for h in hits}
            exact[qid] = {h.id: h.score for h in store.search(q, k=K, exact=True)}
        store.close()
        storage = sum(dir_size(d) for d in root.rglob("vector_storage-multivector") if d.is_dir())
        exact_lists = [list(exact[q]) for q in query_ids]
        reference = reference or exact_lists
        rows.append(
            {
                "datatype": datatype,
                "token_bytes": storage / corpus.tokens,
                "disk_bytes_per_token": dir_size(root) / corpus.tokens,
                "p50_ms": p(times, 50),
                "p95_ms": p(times, 95),
                "ndcg10_exact": _ndcg(exact, qrels),
                "ndcg10_two_stage": _ndcg(staged, qrels),
                "recall10_vs_float32_exact": recall(exact_lists, reference),
                "recall10_two_stage_vs_own_exact": recall([list(staged[q]) for q in query_ids], exact_lists),
            }
        )
        shutil.rmtree(root, ignore_errors=True)
        print(f"  done: {datatype}", flush=True)
    for row in rows:
        row["p50_ratio"] = row["p50_ms"] / rows[0]["p50_ms"]
    return rows


def _print_scale(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| docs | segments | ingest docs/s (optimize s) | disk B/token (without WAL; WAL MB) | RSS open / warm MB | "
        "2-stage p50 / p95 ms | "
        "1st stage p50 ms: as searched / full scan | 1st-stage share | 1st-stage recall@100 | recall@10 vs exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['segments']} | {r['ingest_docs_s']:.0f} ({r['optimize_s']:.0f}) | "
            f"{r['disk_bytes_per_token']:.0f} ({r['disk_bytes_per_token_without_wal']:.0f}; {r['wal_mb']:.0f}) | "
            f"{r['rss_open_mb']:.0f} / {r['rss_warm_mb']:.0f} | "
            f"{r['p50_ms']:.2f} / {r['p95_ms']:.2f} | {r['first_stage_p50_ms']:.2f} / {r['first_stage_scan_p50_ms']:.2f} "
            f"({r['first_stage_scan_p50_ms'] / r['first_stage_p50_ms']:.1f}x) | {100 * r['first_stage_share']:.0f} % "
            f"(scanned: {100 * r['scan_share']:.0f} %) | {r['first_stage_recall_at_100']:.3f} | {r['recall_at_10']:.3f} |"
        )
    print("\nFirst stage alone (top-100) by search-time ef: p50 ms (× full scan), recall@100 against exact dense")
    efs = [s["hnsw_ef"] for s in rows[0]["ef_sweep"]]
    print("| docs | full scan | " + " | ".join(f"ef {ef}" for ef in efs) + " |")
    print("|---|---|" + "---|" * len(efs))
    for r in rows:
        cells = [f"{s['p50_ms']:.2f} ({s['speedup_vs_scan']:.1f}×), {s['recall_at_100']:.3f}" for s in r["ef_sweep"]]
        scan = f"{r['first_stage_scan_p50_ms']:.2f}, {r['first_stage_scan_recall_at_100']:.3f}"
        print(f"| {r['n']:,} | {scan} | " + " | ".join(cells) + " |")


def _print_datatypes(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| datatype | token-vector B/token | disk B/token | 2-stage p50 ms (× float32) | nDCG@10 exact | "
        "nDCG@10 two-stage | recall@10 vs float32 exact | two-stage recall@10 vs own exact |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['datatype']} | {r['token_bytes']:.0f} | {r['disk_bytes_per_token']:.0f} | {r['p50_ms']:.2f} "
            f"({r['p50_ratio']:.2f}×) | {r['ndcg10_exact']:.4f} | {r['ndcg10_two_stage']:.4f} | "
            f"{r['recall10_vs_float32_exact']:.3f} | {r['recall10_two_stage_vs_own_exact']:.3f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k and 20k documents only")
    parser.add_argument("--only", default="scale,datatypes")
    parser.add_argument("--sizes", default=None, help="comma-separated document counts (default 2000,20000,100000)")
    parser.add_argument(
        "--corpus",
        choices=tuple(CORPUS_LABELS),
        default="synthetic",
        help="scale-curve documents: synthetic 128-d, or real text (docstring paragraphs of the installed packages, "
        "MiniLM token vectors, 384-d; embedded once and cached)",
    )
    parser.add_argument("--text-roots", default=None, help="comma-separated folders for --corpus docstrings")
    parser.add_argument("--datatype", default="turbo8", help="token-vector storage of the scale stores")
    parser.add_argument("--segment-mb", type=int, default=512, help="segment_mb of the scale stores")
    parser.add_argument("--pool-factor", type=int, default=None, help="pool_factor of the scale stores (default none)")
    parser.add_argument("--hnsw-ef", type=int, default=None, help="first-stage ef (default: the store's)")
    parser.add_argument(
        "--ef-sweep", default="64,128,256,512", help="first-stage ef values also timed alone (comma-separated)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries per variant")
    parser.add_argument("--json", type=Path, default=CACHE / "scale-results.json")
    parser.add_argument("--tmp", default=None, help="scratch directory for stores (default: system temp)")
    args = parser.parse_args(argv)
    from multivec.store.backend import DEFAULT_HNSW_EF

    args.hnsw_ef = args.hnsw_ef or DEFAULT_HNSW_EF
    args.ef_sweep = [int(v) for v in args.ef_sweep.split(",") if v]
    args.queries = 30 if args.quick else 50
    args.exact_queries = 5 if args.quick else 8
    sizes = [int(s) for s in (args.sizes or ("2000,20000" if args.quick else "2000,20000,100000")).split(",")]
    only = set(args.only.split(","))
    started = time.perf_counter()
    cores = effective_cores()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, effective cores {cores:.2f}", flush=True)
    scale: list[dict[str, Any]] = []
    datatypes: list[dict[str, Any]] = []
    if "scale" in only:
        for n in sizes:
            scale.append(bench_scale(n, args))
            print(f"  done: {n} docs", flush=True)
            gc.collect()
    if "datatypes" in only:
        datatypes = bench_datatypes(args)
    if scale:
        print(
            f"\nScale curve: {CORPUS_LABELS[args.corpus]}, {args.datatype}, segment_mb={args.segment_mb}, "
            f"pool_factor={args.pool_factor}, "
            f"first stage top-{FIRST_STAGE} at ef {args.hnsw_ef}, k={K}"
        )
        _print_scale(scale)
    if datatypes:
        print("\nDatatypes on Cranfield (real MiniLM token vectors, 384-d, all 225 queries, k=10):")
        _print_datatypes(datatypes)
    print(f"\neffective cores at the end: {effective_cores():.2f}; total {time.perf_counter() - started:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"scale": scale, "datatypes": datatypes, "effective_cores": cores, "quick": args.quick}, indent=2)
    )
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
