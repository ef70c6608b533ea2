"""What metrics and tracing cost on the query path, measured side by side in one run.

An embedded store (qdrant-edge) of synthetic ColBERT-like documents (default 3,000 docs x 32 tokens x 128) is
searched with precomputed query vectors (no model), k=10, two-stage, in four ways, interleaved round by round so
that the shared machine's noise falls on all of them alike:

- ``bare``: the same search flow sent straight to the backend (``run_sync(store._hits_flow(...),
  backend.execute)``): the code path without any instrumentation, i.e. the store before it was instrumented;
- ``off``: ``store.search`` with ``opentelemetry-api`` installed but no provider set (what most users run): the
  in-process recorder of ``stats()`` plus the check for a provider;
- ``sdk-spans``: an SDK tracer provider with an in-memory exporter (a span per search and per engine request);
- ``sdk-all``: spans plus an SDK meter provider with an in-memory reader (the histogram and counters too).

Prints the per-query median and p95 in µs and the ratio of each median to ``bare``.

Run: ``python benchmarks/telemetry_overhead.py`` (about a minute), ``--docs 5000 --rounds 9``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's multivec, whatever the venv has installed

K = 10


def corpus(n_docs: int, n_tokens: int, dim: int, n_queries: int, seed: int = 0) -> tuple[list, list]:
    """Clustered unit token vectors, and queries sampled (with noise) from documents."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((256, dim)).astype(np.float32)
    docs = []
    for _ in range(n_docs):
        topics = centres[rng.integers(0, len(centres), 4)]
        tokens = topics[rng.integers(0, 4, n_tokens)] + 0.6 * rng.standard_normal((n_tokens, dim)).astype(np.float32)
        docs.append(tokens / np.linalg.norm(tokens, axis=1, keepdims=True))
    queries = []
    for i in rng.integers(0, n_docs, n_queries):
        picked = docs[i][rng.integers(0, n_tokens, 16)] + 0.3 * rng.standard_normal((16, dim)).astype(np.float32)
        queries.append(picked / np.linalg.norm(picked, axis=1, keepdims=True))
    return docs, queries


def timed(fn: Callable[[np.ndarray], object], queries: list[np.ndarray]) -> list[float]:
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - start)
    return out


def observation_cost(setup: Callable[[], None], query: np.ndarray, n: int = 20000) -> float:
    """Seconds per search of the instrumentation alone: the store operation and its engine request observed around
    a no-op (what ``store.search`` adds to ``bare``, without the engine's noise)."""
    from multivec import telemetry
    from multivec.store.backend import Query

    setup()
    recorder = telemetry.Recorder()
    attributes = {telemetry.BACKEND: "edge", telemetry.DB_SYSTEM: "qdrant", telemetry.DB_COLLECTION: "bench"}
    op = Query(query.mean(axis=0), query, K, 100, None)
    hits = [None] * K
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            with telemetry.Observation(recorder, "store", "search", attributes) as search:
                with telemetry.engine_call(op, attributes) as call:
                    call.result(hits)
                search.result(hits)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from multivec import telemetry
    from multivec._flow import run_sync
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    docs, queries = corpus(args.docs, args.tokens, args.dim, args.queries)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    with tempfile.TemporaryDirectory() as tmp:
        store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=args.dim), path=tmp)
        store.add_embeddings(docs)
        store.optimize()
        backend = store._backend

        def bare(q: np.ndarray) -> object:
            return run_sync(store._hits_flow(q, K, None, False, None, None), backend.execute)

        def search(q: np.ndarray) -> object:
            return store.search(q, k=K)

        modes: dict[str, tuple[Callable[[], None], Callable[[np.ndarray], object]]] = {
            "bare": (telemetry.configure, bare),
            "off": (telemetry.configure, search),
            "sdk-spans": (lambda: telemetry.configure(tracer_provider), search),
            "sdk-all": (lambda: telemetry.configure(tracer_provider, meter_provider), search),
        }
        for fn in (bare, search):  # warm up: page cache, code paths
            timed(fn, queries[:50])
        samples: dict[str, list[float]] = {name: [] for name in modes}
        names = list(modes)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotate the order
                setup, fn = modes[name]
                setup()
                samples[name] += timed(fn, queries)
                exporter.clear()
        machinery = {name: observation_cost(setup, queries[0]) for name, (setup, _) in modes.items() if name != "bare"}
        telemetry.configure()
        same = [h.id for h in bare(queries[0])] == [h.id for h in search(queries[0])]  # type: ignore[attr-defined]
        store.close()

    base = statistics.median(samples["bare"])
    print(
        f"\nQuery path, embedded store: {args.docs} docs x {args.tokens} tokens x {args.dim}, k={K}, two-stage, "
        f"{args.queries} precomputed queries x {args.rounds} rounds per mode (interleaved); same hits: {same}\n"
    )
    print("| mode | median µs | p95 µs | median / bare |\n|---|---|---|---|")
    for name, values in samples.items():
        median = statistics.median(values)
        p95 = float(np.percentile(values, 95))
        print(f"| {name} | {median * 1e6:.0f} | {p95 * 1e6:.0f} | {median / base:.3f} |")
    print(
        "\nThe instrumentation alone (a store operation and its engine request observed around a no-op, best of 5):\n"
    )
    print("| mode | µs per search | share of the bare median |\n|---|---|---|")
    for name, seconds in machinery.items():
        print(f"| {name} | {seconds * 1e6:.1f} | {seconds / base:.2%} |")


if __name__ == "__main__":
    main()
