"""Running the real ``multivec`` console script of this environment in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "multivec"


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", COLUMNS="160")
    return env


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def multivec(cli_env: dict[str, str], tmp_path: Path) -> Run:
    """``multivec(*args)`` runs the console script in ``tmp_path`` and returns the completed process."""
    assert BIN.is_file(), f"the console script {BIN} is missing: pip install -e . in this environment"

    def run(*args: str | Path, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env,
            cwd=cwd or tmp_path,
            check=False,
        )

    return run


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)`` runs ``multivec.cli.main`` in this process (same code, no interpreter start-up): returns
    ``(exit code, stdout, stderr)``. For the many small error cases; the main flows go through :func:`multivec`."""
    from multivec.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "160")

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit:  # argparse: --help, usage errors
            code = exit.code if isinstance(exit.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def manifest_of(store: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((store / "multivec-cli.json").read_text())
    return data
