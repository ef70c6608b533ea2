"""``multivec search --mode hybrid`` and ``multivec eval DATASET --mode hybrid``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run
from tests.support.cranfield import cranfield_dir

Cli = Callable[..., tuple[int, str, str]]


def _docs(root: Path) -> Path:
    root.mkdir()
    (root / "pumps.txt").write_text("Centrifugal pumps move water with a spinning impeller.\n")
    (root / "valves.txt").write_text("Gate valve model QX4471 seals the line under high pressure.\n")
    (root / "tides.txt").write_text("Tides rise and fall with the moon.\n")
    return root


def test_search_hybrid_prints_the_parts_of_the_score(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert cli("index", _docs(tmp_path / "docs"), "--store", store, "--embedder", "fake", "--quiet")[0] == 0

    code, out, err = cli("search", "QX4471", "--store", store, "--mode", "hybrid", "--hybrid-weight", "1", "--json")
    assert code == 0, err
    hits = json.loads(out)
    assert Path(hits[0]["source"]).name == "valves.txt"
    parts = hits[0]["hybrid"]
    assert parts["lexical_rank"] == 1 and parts["fusion"] == "dbsf" and parts["weight"] == 1.0
    assert hits[0]["score"] == parts["score"]

    code, out, err = cli("search", "QX4471", "--store", store, "--json")  # the default mode: no parts
    assert code == 0, err
    assert all("hybrid" not in hit for hit in json.loads(out))

    code, out, err = cli("search", "pumps", "--store", store, "--mode", "hybrid", "--hybrid-fusion", "dbsf")
    assert code == 0, err
    assert "pumps.txt" in out.splitlines()[1]

    for args, message in [
        (["--mode", "bm25"], "invalid choice"),
        (["--mode", "hybrid", "--hybrid-weight", "-1"], "hybrid_weight"),
        (["--mode", "hybrid", "--hybrid-fusion", "max"], "invalid choice"),
        (["--hybrid-weight", "0.5"], "mode='hybrid' only"),
    ]:
        code, _, err = cli("search", "pumps", "--store", store, *args)
        assert code == 2, (args, err)
        assert message in err


def test_eval_hybrid_on_a_cranfield_subset(multivec: Run) -> None:
    result = multivec(
        "eval",
        cranfield_dir(),
        "--embedder",
        "fake",
        "--max-queries",
        "10",
        "--max-docs",
        "120",
        "--json",
        "--mode",
        "hybrid",
        "--hybrid-weight",
        "0.3",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["mode"] == "hybrid (two-stage MaxSim)" and metrics["queries"] == 10
    assert metrics["hybrid_fusion"] == "dbsf" and metrics["hybrid_weight"] == 0.3
    assert 0.15 < metrics["ndcg@10"] <= 1.0 and 0.5 < metrics["recall@100"] <= 1.0
