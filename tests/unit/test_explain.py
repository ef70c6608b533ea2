"""explain(): the MaxSim breakdown, stored-record explanations on both store backends, and the PNG plots."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import multivec
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import DimensionMismatchError, InvalidInputError, MissingDependencyError
from multivec.explain import Explanation, aexplain_record, explain, explain_record
from multivec.patch_grid import PatchGrid
from multivec.scoring import maxsim, normalize_rows
from multivec.store import MultiVectorStore
from tests.store.conftest import FakeSingleVectorEmbedding

BACKENDS = ["edge", "memory"]


def unit(rows: int, dim: int, seed: int) -> np.ndarray:
    return normalize_rows(np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32))


def checkerboard(size: int = 64) -> Image.Image:
    cells = (np.indices((size, size)).sum(axis=0) // 16 % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([cells, 255 - cells, cells], axis=-1))


@pytest.fixture
def fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=32, grid=4)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, fake: DeterministicFakeMultiVectorEmbedding):
    options = {"path": tmp_path / "db"} if request.param == "edge" else {"location": ":memory:"}
    with MultiVectorStore(fake, **options) as opened:
        yield opened


# -- the breakdown -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contributions_sum_to_maxsim_and_indices_are_argmax(seed: int) -> None:
    q, d = unit(5, 16, seed), unit(9, 16, seed + 100)
    ex = explain(q, d)
    sims = q @ d.T
    assert isinstance(ex, Explanation)
    assert ex.similarities.shape == (5, 9)
    np.testing.assert_allclose(ex.similarities, sims, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ex.best_indices, sims.argmax(axis=1))
    np.testing.assert_allclose(ex.best_similarities, sims.max(axis=1), rtol=1e-5, atol=1e-6)
    assert ex.score == pytest.approx(maxsim(q, d), abs=1e-5)
    assert float(ex.contributions.sum()) == pytest.approx(ex.score, abs=1e-5)
    assert [m.document_index for m in ex.matches()] == ex.best_indices.tolist()
    assert ex.query_tokens is None and ex.labels() == [f"#{i}" for i in range(5)]


def test_unnormalised_vectors_are_normalised_like_the_store() -> None:
    q, d = unit(3, 8, 0), unit(4, 8, 1)
    ex = explain(q * 7.0, d * np.arange(1, 5, dtype=np.float32)[:, None])
    assert ex.score == pytest.approx(maxsim(q, d), abs=1e-5)


def test_text_query_and_text_document_carry_token_labels(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    ex = explain("Red apples, green pears", "pears and red apples", embedding=fake)
    assert ex.query_tokens == ("red", "apples", "green", "pears")
    doc = fake.embed_text("pears and red apples")
    assert ex.best_indices.tolist()[:2] == [2, 3] and ex.best_indices[3] == 0
    assert ex.score == pytest.approx(maxsim(fake.embed_query("Red apples, green pears"), doc), abs=1e-5)
    assert ex.relevance == pytest.approx((ex.score / 4 + 1) / 2)
    assert multivec.explain is explain


def test_image_document_and_heatmaps_follow_the_grid(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    page = checkerboard()
    ex = explain("red apples", page, embedding=fake)
    grid = fake.image_patch_grid(page)
    assert grid == PatchGrid(4, 4, tuple(range(16)))
    maps = ex.heatmaps(grid)
    assert maps.shape == (2, 4, 4)
    np.testing.assert_allclose(maps.reshape(2, 16), ex.similarities)
    np.testing.assert_allclose(ex.combined_heatmap(grid), maps.mean(axis=0))
    for image in (page, _png(page)):
        assert explain("red apples", image, embedding=fake).score == pytest.approx(ex.score, abs=1e-6)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# -- stored records ------------------------------------------------------------------------------------------------


def test_get_vectors_returns_the_stored_multivectors(store: MultiVectorStore) -> None:
    vectors = [unit(3, 32, 0) * 2.0, unit(5, 32, 1)]
    store.add_embeddings(vectors, ids=["a", "b"])
    got = store.get_vectors(["b", "missing", "a", 7])
    assert [v.shape for v in got] == [(5, 32), (3, 32)]
    assert all(v.dtype == np.float32 for v in got)
    np.testing.assert_allclose(got[0], vectors[1], atol=1e-6)
    np.testing.assert_allclose(got[1], normalize_rows(vectors[0]), atol=1e-6)
    assert store.get_vectors([]) == []
    with pytest.raises(InvalidInputError):
        store.get_vectors("a")


def test_contributions_sum_to_the_stores_exact_maxsim_score(store: MultiVectorStore) -> None:
    texts = ["red apples and green pears", "blue cars on a red road", "pears are sweet"]
    ids = store.add_texts(texts, ids=["1", "2", "3"])
    query = "red pears"
    hits = {h.id: h for h in store.search(query, k=3, exact=True)}
    for item_id in ids:
        ex = explain_record(store, query, item_id)
        assert ex.query_tokens == ("red", "pears")
        assert float(ex.contributions.sum()) == pytest.approx(hits[item_id].score, abs=1e-4)
        assert ex.relevance == pytest.approx(hits[item_id].relevance, abs=1e-4)


async def test_async_record_explanation_matches_sync(store: MultiVectorStore) -> None:
    await store.aadd_texts(["red apples", "blue cars"], ids=["a", "b"])
    [vectors] = await store.aget_vectors(["b"])
    assert vectors.shape == (2, 32)
    sync, async_ = explain_record(store, "red cars", "b"), await aexplain_record(store, "red cars", "b")
    np.testing.assert_allclose(sync.similarities, async_.similarities)
    hits = {h.id: h.score for h in await store.asearch("red cars", k=2, exact=True)}
    assert async_.score == pytest.approx(hits["b"], abs=1e-4)


def test_image_record_explanation_matches_store_score(store: MultiVectorStore, fake) -> None:
    page = checkerboard()
    store.add_images([page], ids=["page"])
    ex = explain_record(store, "red apples", "page")
    assert ex.heatmaps(fake.image_patch_grid(page)).shape == (2, 4, 4)
    assert ex.score == pytest.approx(store.search("red apples", k=1, exact=True)[0].score, abs=1e-4)


def test_record_errors(store: MultiVectorStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no record with id 'nope'"):
        explain_record(store, "red", "nope")
    with pytest.raises(InvalidInputError, match="MultiVectorStore"):
        explain_record("not a store", "red", "a")  # type: ignore[arg-type]
    with MultiVectorStore(FakeSingleVectorEmbedding(dim=16), path=tmp_path / "single") as single:
        single.add_texts(["red"], ids=["a"])
        assert single.get_vectors(["a"])[0].shape == (16,)
        with pytest.raises(InvalidInputError, match="single-vector"):
            explain_record(single, "red", "a")


# -- bad inputs ----------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_typed_errors(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    q = unit(2, 32, 0)
    with pytest.raises(InvalidInputError, match="needs embedding="):
        explain("red apples", q)
    with pytest.raises(InvalidInputError, match="needs embedding="):
        explain(q, "a text document")
    with pytest.raises(InvalidInputError, match="query is int"):
        explain(3, q, embedding=fake)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="document is list"):
        explain(q, [1, 2], embedding=fake)  # type: ignore[arg-type]
    with pytest.raises(DimensionMismatchError):
        explain(q, unit(3, 16, 1))
    with pytest.raises(InvalidInputError, match="shape"):
        explain(np.zeros((0, 32), np.float32), q)
    with pytest.raises(InvalidInputError, match="finite"):
        explain(np.full((1, 32), np.nan, np.float32), q)
    with pytest.raises(InvalidInputError, match="multivec embedder"):
        explain("red", q, embedding="fake")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="single-vector"):
        explain("red", q, embedding=FakeSingleVectorEmbedding(dim=32))
    with pytest.raises(InvalidInputError, match="text only"):
        explain("red", checkerboard(), embedding=_TextOnly())
    ex = explain(q, unit(4, 32, 1))
    with pytest.raises(InvalidInputError, match="rows up to 8"):
        ex.heatmaps(PatchGrid(3, 3, tuple(range(9))))
    with pytest.raises(InvalidInputError, match="PatchGrid"):
        ex.heatmaps((2, 2))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="4 row indices"):
        PatchGrid(2, 2, (0, 1, 2))


class _TextOnly(FakeSingleVectorEmbedding):
    is_multi_vector = True

    def _embed_texts(self, texts: list[str], *, is_query: bool):
        return self._tokens._embed_texts(texts, is_query=is_query)


# -- plots ---------------------------------------------------------------------------------------------------------


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100


def _rectangles(ax) -> list[tuple[float, float, float, float]]:
    from matplotlib.patches import Rectangle

    return [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in ax.patches if isinstance(r, Rectangle)]


def _patch_box(grid: PatchGrid, row: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    position = grid.position(row)
    assert position is not None
    width, height = size[0] / grid.cols, size[1] / grid.rows
    return (position[1] * width, position[0] * height, width, height)


def test_page_picture_shows_the_top_words_with_their_patches_outlined(
    fake: DeterministicFakeMultiVectorEmbedding, tmp_path: Path
) -> None:
    from multivec.plot import close, plot_heatmaps

    page = checkerboard(96)
    grid = fake.image_patch_grid(page)
    ex = explain("Red apples, green pears and plums", page, embedding=fake)
    out = tmp_path / "maps" / "map.png"
    fig = plot_heatmaps(ex, page, grid, out, top=3)
    _assert_png(out)
    top = ex.top_words(3)
    assert [w.contribution for w in top] == sorted((w.contribution for w in ex.words()), reverse=True)[:3]
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert axes[0].get_title().startswith("all words")
    titles = [ax.get_title().splitlines() for ax in axes[1:]]
    assert [t[0] for t in titles] == [f"{i}. {w.text}" for i, w in enumerate(top, 1)]
    assert [t[1] for t in titles] == [f"+{w.contribution:.2f} · 1 page region" for w in top]
    for ax, word in zip(axes[1:], top, strict=True):  # one outline, around the patch the word's token matched
        assert _rectangles(ax) == [_patch_box(grid, word.document_indices[0], page.size)]
        assert len(ax.get_images()) == 1  # the page alone: no overlay over it
    assert len(_rectangles(axes[0])) == len({w.document_indices[0] for w in top})
    assert len(axes[0].get_images()) == 2  # the page and the light overlay
    assert fig.get_layout_engine() is not None  # constrained layout: titles do not run into each other
    close(fig)
    with pytest.raises(InvalidInputError, match="alpha"):
        plot_heatmaps(ex, page, grid, alpha=2)
    with pytest.raises(InvalidInputError, match="top must be a positive int"):
        plot_heatmaps(ex, page, grid, top=0)


def test_plot_picks_words_or_token_indices(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    from multivec.plot import close

    page = checkerboard(64)
    ex = explain("red apples green", page, embedding=fake)
    ex = replace_page(ex, page, fake.image_patch_grid(page))
    fig = ex.plot(tokens=["GREEN", 0])
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["all words", "green", "red"]
    close(fig)
    with pytest.raises(InvalidInputError, match="no word 'pears'; its words are 'red', 'apples', 'green'"):
        ex.plot(tokens=["pears"])
    with pytest.raises(InvalidInputError, match=r"query token indices in \[0, 3\)"):
        ex.plot(tokens=[3])
    with pytest.raises(InvalidInputError, match="query words"):
        ex.plot(tokens=[True])


def replace_page(ex: Explanation, page: Image.Image, grid: PatchGrid) -> Explanation:
    from dataclasses import replace

    return replace(ex, image=page, grid=grid)


def test_a_word_that_matched_the_page_prompt_says_so(fake: DeterministicFakeMultiVectorEmbedding) -> None:
    from multivec.plot import close, plot_heatmaps

    # rows 0..3 are prompt text the model adds to every page, rows 4..19 the 4x4 patches (as ColPali/ColQwen2 have)
    query = fake.embed_query("red apples")
    rng = np.random.default_rng(0)
    patches = normalize_rows(rng.standard_normal((16, 32)).astype(np.float32)) * 0.1 + query[1]
    document = np.concatenate([query[:1], unit(3, 32, 5), patches])
    grid = PatchGrid(4, 4, tuple(range(4, 20)))
    ex = explain("red apples", document, embedding=fake)
    assert ex.best_indices[0] == 0 and ex.best_indices[1] >= 4
    fig = plot_heatmaps(ex, checkerboard(64), grid, tokens=["red", "apples"])
    red, apples = fig.axes[1], fig.axes[2]
    assert red.get_title().splitlines()[1].endswith("· the prompt text") and _rectangles(red) == []
    assert any("not a page region" in " ".join(t.get_text().split()) for t in red.texts)  # wrapped in the panel
    assert len(_rectangles(apples)) == 1 and not apples.texts
    close(fig)


def test_text_picture_is_a_bar_per_word_with_the_document_words_it_matched(tmp_path: Path) -> None:
    from multivec.plot import close, plot_token_table

    fake = DeterministicFakeMultiVectorEmbedding(dim=32)
    ex = explain("red apples and pears?", "Apples, pears", embedding=fake)
    out = tmp_path / "table.png"
    fig = plot_token_table(ex, out)
    _assert_png(out)
    ax = fig.axes[0]
    top = ex.top_words()
    assert [t.get_text() for t in ax.get_yticklabels()] == [w.text for w in top]
    assert sorted(w.text for w in top) == ["and", "apples", "pears", "red"]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [w.contribution for w in top], rtol=1e-6)
    annotations = {
        label.get_text(): note.get_text().strip() for label, note in zip(ax.get_yticklabels(), ax.texts, strict=True)
    }
    assert annotations["apples"] == "Apples" and annotations["pears"] == "pears"  # words as the document writes them
    assert ax.get_title().startswith("MaxSim")
    close(fig)


def test_plot_needs_an_explanation() -> None:
    from multivec.plot import plot_token_table

    with pytest.raises(InvalidInputError, match="Explanation"):
        plot_token_table("not an explanation")  # type: ignore[arg-type]


def test_missing_matplotlib_names_the_extra(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    from multivec.plot import plot_token_table

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"multivec-retrieval\[plot\]"):
        plot_token_table(explain("red", "red", embedding=fake))


# -- what explain_record attaches: the record, document tokens, the page and its grid -----------------------------


def test_record_explanation_labels_the_matched_document_tokens(store: MultiVectorStore) -> None:
    store.add_texts(["pears and red apples"], ids=["t"])
    ex = explain_record(store, "red apples", "t")
    assert ex.record is not None and ex.record.id == "t" and ex.record.content == "pears and red apples"
    assert ex.document_tokens == ("pears", "and", "red", "apples")
    assert [(m.label, m.document_label) for m in ex.matches()] == [("red", "red"), ("apples", "apples")]
    assert ex.image is None and ex.grid is None and ex.image_note is None
    assert ex.table(by="token").splitlines()[1].split()[:4] == ["1", "red", "red", "(#2)"]
    assert ex.table(by="token").splitlines()[-1] == f"MaxSim {ex.score:.3f} = sum of 2 contributions (relevance 1.00)"
    assert [line.split()[1:3] for line in ex.table().splitlines()[1:3]] == [["red", "red"], ["apples", "apples"]]
    assert ex.table().splitlines()[-1] == f"MaxSim {ex.score:.3f} = sum of 2 word contributions (relevance 1.00)"
    with pytest.raises(InvalidInputError, match="by must be 'word' or 'token'"):
        ex.table(by="row")


def test_no_document_labels_when_the_stored_vectors_are_not_the_contents(
    store: MultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    # same number of rows as "red apples" has tokens, but embedded from other text (as when a framework embeds a
    # node's text together with its metadata): labelling them "red", "apples" would be a lie
    store.add_embeddings([fake.embed_text("blue cars")], [{"content": "red apples"}], ids=["mislabelled"])
    ex = explain_record(store, "red apples", "mislabelled")
    assert ex.document_tokens is None and all(m.document_label is None for m in ex.matches())


def test_pdf_page_record_carries_its_page_and_grid_and_plots_maps(
    store: MultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding, tmp_path: Path
) -> None:
    from multivec.pdf import render_page
    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "doc.pdf", ["Wing flutter at transonic speed", "Boundary layer transition"])
    [first, second] = store.add_pdfs([pdf], dpi=40)
    ex = explain_record(store, "boundary layer", second, dpi=40)
    assert ex.record is not None and (ex.record.source, ex.record.page) == (str(pdf), 2)
    assert ex.image is not None and ex.image.size == render_page(pdf, 2, dpi=40).size
    assert ex.grid == fake.image_patch_grid(ex.image) and ex.image_note is None
    assert ex.document_tokens is None and all(m.document_label is None for m in ex.matches())
    assert all(" patch r" in line for line in ex.table().splitlines()[1:-1])  # matches named by position
    assert all(" patch r" in line for line in ex.table(by="token").splitlines()[1:-1])
    scores = {hit.id: hit.score for hit in store.search("boundary layer", k=2, exact=True)}
    assert ex.score == pytest.approx(scores[second], abs=1e-4)
    out = tmp_path / "map.png"
    fig = ex.plot(out)
    _assert_png(out)
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["all words", "1. boundary", "2. layer"] or [
        ax.get_title().splitlines()[0] for ax in fig.axes
    ] == ["all words", "1. layer", "2. boundary"]
    assert all(len(_rectangles(ax)) == 1 for ax in fig.axes[1:])
    assert explain_record(store, "wing", first, dpi=40).image is not None


def test_image_record_whose_source_is_gone_still_explains_and_plots_tokens(
    store: MultiVectorStore, tmp_path: Path
) -> None:
    path = tmp_path / "scan.png"
    checkerboard(64).save(path)
    store.add_images([path], ids=["scan"])
    path.unlink()
    ex = explain_record(store, "red apples", "scan")
    assert ex.image is None and ex.grid is None
    assert ex.image_note is not None and "could not re-open" in ex.image_note and "scan.png" in ex.image_note
    out = tmp_path / "tokens.png"
    assert ex.plot(out).axes[0].get_title().startswith("MaxSim")
    _assert_png(out)


def test_image_given_as_pixels_has_no_source_to_reopen(store: MultiVectorStore) -> None:
    store.add_images([checkerboard(64)], ids=["pixels"])
    ex = explain_record(store, "red", "pixels")
    assert ex.image is None and ex.image_note == "the record has no source to re-open the image from"


async def test_async_record_explanation_attaches_the_same(store: MultiVectorStore, tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    checkerboard(64).save(path)
    store.add_images([path], ids=["scan"])
    store.add_texts(["pears and red apples"], ids=["t"])
    for record_id in ("scan", "t"):
        sync, asynchronous = (
            explain_record(store, "red apples", record_id),
            await aexplain_record(store, "red apples", record_id),
        )
        assert asynchronous.record == sync.record and asynchronous.grid == sync.grid
        assert asynchronous.document_tokens == sync.document_tokens
        assert asynchronous.score == pytest.approx(sync.score)
        assert (asynchronous.image is None) == (sync.image is None)
