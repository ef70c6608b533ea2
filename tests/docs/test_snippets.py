"""Every ```python block of README.md and docs/*.md runs, offline, as a reader would paste it (see ``pages.py``).

One test per page: its blocks run in order in one namespace, in a fresh temporary working directory that is removed
afterwards (with every store the page opened). The inventory test fails when a Python block would escape: an
unknown fence language, or a skipped block without a reason.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import unittest
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.pages import LANGUAGES, PAGES, ROOT, SYBIL, blocks, python_lines


@pytest.fixture
def page_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory for one page's snippets (their ``./index`` stores land here), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="multivec-docs-"))
    monkeypatch.chdir(directory)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    settings = _llama_index_settings()
    try:
        yield directory
    finally:
        _restore_llama_index_settings(settings)
        gc.collect()  # stores the page left open close (and release their directory lock) when collected
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("page", [p for p in PAGES if python_lines(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_page_snippets_run(page: Path, page_dir: Path) -> None:
    document = SYBIL.parse(page)
    ran = skipped = 0
    try:
        for example in document:
            try:
                example.evaluate()
            except unittest.SkipTest:
                skipped += 1
                continue
            except Exception as error:
                raise AssertionError(
                    f"{page.relative_to(ROOT)}:{example.line}: the snippet failed: {error!r}"
                ) from error
            ran += not isinstance(example.parsed, tuple)
    finally:
        document.namespace.clear()
    assert ran + skipped == len(python_lines(page))
    assert ran > 0


def test_every_python_block_runs_or_says_why_not() -> None:
    executed = skipped = 0
    problems: list[str] = []
    for page in PAGES:
        sybil_lines = python_lines(page)
        for block in blocks(page):
            if block.language not in LANGUAGES:
                problems.append(f"{block}: fence language must be one of {sorted(LANGUAGES)}")
            elif block.language == "python":
                if block.line not in sybil_lines:
                    problems.append(f"{block}: not found by the snippet runner")
                elif block.skip_reason is None:
                    executed += 1
                else:
                    skipped += 1
    assert not problems, "\n".join(problems)
    total = executed + skipped
    print(f"python snippets: {executed} of {total} executed, {skipped} shown only (with a reason)")
    assert executed > 0


def test_skip_directives_name_a_reason() -> None:
    """``<!-- skip: ... -->`` only as ``skip: next "REASON"`` right before a ```python block (no silent ranges)."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        directives = text.count("<!-- skip:")
        reasoned = sum(1 for b in blocks(page) if b.skip_reason is not None)
        assert directives == reasoned, f"{page.relative_to(ROOT)}: a skip directive without a reason or a block"


def test_docs_do_not_reach_outside_the_repository() -> None:
    for page in PAGES:
        assert "../shared" not in page.read_text(encoding="utf-8"), f"{page.relative_to(ROOT)} names ../shared"


def _llama_index_settings() -> dict[str, object]:
    """LlamaIndex's global ``Settings`` (a page's snippet may set ``Settings.embed_model``), to put back afterwards."""
    try:
        from llama_index.core import Settings
    except ImportError:  # the llamaindex extra is not installed: no snippet can change them
        return {}
    return dict(vars(Settings))


def _restore_llama_index_settings(saved: dict[str, object]) -> None:
    if saved:
        from llama_index.core import Settings

        for key, value in saved.items():
            setattr(Settings, key, value)
