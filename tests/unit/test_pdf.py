"""multivec.pdf: rendering, text layers, typed errors, and adding PDF pages to a real embedded store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding, MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError, MissingDependencyError
from multivec.items import uses_images
from multivec.pdf import count_pages, file_sha256, page_id, pdf_items, read_pdf
from multivec.store import MultiVectorStore
from multivec.testing import write_text_pdf
from tests.support.pdfs import CORRUPT_PDF, write_encrypted_pdf
from tests.support.rankings import assert_same_ranking

PAGES = ["Wing flutter at transonic speed", "Shock waves on a flat plate\nsecond line", ""]


class TextOnly(MultiVectorBaseEmbedding):
    """A text-only embedder (the fake's text vectors): PDFs must be indexed by their text layer."""

    def __init__(self) -> None:
        super().__init__(model_name="text-only-fake")
        self._fake = DeterministicFakeMultiVectorEmbedding(dim=16)

    @property
    def dim(self) -> int:
        return 16

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        return self._fake._embed_texts(texts, is_query=is_query)


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return write_text_pdf(tmp_path / "doc.pdf", PAGES)


def test_pages_are_rendered_at_the_requested_dpi(pdf: Path) -> None:
    at_72 = read_pdf(pdf, dpi=72)
    at_144 = read_pdf(pdf, dpi=144)
    assert [page.page for page in at_72] == [1, 2, 3]
    assert all(page.image is not None and page.image.mode == "RGB" for page in at_72 + at_144)
    assert {page.image.size for page in at_72 if page.image} == {(612, 792)}  # US Letter in points
    assert {page.image.size for page in at_144 if page.image} == {(1224, 1584)}
    assert count_pages(pdf) == 3


def test_rendered_page_shows_ink_where_text_is(pdf: Path) -> None:
    first, _, blank = read_pdf(pdf, dpi=50)
    assert first.image is not None and blank.image is not None
    assert np.asarray(first.image).min() < 128  # dark glyph pixels
    assert np.asarray(blank.image).min() == 255  # an empty page is white


def test_text_layer_is_extracted_per_page(pdf: Path) -> None:
    pages = read_pdf(pdf, render=False)
    assert [page.text for page in pages] == [
        "Wing flutter at transonic speed",
        "Shock waves on a flat plate\nsecond line",
        "",
    ]
    assert all(page.image is None for page in pages)
    assert all(page.source == str(pdf) for page in pages)


def test_encrypted_pdf_raises_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    path = write_encrypted_pdf(tmp_path / "secret.pdf")
    with pytest.raises(InvalidInputError, match=r"secret\.pdf.*encrypted"):
        read_pdf(path)


@pytest.mark.parametrize("data", [CORRUPT_PDF, b"", b"just text, not a PDF"])
def test_corrupt_pdf_raises_a_typed_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(InvalidInputError, match=r"broken\.pdf.* not a readable PDF"):
        count_pages(path)


def test_missing_file_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such PDF file"):
        read_pdf(tmp_path / "absent.pdf")


def test_missing_pypdfium2_names_the_pdf_extra(pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # import pypdfium2 now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"multivec-retrieval\[pdf\]") as info:
        read_pdf(pdf)
    assert info.value.extra == "pdf"


@pytest.mark.parametrize("dpi", [0, -10, 601, "150", True])
def test_bad_dpi_is_a_configuration_error(pdf: Path, dpi: object) -> None:
    with pytest.raises(ConfigurationError, match="dpi"):
        read_pdf(pdf, dpi=dpi)  # type: ignore[arg-type]


def test_uses_images_follows_the_embedder() -> None:
    assert uses_images(DeterministicFakeMultiVectorEmbedding(dim=8))
    assert not uses_images(TextOnly())
    remote = DeterministicFakeMultiVectorEmbedding(dim=8)
    remote.supports_images = False  # type: ignore[attr-defined]
    assert not uses_images(remote)


def test_pdf_items_text_mode_skips_pages_without_text(pdf: Path) -> None:
    with pytest.warns(UserWarning, match="page 3 has no text layer"):
        docs = pdf_items(pdf, with_images=False, metadata={"topic": "aero"})
    digest = file_sha256(pdf)
    assert [d.id for d in docs] == [page_id(digest, 1), page_id(digest, 2)]
    assert docs[0].content == "Wing flutter at transonic speed"
    assert docs[1].row() == {
        "content": "Shock waves on a flat plate\nsecond line",
        "metadata": {"topic": "aero"},
        "modality": "text",
        "source": str(pdf),
        "page": 2,
    }


def test_pdf_items_image_mode_keeps_the_text_layer_in_metadata(pdf: Path) -> None:
    docs = pdf_items(pdf, with_images=True, dpi=36)
    assert len(docs) == 3
    row = docs[0].row()
    assert (row["modality"], row["content"], row["source"], row["page"]) == ("image", str(pdf), str(pdf), 1)
    assert row["metadata"] == {"page_text": "Wing flutter at transonic speed", "page_dpi": 36}
    assert docs[2].content.size == (306, 396)  # type: ignore[union-attr]


def test_text_only_embedder_refuses_a_pdf_without_text(tmp_path: Path) -> None:
    blank = write_text_pdf(tmp_path / "scan.pdf", ["", ""])
    with pytest.raises(InvalidInputError, match=r"scan\.pdf.*no text layer"):
        pdf_items(blank, with_images=False)


def test_add_pdfs_images_store_source_and_page(pdf: Path) -> None:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
        ids = store.add_pdfs([pdf], dpi=40, metadatas=[{"topic": "aero"}])
        assert store.count() == 3
        records = store.get(ids)
        assert [(r.source, r.page, r.modality) for r in records] == [(str(pdf), n, "image") for n in (1, 2, 3)]
        assert records[0].metadata == {"topic": "aero", "page_text": "Wing flutter at transonic speed", "page_dpi": 40}
        assert store.add_pdfs([pdf], dpi=40) == ids  # same file again: same ids, no duplicates
        assert store.count() == 3


def test_add_pdfs_text_only_embedder_indexes_the_text_layer(pdf: Path) -> None:
    with MultiVectorStore(TextOnly()) as store:
        with pytest.warns(UserWarning, match="page 3"):
            store.add_pdfs([pdf])
        hits = store.search("shock waves", k=2, exact=True)
        assert (hits[0].page, hits[0].modality, hits[0].source) == (2, "text", str(pdf))
        assert hits[0].content == "Shock waves on a flat plate\nsecond line"


def test_add_pdfs_checks_every_file_before_writing(pdf: Path, tmp_path: Path) -> None:
    secret = write_encrypted_pdf(tmp_path / "secret.pdf")
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
        with pytest.raises(InvalidInputError, match=r"paths\[1\].*secret\.pdf.*encrypted") as info:
            store.add_pdfs([pdf, secret])
        assert info.value.index == 1
        assert store.count() == 0
        with pytest.raises(InvalidInputError, match="metadatas"):
            store.add_pdfs([pdf], metadatas=[{}, {}])
        with pytest.raises(InvalidInputError, match="list"):
            store.add_pdfs(str(pdf))  # type: ignore[arg-type]
        assert store.count() == 0


async def test_aadd_pdfs_matches_add_pdfs(pdf: Path) -> None:
    embedding = DeterministicFakeMultiVectorEmbedding(dim=16)
    with MultiVectorStore(embedding) as sync_store:
        sync_ids = sync_store.add_pdfs([pdf], dpi=40)
        sync_hits = sync_store.search("flutter", k=3, exact=True)
    async with MultiVectorStore(embedding) as async_store:
        async_ids = await async_store.aadd_pdfs([pdf], dpi=40)
        async_hits = await async_store.asearch("flutter", k=3, exact=True)
    assert async_ids == sync_ids
    # pages of a fake-embedded PDF can tie, and ties have no defined order
    assert_same_ranking([(h.id, h.score) for h in async_hits], [(h.id, h.score) for h in sync_hits])


def test_write_text_pdf_wraps_long_lines(tmp_path: Path) -> None:
    long_line = " ".join(["aerofoil"] * 40)
    path = write_text_pdf(tmp_path / "wrap.pdf", [long_line], wrap=30)
    (page,) = read_pdf(path, render=False)
    assert page.text.split() == long_line.split()
    assert page.text.count("\n") >= 10
    with pytest.raises(InvalidInputError):
        write_text_pdf(tmp_path / "none.pdf", [])


async def test_store_add_pdfs_sync_and_async_give_the_same_pages(pdf: Path) -> None:
    embedding = DeterministicFakeMultiVectorEmbedding(dim=16)
    with MultiVectorStore(embedding) as store:
        ids = store.add_pdfs([pdf], dpi=40, metadatas=[{"shelf": 1}])
        records = store.get(ids)
        assert [r.page for r in records] == list(range(1, len(ids) + 1))
        assert all(r.modality == "image" and r.metadata["shelf"] == 1 for r in records)
    async with MultiVectorStore(embedding) as store:
        assert await store.aadd_pdfs([pdf], dpi=40) == ids
