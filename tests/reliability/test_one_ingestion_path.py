"""Every entry point writes through one ingestion flow (multivec.items + MultiVectorStore.add_items): a batch that
fails anywhere (a PDF page the embedder refuses, one bad image node, one bad LangChain id) stores nothing and raises
a typed error naming the item, sync and async; sources do not import the store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.items import Item
from multivec.store import MultiVectorStore
from multivec.testing import write_text_pdf
from multivec.types import ImageInput

pytest.importorskip("pypdfium2")


class RefusesBlankImages(DeterministicFakeMultiVectorEmbedding):
    """The fake embedder, refusing all-white images (a blank PDF page) the way a real embedder refuses an image
    it cannot read: an InvalidInputError with the position in its input list."""

    def load_images(self, images: Sequence[ImageInput]) -> list[Image.Image]:
        decoded = super().load_images(images)
        for j, image in enumerate(decoded):
            if image.convert("L").getextrema() == (255, 255):
                raise InvalidInputError(f"images[{j}] is blank", index=j)
        return decoded


def _pdf_with_a_blank_third_page(tmp_path: Path) -> Path:
    return write_text_pdf(tmp_path / "report.pdf", ["Wing flutter", "Shock waves", "", "Boundary layers"])


@pytest.mark.parametrize("entry", ["store", "astore", "langchain", "alangchain", "llama_index", "allama_index"])
async def test_a_pdf_whose_third_page_cannot_be_embedded_stores_nothing(entry: str, tmp_path: Path) -> None:
    from langchain_multivec import QdrantMultiVectorStore as LangChainStore
    from llama_index_multivec import QdrantMultiVectorStore as LlamaStore

    other = write_text_pdf(tmp_path / "other.pdf", ["Heat transfer"])
    pdf = _pdf_with_a_blank_third_page(tmp_path)
    embedding = RefusesBlankImages(dim=16)
    with MultiVectorStore(embedding, path=tmp_path / "store") as store:
        adapter = {"langchain": LangChainStore, "llama_index": LlamaStore}.get(entry.removeprefix("a"))
        target = store if adapter is None else adapter.from_store(store)  # type: ignore[attr-defined]
        with pytest.raises(InvalidInputError) as info:
            if entry.startswith("a"):
                await target.aadd_pdfs([other, pdf], dpi=20)
            else:
                target.add_pdfs([other, pdf], dpi=20)
        assert "paths[1]" in str(info.value) and "report.pdf" in str(info.value) and "page 3" in str(info.value)
        assert "images[2] is blank" in str(info.value)
        assert store.count() == 0  # not even the first file's page, nor pages 1-2 of the second


@pytest.mark.parametrize("run_async", [False, True])
async def test_a_node_list_with_one_bad_image_stores_nothing(run_async: bool, tmp_path: Path) -> None:
    from llama_index.core.schema import ImageNode, TextNode

    from llama_index_multivec import QdrantMultiVectorStore

    good = tmp_path / "red.png"
    Image.new("RGB", (8, 8), "red").save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    nodes = [
        TextNode(id_="t", text="Wing flutter"),
        ImageNode(id_="good", image_path=str(good)),
        ImageNode(id_="bad", image_path=str(broken)),
        TextNode(id_="t2", text="Shock waves"),
    ]
    with QdrantMultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), location=":memory:") as store:
        with pytest.raises(InvalidInputError) as info:
            if run_async:
                await store.async_add(nodes)
            else:
                store.add(nodes)
        assert str(info.value).startswith("nodes[2] (ImageNode 'bad')") and info.value.index == 2
        assert store.store.count() == 0
        assert sorted(store.add(nodes[:2] + nodes[3:])) == ["good", "t", "t2"]  # the rest goes in, as one write


@pytest.mark.parametrize("run_async", [False, True])
async def test_a_langchain_documents_list_with_one_bad_id_stores_nothing(run_async: bool) -> None:
    from langchain_core.documents import Document

    from langchain_multivec import QdrantMultiVectorStore

    documents = [Document("Wing flutter", id="a"), Document("Shock waves", id="b\ud800"), Document("Heat", id="c")]
    with QdrantMultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), location=":memory:") as store:
        with pytest.raises(InvalidInputError, match=r"ids\[1\].*lone surrogate") as info:
            if run_async:
                await store.aadd_documents(documents)
            else:
                store.add_documents(documents)
        assert info.value.index == 1
        assert store.store.count() == 0


@pytest.mark.parametrize("run_async", [False, True])
async def test_mixed_items_name_the_bad_one_and_store_nothing(run_async: bool, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    items = [
        Item.text("Wing flutter", id="t1"),
        Item.image(Image.new("RGB", (8, 8), "red"), id="red"),
        Item.text("Shock waves", id="t2"),
        Item.image(broken, id="broken", label="the broken scan"),
    ]
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path=tmp_path / "store") as store:
        with pytest.raises(InvalidInputError) as info:
            await store.aadd_items(items) if run_async else store.add_items(items)
        assert str(info.value).startswith("the broken scan (id 'broken'): images[1]") and info.value.index == 3
        assert store.count() == 0
        for bad, named in [
            ([Item.text("one", id="x"), Item.text("two", id="x")], r"items\[1\] has id 'x', as items\[0\]"),
            ([Item.text("  ")], r"items\[0\] has no text"),
            ([Item.text("a", metadata={"k": float("nan")})], r"items\[0\] metadata"),
            ([Item("a", "audio")], r"items\[0\] has modality 'audio'"),  # type: ignore[arg-type]
            ([Item.text("a"), "b"], r"items\[1\] is str"),
            (Item.text("a"), "wrap a single item"),
        ]:
            with pytest.raises(InvalidInputError, match=named):
                store.add_items(bad)  # type: ignore[arg-type]
        assert store.count() == 0


def test_a_text_only_embedder_refuses_image_items_before_embedding() -> None:
    from multivec.embeddings import ColBERTEmbeddings, offline_minilm_path

    path = offline_minilm_path()
    if path is None:
        pytest.skip("the offline MiniLM encoder is not installed here")
    with MultiVectorStore(ColBERTEmbeddings(path)) as store:
        with pytest.raises(InvalidInputError, match=r"items\[1\] is an image but .* embeds text only"):
            store.add_items([Item.text("Wing flutter"), Item.image(Image.new("RGB", (8, 8)))])
        assert store.count() == 0


def test_the_cli_skips_only_the_file_whose_item_is_refused(tmp_path: Path) -> None:
    from multivec.cli.indexing import index_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Wing flutter at transonic speed")
    (docs / "b.txt").write_text("Shock waves on a flat plate")
    _pdf_with_a_blank_third_page(docs)
    with MultiVectorStore(RefusesBlankImages(dim=16), path=tmp_path / "store") as store:
        report = index_paths(store, [docs], dpi=20, progress=False)
        [skipped] = report.skipped
        assert Path(skipped.path).name == "report.pdf"
        assert skipped.reason.startswith("page 3 (id '") and skipped.reason.endswith("'): images[2] is blank")
        assert report.files == 2 and store.count() == 2
        assert {r.source for r in store.scroll()} == {str(docs / "a.txt"), str(docs / "b.txt")}


def test_sources_do_not_import_the_store() -> None:
    code = (
        "import sys, multivec.pdf, multivec.items, multivec.rerank;"
        "print(sorted(m for m in sys.modules if m.startswith('multivec.store')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
