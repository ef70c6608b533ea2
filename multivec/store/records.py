"""What the store returns: :class:`Record` (a stored item) and :class:`Hit` (a record with its search scores).

>>> hit = Hit(id="a", content="red apples", metadata={"genre": "fruit"}, modality="text", source=None, page=None,
...           score=1.5, relevance=0.875)
>>> hit.id, hit.metadata["genre"], hit.relevance
('a', 'fruit', 0.875)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from multivec.store.hybrid import HybridScores

__all__ = ["Hit", "Modality", "Record"]

Modality = Literal["text", "image"]


#: Metadata that stands for an image record's words (:attr:`Record.text`), in order of preference.
IMAGE_TEXT_KEYS = ("page_text", "caption")


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

    @property
    def text(self) -> str:
        """The words this record stands for, what a chain sends to an LLM: a text's content; for an image, its
        page's text layer (``metadata["page_text"]``, which PDF pages get), else a ``metadata["caption"]``, else
        its reference (``content``: the path/URI or id stored in place of pixels).

        >>> Record("p1", "p1", {"page_text": "Revenue by region"}, "image", "r.pdf", 1).text
        'Revenue by region'
        >>> Record("p2", "r.pdf", {}, "image", "r.pdf", 2).text, Record("t", "hello", {}, "text", None, None).text
        ('r.pdf', 'hello')
        """
        if self.modality == "image":
            for key in IMAGE_TEXT_KEYS:
                value = self.metadata.get(key)
                if isinstance(value, str) and value.strip():
                    return value
        return self.content or self.source or ""


@dataclass(frozen=True)
class Hit(Record):
    """A search result: a :class:`Record` plus its scores.

    - ``score``: the raw MaxSim score (sum over query tokens of the best cosine; cosine for single-vector stores).
    - ``relevance``: ``(score / n_query_tokens + 1) / 2`` clipped to [0, 1] (see :func:`multivec.scoring.relevance`).
    - ``hybrid``: for a hybrid search (``mode="hybrid"``) the parts of the score
      (:class:`~multivec.store.hybrid.HybridScores`); ``score`` is then the fused score and ``relevance`` the fused
      score over the highest one possible. ``None`` for other searches.
    """

    score: float
    relevance: float
    hybrid: HybridScores | None = field(default=None, compare=False)
