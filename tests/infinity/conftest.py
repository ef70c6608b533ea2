"""Fixtures of the Infinity client tests: a fault-injecting server, and a real Infinity server for the session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multivec.embeddings.infinity import InfinityEmbeddings
from tests.support.fault_server import FaultServer
from tests.support.infinity_server import InfinityServer, infinity_venv


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _require_venv() -> Path:
    venv = infinity_venv()
    if venv is None or not (venv / "bin" / "infinity_emb").is_file():
        message = (
            f"the Infinity server venv is missing ({venv or 'MULTIVEC_INFINITY_VENV unset'}); "
            "run the tests through `bash scripts/dev test`, which builds it"
        )
        if _in_ci():
            pytest.fail(message + " (CI=true: real-server tests must run)", pytrace=False)
        pytest.skip(message)
    return venv


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer(dim=8) as server:
        yield server


#: The session server requires this key (so the auth path is exercised by every real-server test).
API_KEY = "multivec-test-key"


@pytest.fixture(scope="session")
def infinity_venv_dir() -> Path:
    """The Infinity venv (checked before any model is built, so a skip is quick)."""
    return _require_venv()


@pytest.fixture(scope="session")
def infinity_server(
    infinity_venv_dir: Path,
    tiny_colpali_dir: Path,
    tiny_colqwen2_dir: Path,
    minilm_colbert_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[InfinityServer]:
    """One real ``infinity_emb v2`` on 127.0.0.1 serving tiny-colpali, tiny-colqwen2 and minilm-colbert.

    Started with ``--api-key`` :data:`API_KEY`; stopped at session end, also when a test or the startup fails.
    """
    models = {
        "tiny-colpali": tiny_colpali_dir,
        "tiny-colqwen2": tiny_colqwen2_dir,
        "minilm-colbert": minilm_colbert_dir,
    }
    server = InfinityServer(infinity_venv_dir, models, api_key=API_KEY, log_dir=tmp_path_factory.mktemp("infinity-log"))
    with server:
        yield server


@pytest.fixture(scope="session")
def infinity_url(infinity_server: InfinityServer) -> str:
    return infinity_server.url


@pytest.fixture
def make_infinity(infinity_url: str) -> Iterator[Callable[..., InfinityEmbeddings]]:
    """Factory of clients of the session server (key included); closes them after the test."""
    made: list[InfinityEmbeddings] = []

    def make(model_name: str, **options: Any) -> InfinityEmbeddings:
        emb = InfinityEmbeddings(url=infinity_url, model_name=model_name, api_key=API_KEY, **options)
        made.append(emb)
        return emb

    yield make
    for emb in made:
        emb.close()
