"""Griffe extension for the API reference: our docstrings are written for doctest and read as reST, mkdocs wants Markdown.

Rewrites each docstring before mkdocstrings renders it, without changing the source:

- ``:class:`~multivec.store.MultiVectorStore``` (also ``func meth mod data attr exc``) becomes an *optional*
  autorefs link (a link where the target is documented, plain code where it is not, never a warning); a target
  without a dot is looked up next to the documented object (``:meth:`add_texts``` in a class method);
- ``>>>`` examples at the left margin become fenced ``pycon`` blocks (Markdown would read ``['a'][0]`` as a link);
- a paragraph ending in ``::`` (reST's "literal block follows") ends in ``:``; its indented block is Markdown code;
- reST simple tables (``=====  =====`` borders) become Markdown tables;
- ```text <url>`_`` becomes ``[text](url)``.

Loaded by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`<]+?)(?:\s*<([^`>]+)>)?`")
_LINK = re.compile(r"`([^`<]+?)\s*<(https?://[^`>]+)>`_")
_BORDER = re.compile(r"^=+( +=+)+\s*$")


class RstDocstrings(griffe.Extension):
    """Turn the reST-isms of a docstring into Markdown mkdocstrings renders without warnings."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value, obj)


def to_markdown(text: str, obj: griffe.Object | None = None) -> str:
    """The Markdown form of the reST docstring ``text`` of ``obj``."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    in_code = False
    while i < len(lines):
        line = lines[i]
        if line.startswith(">>>"):  # a doctest block runs to the next blank line
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out += ["```pycon", *lines[i:j], "```"]
            i = j
            continue
        if _BORDER.match(line):  # a simple table: border, rows (a header border maybe), closing border
            j = i + 1
            while j < len(lines) and not (
                _BORDER.match(lines[j]) and (j + 1 == len(lines) or not lines[j + 1].strip())
            ):
                j += 1
            out += _table(lines[i : j + 1], obj)
            i = j + 1
            continue
        if line.startswith(("    ", "\t")) and (in_code or not (out and out[-1].strip())):
            in_code = True  # an indented block after a blank line is Markdown code: leave it alone
            out.append(line)
            i += 1
            continue
        in_code = in_code and not line.strip()
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1] if line.strip() != "::" else ""
        out.append(_LINK.sub(r"[\1](\2)", _ROLE.sub(lambda m: _autoref(m, obj), line)))
        i += 1
    return "\n".join(out)


def _table(lines: list[str], obj: griffe.Object | None) -> list[str]:
    """A reST simple table (borders included; a row whose first cell is empty continues the row above) as Markdown."""
    starts = [m.start() for m in re.finditer(r"=+", lines[0])]
    rows: list[list[str]] = []
    for line in lines[1:-1]:
        if _BORDER.match(line):
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line) + 1], strict=True)]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    convert = lambda cell: _ROLE.sub(lambda m: _autoref(m, obj), cell).replace("|", "\\|")  # noqa: E731
    return (
        ["", "| " + " | ".join("" for _ in starts) + " |", "|" + "---|" * len(starts)]
        + ["| " + " | ".join(convert(c) for c in row) + " |" for row in rows]
        + [""]
    )


def _autoref(match: re.Match[str], obj: griffe.Object | None) -> str:
    kind, short, text, target = match.groups()
    target = (target or text).strip()
    title = text.strip() if match.group(4) else (target.rsplit(".", 1)[-1] if short else target)
    if kind in ("func", "meth") and not match.group(4):
        title += "()"
    identifier = target.rstrip("()")
    if "." not in identifier and obj is not None:
        owner = obj if obj.is_class or obj.is_module else obj.parent
        if owner is not None:
            identifier = f"{owner.path}.{identifier}"
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'
