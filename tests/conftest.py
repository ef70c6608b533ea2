"""Session-wide fixtures: tiny local models built once per test session (offline, deterministic)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _built(builder_name: str, sub: str) -> Callable[[Path], Path]:
    def build(models_root: Path) -> Path:
        from multivec.testing import tiny_models

        return getattr(tiny_models, builder_name)(models_root / sub)

    return build


@pytest.fixture(scope="session")
def tiny_colpali_dir(models_root: Path) -> Path:
    return _built("build_tiny_colpali", "tiny-colpali")(models_root)


@pytest.fixture(scope="session")
def tiny_colqwen2_dir(models_root: Path) -> Path:
    return _built("build_tiny_colqwen2", "tiny-colqwen2")(models_root)


@pytest.fixture(scope="session")
def tiny_bipali_dir(models_root: Path) -> Path:
    return _built("build_tiny_bipali", "tiny-bipali")(models_root)


@pytest.fixture(scope="session")
def minilm_colbert_dir(models_root: Path) -> Path:
    return _built("build_minilm_colbert", "minilm-colbert")(models_root)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from multivec.testing import tiny_models

    return tiny_models.minilm_dir()
