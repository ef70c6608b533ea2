"""Retrieval quality with offline MiniLM tokens and exact MaxSim on a fixed Cranfield subset (far above chance)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from multivec.scoring import maxsim_many
from tests.support.cranfield import cranfield_subset


@pytest.mark.slow
def test_minilm_maxsim_retrieves_far_above_chance(minilm: Any) -> None:
    from ranx import Qrels, Run, evaluate

    data = cranfield_subset(n_queries=20, n_docs=200)
    doc_ids = list(data.corpus)
    docs = minilm.embed_documents_batch([data.corpus[d] for d in doc_ids])
    run, chance = {}, {}
    shuffler = random.Random(0)
    for qid, text in data.queries.items():
        scores = maxsim_many(minilm.embed_query(text), docs)
        run[qid] = {doc: float(score) for doc, score in zip(doc_ids, scores, strict=True)}
        chance[qid] = {doc: shuffler.random() for doc in doc_ids}
    qrels = Qrels(data.qrels)
    ndcg = evaluate(qrels, Run(run), "ndcg@10")
    ndcg_chance = evaluate(qrels, Run(chance), "ndcg@10")
    assert ndcg_chance < 0.15
    assert ndcg > 0.45, f"nDCG@10 {ndcg:.3f} on the subset (random ranking: {ndcg_chance:.3f})"
