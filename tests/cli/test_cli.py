"""The ``multivec`` console script end to end (subprocess, temp dirs, the real embedded store).

Most tests use the hidden ``--embedder fake`` (no model) so they run in seconds; the ones marked ``slow`` use the
real default, the offline MiniLM ColBERT encoder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.testing import write_text_pdf
from tests.cli.conftest import Run, manifest_of
from tests.support.cranfield import cranfield_dir
from tests.support.pdfs import CORRUPT_PDF, write_encrypted_pdf

DEMO_DATA = Path(__file__).resolve().parents[2] / "multivec" / "demo_data"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder with two texts, a two-page PDF, a PNG, a nested folder and a file type the index passes over."""
    root = tmp_path / "docs"
    (root / "nested").mkdir(parents=True)
    shutil.copy(DEMO_DATA / "coffee.md", root / "coffee.md")
    shutil.copy(DEMO_DATA / "tides.txt", root / "nested" / "tides.txt")
    write_text_pdf(root / "guide.pdf", ["Honeybees dance to show flowers", "Volcanoes erupt lava"])
    from PIL import Image

    Image.new("RGB", (48, 32), (200, 30, 30)).save(root / "red.png")
    (root / "notes.docx").write_bytes(b"PK not supported")
    (root / ".hidden.md").write_text("hidden files are passed over")
    return root


Cli = Callable[..., tuple[int, str, str]]


def _count(store: Path, collection: str = "multivec") -> int:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(), collection, path=str(store)) as opened:
        return opened.count()


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def _ids(store: Path) -> set[str]:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(), "multivec", path=str(store)) as opened:
        return {record.id for record in opened.scroll()}


def test_help_and_python_dash_m(multivec: Run, cli: Cli, cli_env: dict[str, str]) -> None:
    result = multivec("--help")
    assert result.returncode == 0
    for command in ("index", "search", "eval", "demo"):
        assert command in result.stdout
    code, index_help, _ = cli("index", "--help")
    assert code == 0
    assert "colbert,colpali,bipali,infinity" in index_help
    assert "fake" not in index_help
    as_module = subprocess.run(
        [sys.executable, "-m", "multivec", "--version"], capture_output=True, text=True, env=cli_env, check=False
    )
    assert as_module.returncode == 0, as_module.stderr
    assert as_module.stdout.startswith("multivec ")


def test_index_then_search_table_and_json(multivec: Run, docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = multivec("index", docs, "--store", store, "--embedder", "fake")
    assert result.returncode == 0, result.stderr
    # coffee.md + nested/tides.txt (one passage each), guide.pdf (2 pages), red.png; .docx and .hidden passed over
    assert "indexed 4 file(s) as 5 document(s)" in result.stdout
    assert "skipped" not in result.stdout
    assert _count(store) == 5
    assert manifest_of(store)["collections"] == {"multivec": {"embedder": "fake", "model": None, "url": None}}

    table = multivec("search", "pour-over coffee water temperature", "--store", store, "-k", "3")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:6] == ["#", "score", "rel", "source", "page", "snippet"]
    assert len(lines) == 4
    assert "coffee.md" in lines[1] and "Pour-over coffee is brewed" in lines[1]

    as_json = multivec("search", "volcanoes erupt lava", "--store", store, "-k", "10", "--json", "--exact")
    hits = json.loads(as_json.stdout)
    assert len(hits) == 5
    assert [hit["rank"] for hit in hits] == [1, 2, 3, 4, 5]
    assert hits[0]["score"] >= hits[-1]["score"]
    pages = {(Path(h["source"]).name, h["page"], h["modality"]) for h in hits}
    assert {("guide.pdf", 1, "image"), ("guide.pdf", 2, "image"), ("red.png", None, "image")} <= pages
    page_two = next(h for h in hits if h["page"] == 2)
    assert page_two["metadata"]["page_text"] == "Volcanoes erupt lava"
    assert page_two["metadata"]["file_name"] == "guide.pdf"
    assert 0.0 <= min(h["relevance"] for h in hits) <= max(h["relevance"] for h in hits) <= 1.0


