"""The LangChain classes on real local models (tiny random checkpoints, offline): the visual-document path with a
ColPali model, the single-vector path with BiPali, and the drop-in embeddings in a plain LangChain store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_multivec import MaxSimReranker, MaxSimRetriever, MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.testing import write_text_pdf


@pytest.mark.slow
async def test_visual_documents_with_colpali(tiny_colpali_dir: Path, tmp_path: Path) -> None:
    embeddings = MultiVectorEmbeddings.create("colpali", str(tiny_colpali_dir), device="cpu")
    assert embeddings.is_multi_vector and embeddings.supports_images
    pdf = write_text_pdf(tmp_path / "report.pdf", ["Wing flutter at transonic speed", "Shock waves on cones"])
    with QdrantMultiVectorStore(embeddings, path=str(tmp_path / "index")) as store:
        ids = store.add_pdfs([pdf], dpi=30, metadatas=[{"kind": "report"}])
        docs = MaxSimRetriever(vectorstore=store, k=2).invoke("flutter")
        assert sorted(str(d.id) for d in docs) == sorted(ids)
        for doc in docs:
            assert doc.metadata["modality"] == "image" and doc.metadata["source"] == str(pdf)
            assert doc.page_content == doc.metadata["page_text"]  # the page's words go to the LLM, not its path
            assert doc.metadata["page"] in {1, 2} and doc.metadata["kind"] == "report"
            assert 0.0 <= doc.metadata["relevance_score"] <= 1.0
        # the page images, reranked straight from their source by the same model, score as the store scored them
        # (at the resolution add_pdfs recorded in metadata["page_dpi"])
        reranker = MaxSimReranker(embedding=embeddings, top_n=None)
        reranked = await reranker.acompress_documents(docs, "flutter")
        by_id = {d.id: d.metadata["score"] for d in docs}
        assert all(d.metadata["page_dpi"] == 30 for d in docs)
        assert all(d.metadata["score"] == pytest.approx(by_id[d.id], rel=1e-3, abs=1e-3) for d in reranked)


@pytest.mark.slow
def test_single_vector_bipali(tiny_bipali_dir: Path, tmp_path: Path) -> None:
    embeddings = MultiVectorEmbeddings.create("bipali", str(tiny_bipali_dir), device="cpu")
    assert not embeddings.is_multi_vector
    native = embeddings.embed_documents_multi(["a wing"])[0]
    assert native.ndim == 1 and embeddings.embed_documents(["a wing"])[0] == pytest.approx(native.tolist())
    with QdrantMultiVectorStore.from_texts(["a wing", "a cone"], embeddings, ids=["w", "c"], location=":memory:") as s:
        assert s.similarity_search_by_vector(embeddings.embed_documents(["a cone"])[0], k=1)[0].id == "c"


@pytest.mark.slow
def test_colbert_drop_in_for_any_langchain_store(minilm_dir: Path) -> None:
    embeddings = MultiVectorEmbeddings.create("colbert", str(minilm_dir))
    store = InMemoryVectorStore(embeddings)
    store.add_texts(["supersonic flow over a cone", "heat transfer in turbulent pipes", "flutter of aircraft wings"])
    assert store.similarity_search("wing flutter", k=1)[0].page_content == "flutter of aircraft wings"
    assert np.linalg.norm(embeddings.embed_query("wing flutter")) == pytest.approx(1.0, abs=1e-5)
