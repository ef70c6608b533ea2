"""What the store returns: :class:`Record` (a stored item) and :class:`Hit` (a record with its search scores).

>>> hit = Hit(id="a", content="red apples", metadata={"genre": "fruit"}, modality="text", source=None, page=None,
...           score=1.5, relevance=0.875)
>>> hit.id, hit.metadata["genre"], hit.relevance
('a', 'fruit', 0.875)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Hit", "Modality", "Record"]

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class Record:
    """One stored item.

    - ``id``: the caller's id as a string (int ids come back as their ``str``).
    - ``content``: the text, or for images the reference stored in place of pixels (path/URI or the caller's id).
    - ``metadata``: the caller's JSON metadata.
    - ``modality``: ``"text"`` or ``"image"``.
    - ``source``: where the item came from (file path/URI) or ``None``.
    - ``page``: page number for PDF pages, else ``None``.
    """

    id: str
    content: str | None
    metadata: dict[str, Any] = field(hash=False)
    modality: Modality
    source: str | None
    page: int | None


@dataclass(frozen=True)
class Hit(Record):
    """A search result: a :class:`Record` plus its scores.

    - ``score``: the raw MaxSim score (sum over query tokens of the best cosine; cosine for single-vector stores).
    - ``relevance``: ``(score / n_query_tokens + 1) / 2`` clipped to [0, 1] (see :func:`multivec.scoring.relevance`).
    """

    score: float
    relevance: float
