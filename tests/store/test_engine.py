"""multivec.store.engine: the supported qdrant-edge versions and the engine workarounds."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import tomllib
from packaging.specifiers import SpecifierSet

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.store import MultiVectorStore
from multivec.store.engine import (
    CONFIG_FILE,
    SEGMENTS_DIR,
    SHARD_DIR,
    SUPPORTED_VERSIONS,
    drop_unset_options,
    is_panic,
    match_value,
    vector_storage_dir,
)

ROOT = Path(__file__).resolve().parents[2]


def test_supported_versions_are_the_pyproject_requirement_and_installed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [requirement] = [d for d in project["dependencies"] if d.startswith("qdrant-edge-py")]
    assert SpecifierSet(requirement.removeprefix("qdrant-edge-py")) == SpecifierSet(SUPPORTED_VERSIONS)
    assert version("qdrant-edge-py") in SpecifierSet(SUPPORTED_VERSIONS)


def test_file_names_are_the_engines(tmp_path: Path) -> None:
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=tmp_path, segment_mb=1) as store:
        store.add_texts(["red apples", "blue cars"])
        store.optimize()
    shard = tmp_path / "multivec" / SHARD_DIR
    assert (shard / CONFIG_FILE).is_file()
    assert list((shard / SEGMENTS_DIR).glob(f"*/{vector_storage_dir('multivector')}"))


def test_drop_unset_options_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / CONFIG_FILE
    config.write_text(json.dumps({"search_pool_core": 2, "max_search_threads": 4, "vectors": {}}))
    drop_unset_options(config, ["search_pool_core"])
    assert json.loads(config.read_text()) == {"max_search_threads": 4, "vectors": {}}
    before = config.stat().st_mtime_ns
    drop_unset_options(config, ["search_pool_core"])  # nothing to drop: the file is left alone
    assert config.stat().st_mtime_ns == before


def test_panic_detection_and_bool_match_values() -> None:
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic (its module varies)
        pass

    assert is_panic(PanicException("boom")) and not is_panic(RuntimeError("boom"))
    assert isinstance(match_value(True), np.bool_) and match_value(1) == 1 and match_value("x") == "x"
