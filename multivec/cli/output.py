"""Printing search hits: a ranked text table for people, JSON for programs.

>>> from multivec.store import Hit
>>> hit = Hit(id="a:1", content="Pour-over coffee  tastes best at 93 C.", metadata={}, modality="text",
...           source="/tmp/coffee.md", page=None, score=7.25, relevance=0.91)
>>> print(hits_table([hit], width=80))
 #   score   rel  source          page  snippet
 1   7.250  0.91  /tmp/coffee.md     -  Pour-over coffee tastes best at 93 C.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from multivec.store import Hit

__all__ = ["display_source", "hits_json", "hits_table", "snippet"]


def display_source(source: str | None, base: str | os.PathLike[str] | None = None) -> str:
    """``source`` relative to ``base`` (default: the working directory) when it lies below it, else as stored;
    ``-`` for none."""
    if not source:
        return "-"
    try:
        relative = os.path.relpath(source, base)
    except ValueError:  # another drive on Windows
        return source
    return relative if not relative.startswith("..") else source


def snippet(hit: Hit, limit: int) -> str:
    """One line of the hit's text (page text for PDF page images), cut to ``limit`` characters."""
    text = hit.content or ""
    if hit.modality == "image":
        page_text = hit.metadata.get("page_text")
        text = page_text if isinstance(page_text, str) and page_text else "[image]"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def hits_table(hits: Sequence[Hit], *, width: int | None = None, base: str | os.PathLike[str] | None = None) -> str:
    """A ranked table: rank, raw MaxSim score, relevance in [0, 1], source (relative to ``base`` when below it,
    see :func:`display_source`), page, snippet. ``width`` defaults to the terminal's."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    sources = [display_source(hit.source, base) for hit in hits]
    source_width = min(40, max([len("source"), *map(len, sources)]))
    header = f"{'#':>2}  {'score':>6}  {'rel':>4}  {'source'.ljust(source_width)}  page  snippet"
    rows = [header]
    room = max(20, width - len(header) + len("snippet"))
    for rank, (hit, source) in enumerate(zip(hits, sources, strict=True), 1):
        if len(source) > source_width:
            source = "…" + source[-(source_width - 1) :]
        page = str(hit.page) if hit.page is not None else "-"
        rows.append(
            f"{rank:>2}  {hit.score:>6.3f}  {hit.relevance:.2f}  {source.ljust(source_width)}  {page:>4}  "
            f"{snippet(hit, room)}"
        )
    return "\n".join(rows)


def hits_json(hits: Sequence[Hit]) -> str:
    """The hits as a JSON array of objects (rank, id, score, relevance, source, page, modality, content, metadata;
    ``hybrid``, the parts of the score, for hybrid searches)."""
    items: list[dict[str, Any]] = []
    for rank, hit in enumerate(hits, 1):
        item = asdict(hit)
        items.append({"rank": rank, **{key: item[key] for key in _FIELDS}})
        if hit.hybrid is not None:  # the parts of a hybrid hit's fused score
            items[-1]["hybrid"] = item["hybrid"]
    return json.dumps(items, indent=2, ensure_ascii=False)


_FIELDS = ("id", "score", "relevance", "source", "page", "modality", "content", "metadata")
