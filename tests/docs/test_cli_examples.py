"""The ``multivec …`` command lines shown in ```bash blocks of README.md and docs/*.md run, offline, as shown.

Each page's commands run in order (``index`` before ``search``) in a sandbox: ``$HOME`` is a temporary folder
holding ``~/papers`` and ``~/notes`` with a few texts and a PDF, the working directory is another temporary folder,
and paths of the repository (``datasets/cranfield``) are taken from the clone. Two substitutions keep the run short
and concrete: ``--id ID`` becomes the id of the query's top result, and ``eval`` gets ``--max-queries 1 --max-docs 1``.
Commands that need a GPU model or a server (``--embedder colpali|bipali|infinity``, ``--url``) are listed, not run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from multivec.cli import main
from multivec.cli.demo import write_sample
from tests.docs.pages import PAGES, ROOT, blocks

_NEEDS_MORE = {"colpali", "bipali", "infinity"}
_EVALUATED: set[tuple[str, ...]] = set()  # eval runs embed a corpus: a command shown on two pages runs once


def commands(page: Path) -> list[tuple[int, list[str]]]:
    """``(line, argv)`` of every ``multivec …`` line in the ```bash blocks of ``page`` (continuations joined)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, list[str]]] = []
    for block in blocks(page):
        if block.language != "bash":
            continue
        body: list[str] = []
        for line in lines[block.line :]:
            if line.strip().startswith("```"):
                break
            body.append(line)
        for number, command in _logical_lines(body, block.line + 1):
            words = shlex.split(command, comments=True)
            if words and words[0] == "multivec":
                found.append((number, words[1:]))
    return found


def _logical_lines(body: list[str], first: int) -> list[tuple[int, str]]:
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for offset, line in enumerate(body):
        start, text = pending if pending else (first + offset, "")
        text += line.rstrip()
        if text.endswith("\\"):
            pending = (start, text[:-1] + " ")
        else:
            joined.append((start, text))
            pending = None
    return joined


def offline(argv: list[str]) -> bool:
    embedder = argv[argv.index("--embedder") + 1] if "--embedder" in argv else "colbert"
    return embedder not in _NEEDS_MORE and "--url" not in argv


PAGES_WITH_COMMANDS = [page for page in PAGES if any(offline(argv) for _, argv in commands(page))]


def test_the_readme_shows_runnable_commands() -> None:
    readme = [argv[0] for _, argv in commands(ROOT / "README.md") if offline(argv)]
    assert {"index", "search", "explain", "demo"} <= set(readme)


@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_run_offline(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    _sample_folders(home)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(work)
    ran = 0
    for line, argv in commands(page):
        if not offline(argv):
            continue
        argv = [_resolved(word, home) for word in argv]
        if argv[0] == "eval":  # the first judged query and its judged documents (28 abstracts), once per session
            argv += ["--max-queries", "1", "--max-docs", "1"]
            if tuple(argv) in _EVALUATED:
                continue
            _EVALUATED.add(tuple(argv))
        if "--id" in argv and argv[argv.index("--id") + 1] == "ID":
            argv[argv.index("--id") + 1] = _top_id(argv, capsys)
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, f"{page.relative_to(ROOT)}:{line}: multivec {shlex.join(argv)} exited {code}\n{err}"
        ran += 1
    assert ran > 0


def _sample_folders(home: Path) -> None:
    """``~/papers`` (the demo's texts and its three-page PDF) and ``~/notes/ideas.md``, as the examples expect."""
    papers = write_sample(home)
    papers.rename(home / "papers")
    notes = home / "notes"
    notes.mkdir()
    (notes / "ideas.md").write_text("# Boundary layers\n\nThe boundary layer becomes turbulent downstream.\n")


def _resolved(word: str, home: Path) -> str:
    """``~/x`` under the sandbox home; a relative path that exists in the repository, from the repository."""
    if word.startswith("~/"):
        return str(home / word[2:])
    if re.fullmatch(r"[\w.-]+(/[\w.-]+)+", word) and (ROOT / word).exists():
        return str(ROOT / word)
    return word


def _top_id(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The id of the top result of the explain command's query in its store (what a reader copies from search)."""
    store = argv[argv.index("--store") + 1]
    capsys.readouterr()
    assert main(["search", argv[1], "--store", store, "-k", "1", "--json"]) == 0
    return str(json.loads(capsys.readouterr().out)[0]["id"])
