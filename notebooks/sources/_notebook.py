"""What every notebook source shares: turn ``(kind, source)`` cells into a notebook, run it the way nbmake does, write
it next to this folder.

Each ``NN_name.py`` here defines ``CELLS`` and ends with ``main(CELLS, "NN_name.ipynb")``; running it rebuilds and
re-executes that notebook (``--no-run`` writes the cells without outputs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of markdown (``"md"``) and code cells, with stable cell ids so rebuilding does not churn diffs."""
    notebook = new_notebook()
    notebook.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells]
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:02d}"
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def execute(notebook: nbformat.NotebookNode) -> None:
    """Run every cell in a fresh ``python3`` kernel from the notebooks folder, as nbmake does in CI."""
    from nbclient import NotebookClient

    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        record_timing=False,  # no per-cell timestamps in the committed notebook
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()


def main(cells: list[tuple[str, str]], name: str, argv: list[str] | None = None) -> None:
    """Build ``name`` from ``cells``, execute it unless ``--no-run`` is given, and write it."""
    notebook = build(cells)
    if "--no-run" not in (sys.argv[1:] if argv is None else argv):
        execute(notebook)
    path = NOTEBOOKS / name
    nbformat.write(notebook, path)
    print(f"wrote {path}")
