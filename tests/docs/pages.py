"""The documentation pages whose snippets the suite runs, and how their code blocks are found (Sybil, Markdown).

Every fenced block in README.md and docs/*.md is one of:

- ```` ```python ````: executed by ``test_snippets.py``, top to bottom per page in one namespace (a block may use
  what an earlier block *of the same page* defined), in a fresh temporary working directory;
- ```` ```python ```` right after ``<!-- skip: next "REASON" -->``: shown, not executed (a server or a GPU model
  is needed); the reason is required and names where the runnable equivalent is;
- ```` ```bash ````: not executed as Python; its ``multivec …`` lines are run by ``test_cli_examples.py``;
- ```` ```text ```` / ```` ```json ````: output shown to the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parents[2]
#: Every page whose snippets must run: the README (the front page) and every page of the docs site.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Fence languages a page may use; anything else (``py``, ``pycon``, an unlabelled fence) would escape the check.
LANGUAGES = {"python", "bash", "text", "json"}

SYBIL = Sybil(parsers=[PythonCodeBlockParser(), SkipParser()])

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$", re.MULTILINE)
_SKIP = re.compile(r"<!--\s*skip:\s*next\s+\"(?P<reason>[^\"]{10,})\"\s*-->\s*\n\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page: its 1-based line, language and, when it is skipped, the reason."""

    page: Path
    line: int
    language: str
    skip_reason: str | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.language})"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` in order (opening fences only; nested fences are not used in our docs)."""
    text = page.read_text(encoding="utf-8")
    found: list[Block] = []
    closing: str | None = None
    for match in _FENCE.finditer(text):
        fence = match["fence"]
        if closing is not None:
            if fence.startswith(closing) and not match["info"].strip():
                closing = None
            continue
        closing = fence
        skip = _SKIP.search(text, 0, match.start())
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, match["info"].strip(), skip["reason"] if skip else None))
    return found


def python_lines(page: Path) -> set[int]:
    """1-based lines of the ```python fences Sybil executes in ``page`` (skipped ones included: Sybil skips them)."""
    document = SYBIL.parse(page)
    return {example.line for example in document if example.region.parsed is not None and _is_code(example)}


def _is_code(example: object) -> bool:
    return type(getattr(example, "parsed", None)) is not tuple  # skip directives parse to (action, reason)
