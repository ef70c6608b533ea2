"""Quality: on a fixed Cranfield subset, ranking through the LlamaIndex retriever equals the core store's ranking.

The LlamaIndex path (nodes → ``QdrantMultiVectorStore`` → ``VectorStoreIndex.as_retriever``) must not change what
the core store retrieves for the same texts: same ids in the same order, same scores. The reference ranking is the
core store's exact MaxSim search, computed once per embedder; the subset is small enough that the two-stage search
on either backend reranks every document. Scores are compared within a tolerance and tied
scores (frequent with the fake embedder, whose identical tokens give identical vectors) may come in any order
(:mod:`tests.support.rankings`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode

from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.store import MultiVectorStore
from tests.llama_index.conftest import open_store
from tests.support.cranfield import Cranfield, cranfield_subset
from tests.support.rankings import assert_same_ranking

N_DOCS, N_QUERIES, K = 40, 6, 10
_reference: dict[str, dict[str, dict[str, float]]] = {}


@pytest.fixture(scope="module")
def cranfield() -> Cranfield:
    """The shared fixed Cranfield subset (the judged documents of the first queries, plus distractors)."""
    return cranfield_subset(n_queries=N_QUERIES, n_docs=N_DOCS)


def core_rankings(cranfield: Cranfield, embedder: MultiVectorBaseEmbedding) -> dict[str, dict[str, float]]:
    """Query text → the core store's exact relevance of every document, computed once per embedder."""
    key = repr(embedder)
    if key not in _reference:
        with MultiVectorStore(embedder, location=":memory:") as core:
            core.add_texts(list(cranfield.corpus.values()), ids=list(cranfield.corpus))
            _reference[key] = {
                q: {h.id: h.relevance for h in core.search(q, k=len(cranfield.corpus), exact=True)}
                for q in cranfield.queries.values()
            }
    return _reference[key]


@pytest.mark.slow
def test_llama_index_ranking_equals_core_ranking(
    cranfield: Cranfield, embedder: MultiVectorBaseEmbedding, backend: str, tmp_path: Path
) -> None:
    assert len(cranfield.queries) == N_QUERIES and len(cranfield.corpus) >= N_DOCS
    expected = core_rankings(cranfield, embedder)
    ids, texts = list(cranfield.corpus), list(cranfield.corpus.values())
    with open_store(backend, tmp_path, embedder) as store:
        store.add([TextNode(id_=i, text=t) for i, t in zip(ids, texts, strict=True)])
        retriever = VectorStoreIndex.from_vector_store(store).as_retriever(similarity_top_k=K)
        for query in cranfield.queries.values():
            got = [(n.node.node_id, n.score or 0.0) for n in retriever.retrieve(query)]
            assert len(got) == K, query
            assert_same_ranking(got, expected[query], tol=1e-5)
