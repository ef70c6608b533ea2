"""``multivec explain``: the token table, JSON, PNGs (maps for pages, bar chart for texts) and usage errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.testing import write_text_pdf
from tests.cli.conftest import Run

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def indexed(cli: Cli, tmp_path: Path) -> Path:
    """A store (fake embedder) holding a text file, a two-page PDF and a PNG."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "bees.txt").write_text("Honeybees dance to show flowers to the hive.")
    write_text_pdf(root / "guide.pdf", ["Honeybees dance", "Volcanoes erupt lava"])
    Image.new("RGB", (48, 32), (200, 30, 30)).save(root / "red.png")
    store = tmp_path / "store"
    code, _, err = cli("index", root, "--store", store, "--embedder", "fake", "--quiet")
    assert code == 0, err
    return store


def _records(store: Path) -> dict[str, tuple[str, str | None, int | None]]:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(), "multivec", path=str(store)) as opened:
        return {r.id: (r.modality, Path(r.source or "").name, r.page) for r in opened.scroll()}


def _id_of(store: Path, name: str, page: int | None = None) -> str:
    return next(i for i, (_, source, p) in _records(store).items() if source == name and p == page)


def _search_score(cli: Cli, store: Path, query: str, doc_id: str) -> float:
    code, out, err = cli("search", query, "--store", store, "--json", "--exact", "-k", "10")
    assert code == 0, err
    return float(next(hit["score"] for hit in json.loads(out) if hit["id"] == doc_id))


def test_text_record_table_json_and_bar_chart(cli: Cli, indexed: Path, tmp_path: Path) -> None:
    doc_id = _id_of(indexed, "bees.txt")
    code, out, err = cli("explain", "dance of honeybees", "--store", indexed, "--id", doc_id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["#", "word", "matched"]
    assert sorted(line.split()[1] for line in lines[1:4]) == ["dance", "honeybees", "of"]
    ranked = [float(line.split()[-1]) for line in lines[1:4]]
    assert ranked == sorted(ranked, reverse=True)  # largest contribution first
    assert lines[-1].startswith("MaxSim ")

    out_png = tmp_path / "pics" / "table.png"
    code, out, err = cli(
        "explain", "dance of honeybees", "--store", indexed, "--id", doc_id, "--json", "--out", out_png
    )
    assert code == 0, err
    data = json.loads(out)
    assert [t["token"] for t in data["tokens"]] == ["dance", "of", "honeybees"]
    assert sum(t["contribution"] for t in data["tokens"]) == pytest.approx(data["score"], abs=1e-5)
    assert sorted(w["word"] for w in data["words"]) == ["dance", "honeybees", "of"]
    assert sum(w["contribution"] for w in data["words"]) == pytest.approx(data["score"], abs=1e-5)
    honeybees = next(w for w in data["words"] if w["word"] == "honeybees")
    assert honeybees["matched"] == ["Honeybees"] and honeybees["tokens"] == [2]  # as written in the document
    assert data["score"] == pytest.approx(_search_score(cli, indexed, "dance of honeybees", doc_id), abs=1e-3)
    assert "word contributions" in err
    with Image.open(out_png) as image:
        assert image.format == "PNG" and out_png.stat().st_size > 1000


def test_pdf_page_and_image_get_similarity_maps(multivec: Run, indexed: Path, tmp_path: Path) -> None:
    for name, page in (("guide.pdf", 2), ("red.png", None)):
        doc_id = _id_of(indexed, name, page)
        out_png = tmp_path / f"{name}.png"
        result = multivec("explain", "lava", "--store", indexed, "--id", doc_id, "--out", out_png, "--json")
        assert result.returncode == 0, result.stderr
        assert "similarity maps" in result.stderr and "Traceback" not in result.stderr
        assert json.loads(result.stdout)["id"] == doc_id
        with Image.open(out_png) as image:
            assert image.format == "PNG" and image.width > 200


def test_explain_usage_errors(cli: Cli, indexed: Path, tmp_path: Path) -> None:
    doc_id = _id_of(indexed, "bees.txt")
    cases: list[tuple[list[str | Path], str]] = [
        (["--id", "missing"], "no record with id 'missing'"),
        (["--id", doc_id, "--out", tmp_path / "map.jpg"], "--out must name a .png file"),
        (["--id", doc_id, "--collection", "other"], "no collection 'other'"),
    ]
    for args, message in cases:
        code, _, err = cli("explain", "bees", "--store", indexed, *args)
        assert code == 2, (args, err)
        assert message in err and err.startswith("multivec: error: ")
    code, _, err = cli("explain", "bees", "--store", indexed)
    assert code == 2 and "--id" in err
