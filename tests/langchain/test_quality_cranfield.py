"""Quality: on a fixed Cranfield subset with the offline ColBERT encoder (MiniLM), MaxSimRetriever ranks exactly
like the core store (same ids, same order, exact MaxSim), and that ranking is far better than chance."""

from __future__ import annotations

from pathlib import Path

import pytest
from ranx import Qrels, Run, evaluate

from langchain_multivec import MaxSimRetriever, MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.embeddings import MultiVectorBaseEmbedding
from multivec.store import MultiVectorStore
from multivec.types import Embedding
from tests.support.cranfield import cranfield_subset

K = 10


class _EncodeOnce(MultiVectorBaseEmbedding):
    """Delegates to an encoder and remembers every (text, side), so both indexes get the very same vectors while
    the (slow, CPU) model runs once per text."""

    def __init__(self, inner: MultiVectorBaseEmbedding) -> None:
        super().__init__(model_name=inner.model_name, embed_batch_size=32)
        self.inner = inner
        self.cache: dict[tuple[str, bool], Embedding] = {}

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        missing = [t for t in dict.fromkeys(texts) if (t, is_query) not in self.cache]
        if missing:
            vectors = [self.inner.embed_query(t) for t in missing] if is_query else self.inner.embed_documents(missing)
            self.cache.update({(t, is_query): v for t, v in zip(missing, vectors, strict=True)})
        return [self.cache[(t, is_query)] for t in texts]


@pytest.mark.slow
async def test_retriever_ranking_equals_core_store_ranking(minilm_dir: Path, tmp_path: Path) -> None:
    from multivec.embeddings import ColBERTEmbeddings

    data = cranfield_subset(n_queries=8, n_docs=60)  # 72 documents: every judged one plus distractors
    ids, texts = list(data.corpus), list(data.corpus.values())
    encoder = _EncodeOnce(ColBERTEmbeddings(model_name=str(minilm_dir), document_length=64))

    # the core store on the embedded backend, the LangChain store on qdrant-client: two independent indexes
    with MultiVectorStore(encoder, path=tmp_path / "core") as core:
        core.add_texts(texts, ids=ids)
        core_ranking = {qid: [h.id for h in core.search(q, k=K, exact=True)] for qid, q in data.queries.items()}

    store = QdrantMultiVectorStore.from_texts(texts, MultiVectorEmbeddings(encoder), ids=ids, location=":memory:")
    async with store:
        retriever = MaxSimRetriever(vectorstore=store, k=K, exact=True)
        docs = {qid: retriever.invoke(q) for qid, q in data.queries.items()}
        adocs = {qid: await retriever.ainvoke(q) for qid, q in data.queries.items()}

    assert {qid: [d.id for d in ds] for qid, ds in docs.items()} == core_ranking
    assert {qid: [d.id for d in ds] for qid, ds in adocs.items()} == core_ranking
    assert all(len(ranked) == K for ranked in core_ranking.values())
    run = Run({qid: {str(d.id): d.metadata["score"] for d in ds} for qid, ds in docs.items()})
    ndcg = evaluate(Qrels(data.qrels), run, f"ndcg@{K}")
    assert ndcg > 0.2, f"nDCG@{K} = {ndcg:.3f}; chance is about 0.05"
