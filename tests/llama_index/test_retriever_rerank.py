"""MaxSimRetriever (text→text, text→image, scores) and MaxSimRerank (batched, text and image nodes, top_n)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import Document, ImageNode, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import VectorStoreQueryMode
from PIL import Image

from llama_index_multivec import (
    RAW_SCORE_KEY,
    MaxSimRerank,
    MaxSimRetriever,
    MultiVectorEmbedding,
    QdrantMultiVectorStore,
)
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.rerank import rerank
from multivec.scoring import maxsim, relevance

TEXTS = {
    "a": "red apples are sweet",
    "b": "blue cars drive fast",
    "c": "green pears and red apples",
    "d": "rockets reach orbit",
}


def png_b64(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture
def filled(store: QdrantMultiVectorStore, tmp_path: Path) -> QdrantMultiVectorStore:
    red = tmp_path / "red.png"
    Image.new("RGB", (16, 16), (255, 0, 0)).save(red)
    store.add([TextNode(id_=k, text=v) for k, v in TEXTS.items()])
    store.add([ImageNode(id_="img-red", image_path=str(red)), ImageNode(id_="img-blue", image=png_b64((0, 0, 255)))])
    return store


def test_retriever_scores_match_the_core_store(filled: QdrantMultiVectorStore) -> None:
    hits = MaxSimRetriever(filled, similarity_top_k=3, modality="text").retrieve("sweet red apples")
    core = filled.store.search("sweet red apples", k=3, filter={"_node_type": {"$ne": "ImageNode"}})
    assert [h.node.node_id for h in hits] == [c.id for c in core]
    for hit, ref in zip(hits, core, strict=True):
        assert hit.score == pytest.approx(ref.relevance)
        assert hit.node.metadata[RAW_SCORE_KEY] == pytest.approx(ref.score)
        assert 0.0 <= (hit.score or 0.0) <= 1.0
    assert hits[0].node.node_id == "a"


def test_text_to_image_and_mixed_retrieval(filled: QdrantMultiVectorStore) -> None:
    images = MaxSimRetriever(filled, similarity_top_k=5, modality="image").retrieve("red")
    assert {h.node.node_id for h in images} == {"img-red", "img-blue"}
    assert all(isinstance(h.node, ImageNode) for h in images)
    texts = MaxSimRetriever(filled, similarity_top_k=10, modality="text").retrieve("red")
    assert {h.node.node_id for h in texts} == set(TEXTS)
    both = MaxSimRetriever(filled, similarity_top_k=10).retrieve("red")
    assert len(both) == 6
    scores = [h.score or 0.0 for h in both]
    assert scores == sorted(scores, reverse=True)


def test_retriever_options(filled: QdrantMultiVectorStore) -> None:
    exact = MaxSimRetriever(filled, similarity_top_k=2, search_kwargs={"exact": True}).retrieve("red apples")
    assert {h.node.node_id for h in exact} == {"a", "c"}
    mmr = MaxSimRetriever(filled, similarity_top_k=2, mode=VectorStoreQueryMode.MMR, modality="text").retrieve(
        "red apples"
    )
    assert len(mmr) == 2 and mmr[0].node.node_id in {"a", "c"}
    with pytest.raises(ConfigurationError):
        MaxSimRetriever(filled, similarity_top_k=0)
    with pytest.raises(ConfigurationError):
        MaxSimRetriever(filled, modality="audio")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        MaxSimRetriever("not a store")  # type: ignore[arg-type]


def test_retriever_relevance_works_with_similarity_cutoff(filled: QdrantMultiVectorStore) -> None:
    engine = RetrieverQueryEngine.from_args(
        MaxSimRetriever(filled, similarity_top_k=6, modality="text"),
        llm=MockLLM(),
        node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=0.99)],
    )
    response = engine.query("red apples are sweet")
    assert [n.node.node_id for n in response.source_nodes] == ["a"]


async def test_retriever_async(filled: QdrantMultiVectorStore) -> None:
    retriever = MaxSimRetriever(filled, similarity_top_k=2, modality="text")
    sync_hits = retriever.retrieve("green pears")
    async_hits = await retriever.aretrieve("green pears")
    assert [h.node.node_id for h in async_hits] == [h.node.node_id for h in sync_hits]
    assert async_hits[0].node.node_id == "c"
    assert [h.score for h in async_hits] == pytest.approx([h.score for h in sync_hits])


def candidates() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(id_=k, text=v), score=0.0) for k, v in TEXTS.items()]


def test_rerank_orders_by_maxsim_and_keeps_top_n(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    nodes = candidates()
    reranker = MaxSimRerank(embedding=fake, top_n=2)
    out = reranker.postprocess_nodes(nodes, query_str="sweet red apples")
    expected = rerank(fake, "sweet red apples", list(TEXTS.values()), top_n=2)
    assert [n.node.node_id for n in out] == [list(TEXTS)[r.index] for r in expected] == ["a", "c"]
    q = fake.embed_query("sweet red apples")
    raw = maxsim(q, fake.embed_text(TEXTS["a"]))
    assert out[0].node.metadata[RAW_SCORE_KEY] == pytest.approx(raw, abs=1e-4)
    assert out[0].score == pytest.approx(relevance(raw, len(q)), abs=1e-4)
    assert all(n.score == 0.0 and RAW_SCORE_KEY not in n.node.metadata for n in nodes)  # inputs untouched
    assert len(MaxSimRerank(embedding=MultiVectorEmbedding(fake)).postprocess_nodes(nodes, query_str="x")) == 4


def test_rerank_is_batched_and_handles_image_nodes(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    small_batches = DeterministicFakeMultiVectorEmbedding(dim=32, embed_batch_size=2)
    blue = png_b64((0, 0, 255))
    nodes = [*candidates(), NodeWithScore(node=ImageNode(id_="img", image=blue), score=0.0)]
    calls: list[int] = []
    original = small_batches._embed_texts

    def counting(texts: list[str], *, is_query: bool) -> list:
        if not is_query:
            calls.append(len(texts))
        return original(texts, is_query=is_query)

    small_batches._embed_texts = counting  # type: ignore[method-assign]
    out = MaxSimRerank(embedding=small_batches).postprocess_nodes(nodes, query_str="red apples")
    assert calls == [2, 2]
    assert {n.node.node_id for n in out} == {*TEXTS, "img"}
    image_out = next(n for n in out if n.node.node_id == "img")
    assert isinstance(image_out.node, ImageNode)
    image_vectors = fake.embed_image(io.BytesIO(base64.b64decode(blue)))
    q = fake.embed_query("red apples")
    assert image_out.node.metadata[RAW_SCORE_KEY] == pytest.approx(maxsim(q, image_vectors), abs=1e-4)


async def test_rerank_async_matches_sync(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    reranker = MaxSimRerank(embedding=fake, top_n=3)
    sync_out = reranker.postprocess_nodes(candidates(), query_str="fast blue cars")
    async_out = await reranker.apostprocess_nodes(candidates(), query_str="fast blue cars")
    assert [n.node.node_id for n in async_out] == [n.node.node_id for n in sync_out]
    assert [n.score for n in async_out] == pytest.approx([n.score for n in sync_out])


def test_rerank_errors(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    reranker = MaxSimRerank(embedding=fake)
    with pytest.raises(InvalidInputError, match="needs the query"):
        reranker.postprocess_nodes(candidates())
    with pytest.raises(InvalidInputError, match=r"nodes\[1\].*no text"):
        reranker.postprocess_nodes(
            [candidates()[0], NodeWithScore(node=TextNode(text=" "))], query_bundle=QueryBundle("q")
        )
    with pytest.raises(InvalidInputError, match="no image"):
        reranker.postprocess_nodes([NodeWithScore(node=ImageNode(id_="x"))], query_str="q")
    assert reranker.postprocess_nodes([], query_str="q") == []
    with pytest.raises(ConfigurationError):
        MaxSimRerank(embedding=fake, top_n=0)
    with pytest.raises(ConfigurationError):
        MaxSimRerank(embedding="nope")  # type: ignore[arg-type]


def test_reranker_in_a_query_engine(store: QdrantMultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding) -> None:
    docs = [Document(id_=k, text=v) for k, v in TEXTS.items()]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    engine = index.as_query_engine(
        llm=MockLLM(), similarity_top_k=4, node_postprocessors=[MaxSimRerank(embedding=fake, top_n=1)]
    )
    response = engine.query("rockets orbit")
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["d"]
    assert response.source_nodes[0].score == pytest.approx(1.0, abs=1e-3)


async def test_reranker_in_an_async_query_engine(
    store: QdrantMultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    store.add([TextNode(id_=k, text=v) for k, v in TEXTS.items()])
    engine = VectorStoreIndex.from_vector_store(store).as_query_engine(
        llm=MockLLM(), similarity_top_k=4, node_postprocessors=[MaxSimRerank(embedding=fake, top_n=1)]
    )
    response = await engine.aquery("green pears")
    assert [n.node.node_id for n in response.source_nodes] == ["c"]


def test_rerank_scores_pdf_page_nodes_as_the_store_did(tmp_path: Path) -> None:
    from multivec.testing import write_text_pdf

    fake = DeterministicFakeMultiVectorEmbedding(dim=32, grid=4)
    pdf = write_text_pdf(tmp_path / "memo.pdf", ["Wing flutter", "Shock waves", "Heat transfer"])
    with QdrantMultiVectorStore(fake, location=":memory:") as store:
        store.add_pdfs([pdf], dpi=30)
        hits = MaxSimRetriever(vector_store=store, similarity_top_k=3).retrieve("shock waves")
    assert all(isinstance(h.node, ImageNode) and h.node.image_path is None for h in hits)  # pages, not image files
    reranked = MaxSimRerank(embedding=fake, top_n=None).postprocess_nodes(hits, query_str="shock waves")
    stored = {h.node.node_id: h.node.metadata[RAW_SCORE_KEY] for h in hits}
    assert {n.node.node_id: n.node.metadata[RAW_SCORE_KEY] for n in reranked} == pytest.approx(stored, abs=1e-4)
