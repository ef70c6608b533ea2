"""explain() on real (tiny) models: patch grids of ColPali and ColQwen2, token labels, store scores and the PNGs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from multivec.errors import InvalidInputError
from multivec.explain import explain, explain_record
from multivec.plot import plot_heatmaps, plot_token_table
from multivec.scoring import maxsim
from multivec.store import MultiVectorStore
from tests.local.conftest import png_bytes

PAGE_SIZES = [(120, 90), (64, 200)]


def _page(size: tuple[int, int]) -> Image.Image:
    cells = (np.indices((size[1], size[0])).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([cells, 128 - cells // 2, 255 - cells], axis=-1))


@pytest.mark.parametrize("size", PAGE_SIZES)
def test_colpali_grid_is_the_fixed_square_of_leading_image_tokens(colpali: Any, size: tuple[int, int]) -> None:
    page = _page(size)
    grid = colpali.image_patch_grid(page)
    image_tokens = int(colpali._processor.image_seq_length)
    side = math.isqrt(image_tokens)
    assert (grid.rows, grid.cols) == (side, side)  # independent of the page size
    assert grid.row_indices == tuple(range(image_tokens))  # image tokens come first
    assert len(colpali.embed_image(page)) > grid.n_patches  # the prompt tokens follow them


@pytest.mark.parametrize("size", PAGE_SIZES)
def test_colqwen2_grid_follows_the_page_shape(colqwen2: Any, size: tuple[int, int]) -> None:
    page = _page(size)
    grid = colqwen2.image_patch_grid(page)
    thw = colqwen2._processor.process_images([page])["image_grid_thw"][0].tolist()
    merge = colqwen2._processor.image_processor.merge_size
    assert (grid.rows, grid.cols) == (thw[1] // merge, thw[2] // merge)
    assert (grid.rows > grid.cols) == (size[1] > size[0])  # portrait pages get more rows than columns
    vectors = colqwen2.embed_image(page)
    assert max(grid.row_indices) < len(vectors)
    pad = colqwen2._processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    ids = colqwen2._processor.process_images([page])["input_ids"][0]
    assert list(grid.row_indices) == (ids == pad).nonzero().flatten().tolist()


@pytest.mark.parametrize("model", ["colpali", "colqwen2"])
def test_heatmaps_match_the_patch_grid_and_png_is_written(model: str, request: pytest.FixtureRequest, tmp_path: Path):
    emb = request.getfixturevalue(model)
    page = _page((120, 90))
    ex = explain("where is the chart?", page, embedding=emb)
    grid = emb.image_patch_grid(page)
    query = emb.embed_query("where is the chart?")
    assert ex.heatmaps(grid).shape == (len(query), grid.rows, grid.cols)
    assert ex.combined_heatmap(grid).shape == (grid.rows, grid.cols)
    assert ex.score == pytest.approx(maxsim(query, emb.embed_image(page)), abs=1e-4)
    assert ex.query_tokens is not None and len(ex.query_tokens) == len(query)
    markers = ("Ġ", "▁")  # byte-level BPE (Qwen2) and SentencePiece (PaliGemma) word-boundary markers
    assert not any(t.startswith(markers) and t.strip("".join(markers)) for t in ex.query_tokens), ex.query_tokens
    raw = emb._processor.tokenizer.convert_ids_to_tokens(
        emb._processor.process_queries(["where is the chart?"])["input_ids"][0]
    )
    assert any(str(t).startswith(markers) for t in raw)  # the tokenizer does mark words, so the cleanup is tested
    out = tmp_path / f"{model}.png"
    plot_heatmaps(ex, page, grid, out)
    with Image.open(out) as image:
        assert image.format == "PNG" and out.stat().st_size > 1000


@pytest.mark.parametrize("model", ["colpali", "colqwen2"])
def test_stored_page_explanation_sums_to_the_store_score(model: str, request: pytest.FixtureRequest, tmp_path: Path):
    emb = request.getfixturevalue(model)
    with MultiVectorStore(emb, path=tmp_path / "db") as store:
        store.add_images([png_bytes((96, 64)), _page((120, 90))], ids=["p1", "p2"])
        hits = {h.id: h.score for h in store.search("a red page", k=2, exact=True)}
        for item_id in ("p1", "p2"):
            ex = explain_record(store, "a red page", item_id)
            assert float(ex.contributions.sum()) == pytest.approx(hits[item_id], abs=1e-3)


def test_pdf_page_explained_at_the_indexing_dpi_maps_and_at_another_says_why_not(colqwen2: Any, tmp_path: Path):
    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "memo.pdf", ["Quarterly revenue chart"])
    with MultiVectorStore(colqwen2, path=tmp_path / "db") as store:
        [page] = store.add_pdfs([pdf], dpi=20)
        same = explain_record(store, "revenue", page)  # the dpi add_pdfs recorded for the page
        finer = explain_record(store, "revenue", page, dpi=150)
    assert same.grid is not None and same.image_note is None
    assert same.heatmaps(same.grid).shape[1:] == (same.grid.rows, same.grid.cols)
    assert finer.grid is None and finer.image is not None
    assert finer.image_note is not None and "pass the dpi the pages were indexed with" in finer.image_note
    assert finer.score == pytest.approx(same.score)


def test_colbert_token_labels_and_table_png(minilm: Any, tmp_path: Path) -> None:
    ex = explain("boundary layer transition", "transition of the boundary layer on a flat plate", embedding=minilm)
    assert ex.query_tokens == tuple(minilm.query_tokens("boundary layer transition"))
    assert "boundary" in ex.query_tokens and len(ex.query_tokens) == len(
        minilm.embed_query("boundary layer transition")
    )
    document = "transition of the boundary layer on a flat plate"
    assert ex.document_tokens == tuple(minilm.document_tokens(document))
    assert len(ex.document_tokens) == len(minilm.embed_text(document))
    matched = {m.label: m.document_label for m in ex.matches()}
    assert matched["boundary"] == "boundary" and matched["transition"] == "transition"
    out = tmp_path / "table.png"
    plot_token_table(ex, out)
    assert out.stat().st_size > 1000


def test_stored_text_record_names_the_matched_words(minilm: Any, tmp_path: Path) -> None:
    with MultiVectorStore(minilm, path=tmp_path / "db") as store:
        store.add_texts(["Laminar flow over a wing becomes turbulent downstream."], ids=["w"])
        ex = explain_record(store, "turbulent wing flow", "w")
    matched = {m.label: m.document_label for m in ex.matches()}
    assert matched["turbulent"] == "turbulent" and matched["wing"] == "wing"


def test_text_only_embedder_refuses_an_image(minilm: Any) -> None:
    with pytest.raises(InvalidInputError, match="text only"):
        explain("a query", _page((32, 32)), embedding=minilm)


@pytest.mark.parametrize("model", ["colpali", "colqwen2"])
def test_page_models_query_words_leave_out_prompt_and_augmentation(
    model: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from multivec.plot import close

    emb = request.getfixturevalue(model)
    page = _page((120, 90))
    ex = explain("Where is the chart?", page, embedding=emb)
    assert [w.text for w in ex.words()] == ["Where", "is", "the", "chart"]  # no "Query", no <pad>/<|endoftext|>
    tokenizer = emb._processor.tokenizer
    specials = set(tokenizer.all_special_tokens)
    kept = {i for w in ex.words() for i in w.token_indices}
    assert not any(ex.query_tokens[i] in specials for i in kept)
    others = ex.other_tokens()
    assert sum(ex.query_tokens[i] in specials for i in others) >= 10  # the query augmentation tokens
    rest = float(ex.contributions[list(others)].sum())
    assert sum(w.contribution for w in ex.words()) + rest == pytest.approx(ex.score, abs=1e-4)
    grid = emb.image_patch_grid(page)
    fig = plot_heatmaps(ex, page, grid, tmp_path / "top.png", top=2)
    titles = [ax.get_title().splitlines()[0] for ax in fig.axes]
    assert titles == ["all words", *(f"{i}. {w.text}" for i, w in enumerate(ex.top_words(2), 1))]
    for ax, word in zip(fig.axes[1:], ex.top_words(2), strict=True):
        n_patches = len({grid.position(r) for r in word.document_indices} - {None})
        assert len(ax.patches) == n_patches  # an outline per matched page patch
        prompt = any(grid.position(r) is None for r in word.document_indices)
        assert ("prompt text" in ax.get_title()) == prompt
    close(fig)


def test_colbert_sub_words_merge_into_query_and_document_words(minilm: Any, tmp_path: Path) -> None:
    from multivec.plot import close

    query, document = "Unbelievably turbulent wingtips?", "Swept wingtips stall first in turbulent flow."
    ex = explain(query, document, embedding=minilm)
    assert any(t.startswith("##") for t in ex.query_tokens)  # MiniLM splits these words, so merging is tested
    words = ex.words()
    assert [w.text for w in words] == ["Unbelievably", "turbulent", "wingtips"]
    assert all(len(w.token_indices) > 1 for w in words if w.text != "turbulent")
    assert dict((w.text, w.document_words) for w in words)["turbulent"] == ("turbulent",)
    assert "wingtips" in dict((w.text, w.document_words) for w in words)["wingtips"]
    fig = plot_token_table(ex, tmp_path / "words.png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(w.text for w in words)
    close(fig)
