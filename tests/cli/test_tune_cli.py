"""``multivec tune``: tunes a store without its model, saves the limits, prints them as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.store.tuning import TuningResult
from tests.cli.conftest import Run
from tests.store.conftest import random_corpus

Cli = Callable[..., tuple[int, str, str]]
DIM = 16


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A closed embedded store of 300 random multi-vectors (collection ``docs``)."""
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), "docs", path=tmp_path / "db") as store:
        store.add_embeddings(random_corpus(300, DIM, seed=2), ids=list(range(300)))
    return tmp_path / "db"


def test_tune_json_is_the_saved_result(multivec: Run, store_dir: Path) -> None:
    done = multivec(
        "tune", "--store", store_dir, "--collection", "docs", "--target", "0.9", "--sample", "40", "-k", "5", "--json"
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["met"] is True and printed["k"] == 5 and printed["queries"] == 40 and printed["records"] == 300
    assert printed["recall"] >= 0.9 and printed["query_source"] == "pseudo" and printed["curve"]
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), "docs", path=store_dir) as store:
        assert store.tuning == TuningResult.from_dict(printed, "stdout")
        assert store.prefetch_limit == printed["prefetch_limit"]


def test_tune_table(cli: Cli, store_dir: Path) -> None:
    code, out, err = cli("tune", "--store", store_dir, "--collection", "docs", "--target", "0.9", "--sample", "30")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("prefetch_limit=") and "meets the target 0.9 on 30 pseudo queries" in lines[0]
    assert lines[1].split() == ["prefetch", "pooled", "recall@10", "queries"]
    assert "(abandoned)" not in lines[-1] and int(lines[-1].split()[0]) == int(lines[0].split("=")[1].split(":")[0])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--target", "1.5"], "target_recall"),
        (["--target", "0"], "target_recall"),
        (["--sample", "0"], "--sample"),
        (["-k", "0"], "-k"),
        (["--collection", "missing"], "no collection 'missing'"),
    ],
)
def test_tune_usage_errors(cli: Cli, store_dir: Path, flags: list[str], message: str) -> None:
    code, out, err = cli("tune", "--store", store_dir, "--collection", "docs", *flags)
    assert code == 2 and message in err and not out
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), "docs", path=store_dir) as store:
        assert store.tuning is None


def test_tune_an_empty_store_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=DIM), path=tmp_path / "db").close()
    code, _, err = cli("tune", "--store", tmp_path / "db")
    assert code == 2 and "empty" in err
