"""Full-collection Cranfield nDCG@10 / Recall@100 for offline MiniLM token vectors with exact numpy MaxSim.

Settings (those of the reference figure): all-MiniLM-L6-v2 token states, [CLS]/[SEP] dropped, L2-normalised,
at most 256 tokens; queries and documents encoded the same way; exact MaxSim over every document.
Expected: nDCG@10 ≈ 0.381, Recall@100 ≈ 0.772.

Run::

    HF_HUB_OFFLINE=1 python benchmarks/cranfield_quality.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranx import Qrels, Run, evaluate

from multivec.embeddings import ColBERTEmbeddings
from multivec.scoring import maxsim_many
from tests.support.cranfield import load_cranfield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir or hub id (default: offline MiniLM)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    data = load_cranfield(skip_empty=False)  # the 2 empty documents stay judged but can never be retrieved
    emb = ColBERTEmbeddings(args.model, device="cpu")
    started = time.perf_counter()
    doc_ids = [d for d, text in data.corpus.items() if text.strip()]
    docs = emb.embed_documents_batch([data.corpus[d] for d in doc_ids])
    encoded = time.perf_counter()
    run: dict[str, dict[str, float]] = {}
    for qid, text in data.queries.items():
        scores = maxsim_many(emb.embed_query(text), docs)
        top = scores.argsort()[::-1][:100]
        run[qid] = {doc_ids[i]: float(scores[i]) for i in top}
    searched = time.perf_counter()
    qrels = {q: r for q, r in data.qrels.items() if q in run}
    metrics = evaluate(Qrels(qrels), Run({q: run[q] for q in qrels}), ["ndcg@10", "recall@100"])
    print(f"model: {emb!r}")
    print(f"documents: {len(docs)}, queries judged: {len(qrels)}")
    print(f"encode corpus: {encoded - started:.1f} s; queries + exact MaxSim: {searched - encoded:.1f} s")
    print(f"nDCG@10    = {metrics['ndcg@10']:.4f}")
    print(f"Recall@100 = {metrics['recall@100']:.4f}")
    retrievable = {q: {d: s for d, s in r.items() if d in doc_ids} for q, r in qrels.items()}
    retrievable = {q: r for q, r in retrievable.items() if r}
    alt = evaluate(Qrels(retrievable), Run({q: run[q] for q in retrievable}), ["ndcg@10", "recall@100"])
    print(f"without judgements of the empty documents: nDCG@10 = {alt['ndcg@10']:.4f}, R@100 = {alt['recall@100']:.4f}")


if __name__ == "__main__":
    main()
