"""What a plain clone needs: the committed notebooks are the ones their sources build, and nothing user-facing reads
data from outside the repository."""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from multivec.errors import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "notebooks" / "sources"
NOTEBOOKS = sorted(p.stem for p in SOURCES.glob("[0-9]*.py"))


@pytest.fixture(scope="module")
def notebook_sources() -> Iterator[None]:
    sys.path.insert(0, str(SOURCES))  # the sources import their shared builder as ``_notebook``
    try:
        yield
    finally:
        sys.path.remove(str(SOURCES))


def test_there_are_notebooks_to_check() -> None:
    assert len(NOTEBOOKS) >= 3
    assert {f"{name}.ipynb" for name in NOTEBOOKS} == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_cells_are_built_from_its_source(name: str, notebook_sources: None) -> None:
    """Edit ``notebooks/sources/NAME.py`` and rebuild (``python notebooks/sources/NAME.py``), never the .ipynb alone."""
    from _notebook import build

    module = importlib.import_module(name)
    try:
        built = [(cell.cell_type, cell.source) for cell in build(module.CELLS).cells]
    finally:
        sys.modules.pop(name, None)
    committed = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    assert [(cell["cell_type"], "".join(cell["source"])) for cell in committed["cells"]] == built


def _user_facing() -> list[Path]:
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "notebooks").rglob("*.ipynb")]
    files += SOURCES.glob("*.py")
    for package in ("multivec", "langchain_multivec", "llama_index_multivec"):
        files += (ROOT / package).rglob("*.py")
    return [f for f in files if ".ipynb_checkpoints" not in f.parts]


def test_nothing_user_facing_reads_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in _user_facing()
        for needle in ("../shared", "MULTIVEC_SHARED")
        if needle in path.read_text(encoding="utf-8")
    ]
    assert not offenders


def test_install_hints_name_this_distribution() -> None:
    """``multivec[extra]`` would install the unrelated PyPI project ``multivec``; hints say ``multivec-retrieval``."""
    wrong = re.compile(r"(?<![\w.-])multivec\[[a-z,]+\]")
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path in [*_user_facing(), ROOT / "CHANGELOG.md"]
        for match in wrong.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders
    assert f'pip install "{DISTRIBUTION}[' in (ROOT / "README.md").read_text(encoding="utf-8")
