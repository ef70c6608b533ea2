"""``multivec explain``: why a stored document matched a query, as a word table and optionally a PNG.

For image records (images, PDF pages) with an embedder that knows its patch layout, the PNG shows the query words
that added most to the score, each over the page with the region it matched outlined; otherwise it is a bar chart of
the query words' contributions, annotated with the document words they matched.

The table is :meth:`multivec.explain.Explanation.table`; the picture :meth:`multivec.explain.Explanation.plot`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multivec.explain import Explanation, explain_record
from multivec.store import MultiVectorStore, Record

__all__ = ["explanation_json", "run_explain"]


def explanation_json(explanation: Explanation, record: Record) -> str:
    """The explanation as JSON: record id, score, relevance, one object per query word (largest contribution
    first: the word, its token rows, its contribution, the document words or page patches it matched) and, for
    the detail behind the words, one per model token of the query (special and padding tokens included)."""
    tokens = [
        {
            "token": m.label,
            "document_index": m.document_index,
            "document_token": m.document_label,
            "contribution": m.contribution,
        }
        for m in explanation.matches()
    ]
    words = [
        {
            "word": w.text,
            "tokens": list(w.token_indices),
            "contribution": w.contribution,
            "matched": list(w.document_words),
        }
        for w in explanation.top_words()
    ]
    data: dict[str, Any] = {
        "id": record.id,
        "score": explanation.score,
        "relevance": explanation.relevance,
        "words": words,
        "tokens": tokens,
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def run_explain(
    store: MultiVectorStore, query: str, record_id: str, *, out: Path | None, dpi: float | None
) -> tuple[Explanation, Record, str | None]:
    """Explain ``record_id`` for ``query``; write the PNG when ``out`` is given. Returns what the PNG shows."""
    explanation = explain_record(store, query, record_id, dpi=dpi)
    assert explanation.record is not None
    shown = None
    if out is not None:
        from multivec.plot import close

        close(explanation.plot(out))
        shown = "similarity maps of the top words" if explanation.grid is not None else "word contributions"
    return explanation, explanation.record, shown
