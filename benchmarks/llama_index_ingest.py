"""LlamaIndex ingestion: encoder passes per node and wall time, with and without the shared embedding cache.

``VectorStoreIndex.from_documents`` asks ``Settings.embed_model`` for one (pooled) vector per node and then hands
the nodes to the vector store, which needs the token vectors; without a shared cache the encoder runs twice per
node. ``llama_index_multivec.MultiVectorEmbedding`` keeps an embedding cache that the store built from it shares,
so the pooled vector and the token vectors come from one encoder pass.

Measured side by side on the first ``--docs`` Cranfield abstracts (default 200) with the offline MiniLM ColBERT
encoder, one document per node, in alternating rounds (median wall time):

- ``shared cache``: ``MultiVectorEmbedding(colbert)`` as ``embed_model`` and as the store's embedding (the default);
- ``no cache``: the same with ``cache=False`` on both (what a store next to a separate ``embed_model`` costs).

Run: ``python benchmarks/llama_index_ingest.py`` (about 3 minutes on a 2-core box), ``--docs 50 --rounds 1``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llama_index.core import Document, StorageContext, VectorStoreIndex

from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore
from multivec.embeddings import ColBERTEmbeddings, offline_minilm_path
from multivec.types import Embedding
from tests.support.cranfield import load_cranfield


class CountingColBERT(ColBERTEmbeddings):
    """The offline MiniLM ColBERT encoder, counting the texts that reach the model."""

    def __init__(self) -> None:
        super().__init__(model_name=offline_minilm_path())
        self.passes = 0

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        self.passes += len(texts)
        return super()._embed_texts(texts, is_query=is_query)


def ingest(encoder: CountingColBERT, documents: list[Document], *, cache: bool) -> tuple[float, int]:
    """Seconds for ``from_documents`` into a fresh embedded store, and the encoder passes it cost."""
    encoder.passes = 0
    embed_model = MultiVectorEmbedding(encoder, cache=cache)
    with (
        tempfile.TemporaryDirectory(prefix="bench-li-") as path,
        QdrantMultiVectorStore(embed_model, path=path) as store,
    ):
        start = time.perf_counter()
        VectorStoreIndex.from_documents(
            documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
        )
        seconds = time.perf_counter() - start
    return seconds, encoder.passes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    data = load_cranfield(n_docs=args.docs, n_queries=0)
    documents = [Document(text=text, id_=doc_id) for doc_id, text in data.corpus.items()]
    encoder = CountingColBERT()
    encoder.embed_documents(["warm-up"])  # load the model outside the timings
    times: dict[bool, list[float]] = {True: [], False: []}
    passes: dict[bool, int] = {}
    for round_ in range(args.rounds):
        for cache in (True, False) if round_ % 2 == 0 else (False, True):
            seconds, passes[cache] = ingest(encoder, documents, cache=cache)
            times[cache].append(seconds)
    n = len(documents)
    base = statistics.median(times[False])
    print(f"LlamaIndex VectorStoreIndex.from_documents, {n} Cranfield abstracts, MiniLM ColBERT, {args.rounds} rounds")
    print("| embed_model and store | encoder passes per node | wall s (median) | × no cache |")
    print("|---|---|---|---|")
    for cache, label in ((False, "no cache (`cache=False`)"), (True, "shared cache (default)")):
        median = statistics.median(times[cache])
        print(f"| {label} | {passes[cache] / n:.2f} | {median:.1f} | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