def test_search_filter_and_usage_errors(cli: Cli, docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert cli("index", docs, "--store", store, "--embedder", "fake", "--quiet")[0] == 0

    code, out, err = cli("search", "energy", "--store", store, "--json", "--filter", '{"file_name": "tides.txt"}')
    assert code == 0, err
    assert {Path(hit["source"]).name for hit in json.loads(out)} == {"tides.txt"}

    for args, message in [
        (["--filter", "{bad json"], "--filter is not valid JSON"),
        (["--filter", "[1, 2]"], "--filter must be a JSON object"),
        (["--filter", '{"year": {"$regex": "x"}}'], "$regex"),
        (["-k", "0"], "-k must be at least 1"),
        (["--collection", "other"], "no collection 'other'"),
    ]:
        code, _, err = cli("search", "energy", "--store", store, *args)
        assert code == 2, (args, err)
        assert message in err
        assert err.startswith("multivec: error: ") and err.count("\n") == 1

    code, _, err = cli("search", "energy", "--store", tmp_path / "absent")
    assert code == 2
    assert "no collection 'multivec'" in err and "multivec index" in err


def test_reindex_is_idempotent_and_replaces_edited_files(multivec: Run, cli: Cli, docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert multivec("index", docs, "--store", store, "--embedder", "fake").returncode == 0
    ids_before = _ids(store)
    assert len(ids_before) == 5

    again = multivec("index", docs, "--store", store)  # no flags: the store remembers its embedder
    assert again.returncode == 0, again.stderr
    assert "holds 5 record(s) (+0)" in again.stdout
    assert "indexed 0 file(s)" in again.stdout and "4 unchanged file(s) left as they were" in again.stdout
    assert _ids(store) == ids_before
    rechunked = multivec("index", docs, "--store", store, "--chunk-words", "3").stdout
    assert "indexed 2 file(s)" in rechunked and "2 unchanged" in rechunked  # the two texts: new chunks
    assert "indexed 2 file(s)" in multivec("index", docs, "--store", store).stdout  # and back
    assert _ids(store) == ids_before

    moved = tmp_path / "moved"
    shutil.copytree(docs, moved)  # the same content elsewhere: the same ids, still no duplicates
    assert cli("index", moved / "coffee.md", "--store", store)[0] == 0
    assert _ids(store) == ids_before

    (docs / "nested" / "tides.txt").write_text("Tides rewritten: the Moon pulls the sea.")
    code, out, err = cli("index", docs / "nested", "--store", store)
    assert code == 0, err
    assert "1 outdated removed" in out
    ids_after = _ids(store)
    assert len(ids_after) == 5
    assert len(ids_after - ids_before) == 1 and len(ids_before - ids_after) == 1


def test_mismatched_embedder_is_refused_with_a_clear_message(
    multivec: Run, cli: Cli, docs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    assert cli("index", docs / "coffee.md", "--store", store, "--embedder", "fake")[0] == 0
    result = multivec("index", docs / "coffee.md", "--store", store, "--embedder", "colbert")
    assert result.returncode == 2, result.stderr
    assert "was built with embedder 'fake'" in result.stderr
    assert "--embedder fake" in result.stderr
    _no_traceback(result)
    code, _, err = cli("search", "coffee", "--store", store, "--embedder", "colpali")
    assert code == 2 and "was built with embedder 'fake'" in err
    code, _, err = cli("index", docs / "coffee.md", "--store", store, "--embedder", "fake", "--model", "m")
    assert code == 2 and "model 'm'" in err
    assert _count(store) == 1
    # another collection in the same store directory may use another embedder
    assert cli("index", docs / "red.png", "--store", store, "--collection", "pics", "--embedder", "fake")[0] == 0
    assert set(manifest_of(store)["collections"]) == {"multivec", "pics"}  # type: ignore[call-overload]


def test_bad_files_are_reported_and_skipped(multivec: Run, docs: Path, tmp_path: Path) -> None:
    bad = docs / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(CORRUPT_PDF)
    write_encrypted_pdf(bad / "secret.pdf")
    (bad / "fake.png").write_bytes(b"this is not an image")
    (bad / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (bad / "empty.md").write_text("  \n")
    os.symlink(bad / "gone.md", bad / "dangling.md")
    store = tmp_path / "store"

    result = multivec("index", docs, tmp_path / "nowhere", "--store", store, "--embedder", "fake")
    assert result.returncode == 0, result.stderr  # the good files were indexed
    assert "indexed 4 file(s)" in result.stdout
    assert "skipped 7 file(s):" in result.stdout
    reasons = {line.strip().split(": ")[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "encrypted" in reasons[str(bad / "secret.pdf")]
    assert "not a readable PDF" in reasons[str(bad / "corrupt.pdf")]
    assert "not a readable image" in reasons[str(bad / "fake.png")]
    assert "BytesIO" not in reasons[str(bad / "fake.png")]
    assert "not UTF-8 text" in reasons[str(bad / "latin1.txt")]
    assert "is empty" in reasons[str(bad / "empty.md")]
    assert "cannot read" in reasons[str(bad / "dangling.md")]
    assert "no such file or folder" in reasons[str(tmp_path / "nowhere")]
    assert _count(store) == 5

    only_bad = multivec("index", bad, docs / "notes.docx", "--store", tmp_path / "store2", "--embedder", "fake")
    assert only_bad.returncode == 1
    assert "nothing could be indexed" in only_bad.stderr
    assert "unsupported file type '.docx'" in only_bad.stderr
    _no_traceback(only_bad)


def test_eval_prints_metrics_on_a_cranfield_subset_with_the_fake_embedder(
    multivec: Run, cli: Cli, tmp_path: Path
) -> None:
    result = multivec(
        "eval", cranfield_dir(), "--embedder", "fake", "--max-queries", "10", "--max-docs", "120", "--json"
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["queries"] == 10 and metrics["docs"] == 120 and metrics["mode"] == "two-stage"
    # a word-matching fake still ranks judged abstracts far above chance on this small corpus
    assert 0.15 < metrics["ndcg@10"] <= 1.0
    assert 0.0 < metrics["mrr@10"] <= 1.0 and 0.5 < metrics["recall@100"] <= 1.0
    assert metrics["index_s"] > 0 and metrics["query_p50_ms"] > 0

    code, _, err = cli("eval", tmp_path, "--embedder", "fake")
    assert code == 2 and "corpus.jsonl is missing" in err


@pytest.mark.slow
def test_eval_with_the_offline_colbert_encoder(multivec: Run) -> None:
    result = multivec("eval", cranfield_dir(), "--exact", "--max-queries", "12", "--max-docs", "150", "--quiet")
    assert result.returncode == 0, result.stderr
    values = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert values["mode"] == "exact" and values["queries"] == "12" and values["docs"] == "150"
    assert 0.3 < float(values["ndcg@10"]) <= 1.0
    assert 0.6 < float(values["recall@100"]) <= 1.0
    assert 0.3 < float(values["mrr@10"]) <= 1.0
    for timing in ("index_s", "docs_per_s", "query_p50_ms", "query_p95_ms"):
        assert float(values[timing]) > 0


@pytest.mark.slow
def test_demo_runs_offline_and_answers_from_texts_and_the_pdf(multivec: Run, tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    result = multivec("demo", "--keep", keep, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "indexed 6 file(s) as 8 document(s)" in out  # 5 texts + a 3-page PDF read by its text layer
    answers = {}
    for block in out.split("Q: ")[1:]:
        question, _, table = block.partition("\n")
        answers[question.split("   (")[0]] = table.splitlines()[1]  # the top hit's row
    assert "field-guide.pdf" in answers["How do honeybees tell each other where the flowers are?"]
    assert "coffee.md" in answers["What water temperature is best for pour-over coffee?"]
    assert "sourdough.md" in answers["Why does sourdough bread rise without yeast from a shop?"]
    lighthouse = answers["How does a lighthouse lens focus light?"].split()
    assert "field-guide.pdf" in lighthouse[3] and lighthouse[4] == "3"
    # the kept store is searchable with the plain command afterwards
    search = multivec("search", "waggle dance", "--store", keep / "store", "--collection", "demo", "-k", "1")
    assert search.returncode == 0, search.stderr
    assert "field-guide.pdf" in search.stdout and "Honeybees" in search.stdout


@pytest.mark.slow
def test_colbert_indexes_pdf_text_and_skips_images(multivec: Run, docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = multivec("index", docs, "--store", store)  # default embedder: offline ColBERT (text only)
    assert result.returncode == 0, result.stderr
    assert "indexed 3 file(s) as 4 document(s)" in result.stdout
    assert "red.png: is an image, and this embedder reads text only" in result.stdout
    assert manifest_of(store)["collections"]["multivec"]["embedder"] == "colbert"  # type: ignore[index]
    hits = json.loads(multivec("search", "volcano lava", "--store", store, "-k", "1", "--json").stdout)
    assert (Path(hits[0]["source"]).name, hits[0]["page"], hits[0]["modality"]) == ("guide.pdf", 2, "text")
    assert hits[0]["content"] == "Volcanoes erupt lava"


@pytest.mark.slow
def test_an_unchanged_rerun_needs_no_model(multivec: Run, docs: Path, tmp_path: Path) -> None:
    """Nothing to embed, nothing loaded: the second run succeeds with the model gone; an edit then needs it."""
    from multivec.embeddings import offline_minilm_path

    model = tmp_path / "model"
    shutil.copytree(offline_minilm_path(), model)
    store = tmp_path / "store"
    first = multivec("index", docs, "--store", store, "--model", model)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(model)
    again = multivec("index", docs, "--store", store)
    assert again.returncode == 0, again.stderr
    assert "indexed 0 file(s)" in again.stdout and "3 unchanged file(s) left as they were" in again.stdout
    assert "red.png: is an image, and this embedder reads text only" in again.stdout
    (docs / "coffee.md").write_text("Coffee, rewritten.")
    edited = multivec("index", docs, "--store", store)
    assert edited.returncode != 0 and "model" in edited.stderr
    _no_traceback(edited)


def test_abbreviated_and_unknown_options_are_usage_errors_naming_the_valid_ones(cli: Cli, tmp_path: Path) -> None:
    # argparse's prefix matching would read `--mod` as `--model` (or `--mode`) and try to load a model called "hybrid"
    code, _, err = cli("eval", str(tmp_path), "--mod", "hybrid")
    assert code == 2 and err.count("\n") == 1, err
    assert "unrecognized arguments: --mod hybrid" in err and "--model" in err and "--max-docs" in err
    code, _, err = cli("search", "energy", "--store", tmp_path / "s", "--k", "3")
    assert code == 2 and "unrecognized arguments: --k 3" in err, err
