"""``multivec explain``: why a stored document matched a query, as a token table and optionally a PNG.

For image records (images, PDF pages) with an embedder that knows its patch layout, the PNG holds one similarity map
per query token over the page plus a combined map; otherwise it is a bar chart of the token contributions.

>>> from multivec.explain import explain
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> print(token_table(explain("red apples", "apples", embedding=DeterministicFakeMultiVectorEmbedding(dim=16))))
 #  token            match  contribution
 1  red                  0         0.019
 2  apples               0         1.000
MaxSim 1.019 = sum of 2 contributions (relevance 0.75)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multivec.errors import InvalidInputError
from multivec.explain import Explanation, explain_record
from multivec.source_images import source_image
from multivec.store import MultiVectorStore, Record

__all__ = ["explain_to_png", "explanation_json", "token_table"]

_LABEL_WIDTH = 15


def token_table(explanation: Explanation) -> str:
    """Rank, token, matched document row and contribution per query token, then the total."""
    rows = [f"{'#':>2}  {'token'.ljust(_LABEL_WIDTH)}  {'match':>5}  contribution"]
    for i, match in enumerate(explanation.matches(), 1):
        label = match.label if match.label is not None else f"#{match.query_index}"
        label = label if len(label) <= _LABEL_WIDTH else label[: _LABEL_WIDTH - 1] + "…"
        rows.append(f"{i:>2}  {label.ljust(_LABEL_WIDTH)}  {match.document_index:>5}  {match.contribution:>12.3f}")
    rows.append(
        f"MaxSim {explanation.score:.3f} = sum of {explanation.n_query_tokens} contributions "
        f"(relevance {explanation.relevance:.2f})"
    )
    return "\n".join(rows)


def explanation_json(explanation: Explanation, record: Record) -> str:
    """The explanation as JSON: record id, score, relevance and one object per query token."""
    tokens = [
        {"token": m.label, "document_index": m.document_index, "contribution": m.contribution}
        for m in explanation.matches()
    ]
    data: dict[str, Any] = {
        "id": record.id,
        "score": explanation.score,
        "relevance": explanation.relevance,
        "tokens": tokens,
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def explain_to_png(store: MultiVectorStore, record: Record, explanation: Explanation, out: Path, *, dpi: float) -> str:
    """Write the PNG for ``record`` (heatmaps for image records when the layout is known) and say which it is."""
    from multivec.plot import plot_heatmaps, plot_token_table

    grid_of = getattr(store.embedding, "image_patch_grid", None)
    if record.modality == "image" and record.source and grid_of is not None:
        image = source_image(record.source, record.page, dpi=dpi)
        grid = grid_of(image)
        if grid is not None:
            plot_heatmaps(explanation, image, grid, out)
            return "similarity maps"
    plot_token_table(explanation, out)
    return "token contributions"


def run_explain(
    store: MultiVectorStore, query: str, record_id: str, *, out: Path | None, dpi: float
) -> tuple[Explanation, Record, str | None]:
    """Explain ``record_id`` for ``query``; write the PNG when ``out`` is given. Returns what the PNG shows."""
    records = store.get([record_id])
    if not records:
        raise InvalidInputError(
            f"no document with id {record_id!r} in this store; `multivec search --json` shows the ids"
        )
    explanation = explain_record(store, query, record_id)
    shown = explain_to_png(store, records[0], explanation, out, dpi=dpi) if out is not None else None
    return explanation, records[0], shown
