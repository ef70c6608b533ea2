"""MaxSimReranker: standalone, and reranking a BM25 retriever inside ContextualCompressionRetriever."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from langchain_core.documents import Document
from PIL import Image

from langchain_multivec import MaxSimReranker, MultiVectorEmbeddings
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import maxsim

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.retrievers import BM25Retriever
from langchain_classic.retrievers import ContextualCompressionRetriever

CORPUS = [
    "the wing stall at high angle of attack",
    "the stall of a wing wing wing wing",
    "boundary layer separation causes stall on the wing at a high angle",
    "heat transfer in hypersonic flow",
    "angle of attack and lift of thin airfoils",
]


@pytest.fixture
def fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=32, embed_batch_size=2)


def _expected_order(fake: DeterministicFakeMultiVectorEmbedding, query: str, texts: list[str]) -> list[str]:
    q = fake.embed_query(query)
    return sorted(texts, key=lambda t: -maxsim(q, fake.embed_text(t)))


def test_reranks_best_first_with_scores_and_keeps_inputs_intact(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    docs = [Document(page_content=t, metadata={"n": i}, id=str(i)) for i, t in enumerate(CORPUS)]
    snapshot = [d.model_copy(deep=True) for d in docs]
    query = "the stall of the wing at high angle of attack"
    out = MaxSimReranker(embedding=fake, top_n=3).compress_documents(docs, query)
    assert [d.page_content for d in out] == _expected_order(fake, query, CORPUS)[:3]
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert all(d.metadata["n"] == CORPUS.index(d.page_content) for d in out)  # metadata kept
    assert all(d.id == str(d.metadata["n"]) for d in out)  # ids kept
    assert docs == snapshot


def test_top_n_none_keeps_all_and_wrapper_is_accepted(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    docs = [Document(page_content=t) for t in CORPUS]
    reranker = MaxSimReranker(embedding=MultiVectorEmbeddings(fake), top_n=None)
    assert reranker.embedding.embedder is fake  # type: ignore[attr-defined]  # in an embedding cache
    assert MaxSimReranker(embedding=MultiVectorEmbeddings(fake), cache=False).embedding is fake
    assert len(reranker.compress_documents(docs, "hypersonic heat")) == len(CORPUS)
    assert reranker.compress_documents([], "anything") == []


async def test_async_matches_sync(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    docs = [Document(page_content=t) for t in CORPUS]
    reranker = MaxSimReranker(embedding=fake, top_n=4)
    assert await reranker.acompress_documents(docs, "lift of airfoils") == reranker.compress_documents(
        docs, "lift of airfoils"
    )


def test_invalid_configuration_is_rejected(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    with pytest.raises(ValueError, match="top_n"):
        MaxSimReranker(embedding=fake, top_n=0)
    with pytest.raises(ConfigurationError, match="multivec embedder"):
        MaxSimReranker(embedding="colbert")


def test_image_documents_are_scored_from_their_source(fake: DeterministicFakeMultiVectorEmbedding, tmp_path) -> None:
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (16, 16), (250, 0, 0)).save(red)
    Image.new("RGB", (16, 16), (0, 0, 250)).save(blue)
    docs = [Document(page_content=str(p), metadata={"modality": "image", "source": str(p)}) for p in (blue, red)] + [
        Document(page_content="red apples")
    ]
    out = MaxSimReranker(embedding=fake, top_n=None).compress_documents(docs, "red apples")
    assert out[0].page_content == "red apples"
    assert {d.page_content for d in out[1:]} == {str(red), str(blue)}
    with pytest.raises(InvalidInputError, match="source"):
        MaxSimReranker(embedding=fake).compress_documents(
            [Document(page_content="", metadata={"modality": "image"})], "q"
        )


def test_reranks_a_bm25_retriever_in_a_compression_pipeline(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    # BM25 favours the one document with the rare word "hypersonic"; MaxSim favours covering more query words
    query = "hypersonic wing stall at high angle of attack"
    bm25 = BM25Retriever.from_texts(CORPUS, metadatas=[{"n": i} for i in range(len(CORPUS))], k=4)
    bm25_order = [d.page_content for d in bm25.invoke(query)]
    pipeline = ContextualCompressionRetriever(
        base_compressor=MaxSimReranker(embedding=fake, top_n=2), base_retriever=bm25
    )
    out = [d.page_content for d in pipeline.invoke(query)]
    assert bm25_order[:2] == [CORPUS[0], CORPUS[3]]
    assert out == [CORPUS[0], CORPUS[2]] == _expected_order(fake, query, bm25_order)[:2]


async def test_async_pipeline(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    bm25 = BM25Retriever.from_texts(CORPUS, k=5)
    pipeline = ContextualCompressionRetriever(
        base_compressor=MaxSimReranker(embedding=fake, top_n=1), base_retriever=bm25
    )
    assert [d.page_content for d in await pipeline.ainvoke("heat transfer in hypersonic flow")] == [CORPUS[3]]


class _SizeRecordingFake(DeterministicFakeMultiVectorEmbedding):
    """The fake embedder, noting the size of every image it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(dim=16)
        self.sizes: list[tuple[int, int]] = []

    def _embed_images(self, images: list[Image.Image]) -> list[np.ndarray]:
        self.sizes += [image.size for image in images]
        return super()._embed_images(images)


def test_pdf_pages_are_rendered_at_the_dpi_they_were_indexed_with(tmp_path) -> None:
    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "memo.pdf", ["Wing flutter"])  # US letter: 8.5 x 11 inches
    page = {"modality": "image", "source": str(pdf), "page": 1}
    docs = [Document(str(pdf), metadata={**page, "page_dpi": 36}), Document(str(pdf), metadata=page)]
    recorder = _SizeRecordingFake()
    MaxSimReranker(embedding=recorder, top_n=None, cache=False).compress_documents(docs, "flutter")
    assert recorder.sizes == [(306, 396), (1275, 1651)]  # its own dpi; the default 150 for a page without one
    recorder.sizes.clear()
    MaxSimReranker(embedding=recorder, top_n=None, pdf_dpi=72, cache=False).compress_documents(docs, "flutter")
    assert recorder.sizes == [(612, 792), (612, 792)]  # an explicit pdf_dpi wins
