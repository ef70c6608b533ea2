"""QdrantMultiVectorStore.explain: a search result goes straight back in, and its breakdown adds up to its score."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.testing import write_text_pdf
from tests.langchain.conftest import open_store


@pytest.fixture
def store(backend: str, tmp_path: Path):
    embedding = MultiVectorEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=32, grid=4))
    with open_store(backend, tmp_path, embedding) as opened:
        yield opened


def test_text_result_explains_its_own_score(store: QdrantMultiVectorStore) -> None:
    store.add_texts(["pears and red apples", "blue cars"], ids=["fruit", "cars"])
    [(document, score)] = store.similarity_search_with_score("red apples", k=1)
    ex = store.explain("red apples", document)
    assert ex.record is not None and ex.record.id == document.id == "fruit"
    assert ex.score == pytest.approx(score, abs=1e-4)
    assert [(m.label, m.document_label) for m in ex.matches()] == [("red", "red"), ("apples", "apples")]
    assert [(w.text, w.document_words) for w in ex.words()] == [("red", ("red",)), ("apples", ("apples",))]
    assert store.explain("red apples", "fruit").score == pytest.approx(ex.score)


def test_pdf_page_result_carries_what_the_similarity_map_needs(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    pdf = write_text_pdf(tmp_path / "report.pdf", ["Wing flutter", "Shock waves"])
    store.add_pdfs([pdf], dpi=40)
    [(page, score)] = store.similarity_search_with_score("shock waves", k=1)
    assert page.metadata["source"] == str(pdf) and page.metadata["page"] in (1, 2)
    ex = store.explain("shock waves", page, dpi=40)
    assert ex.score == pytest.approx(score, abs=1e-4)
    assert ex.record is not None and ex.record.page == page.metadata["page"]
    assert ex.image is not None and ex.grid is not None and ex.heatmaps(ex.grid).shape == (2, 4, 4)
    out = tmp_path / "map.png"
    fig = ex.plot(out, tokens=["Waves"])
    assert out.stat().st_size > 1000
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["all words", "waves"]
    assert len(fig.axes[1].patches) == 1  # the patch "waves" matched, outlined
    with pytest.raises(InvalidInputError, match="its words are 'shock', 'waves'"):
        ex.plot(tokens=["lava"])


async def test_async_twin(store: QdrantMultiVectorStore) -> None:
    await store.aadd_texts(["pears and red apples"], ids=["fruit"])
    [document] = await store.asimilarity_search("apples", k=1)
    sync, asynchronous = store.explain("apples", document), await store.aexplain("apples", document)
    assert asynchronous.score == pytest.approx(sync.score) and asynchronous.record == sync.record


def test_documents_that_cannot_be_explained(store: QdrantMultiVectorStore) -> None:
    store.add_texts(["red apples"], ids=["fruit"])
    with pytest.raises(InvalidInputError, match="no id"):
        store.explain("apples", Document("red apples"))
    with pytest.raises(InvalidInputError, match="no record with id 'gone'"):
        store.explain("apples", Document("red apples", id="gone"))
    with pytest.raises(InvalidInputError, match="pass a Document"):
        store.explain("apples", 42)  # type: ignore[arg-type]
