"""Hybrid search: a lexical ranking (BM25 over the stored text) fused with the late-interaction (MaxSim) ranking.

``MultiVectorStore.search(query, mode="hybrid")`` sends one engine request holding two searches with the same
filter: the usual late-interaction search (two-stage MaxSim, or exact with ``exact=True``) keeping
``hybrid_limit`` candidates, and BM25 over the collection's lexical text index keeping as many. The two rankings
are then fused (:func:`fuse`):

- ``"rrf"``: weighted reciprocal rank fusion, ``1 / (60 + rank_maxsim) + w / (60 + rank_lexical)``;
- ``"dbsf"`` (default): distribution-based score fusion: each branch's scores mapped to [0, 1] by their
  mean ± 3 standard deviations, then ``maxsim + w * lexical``;
- ``"rerank"``: no fusion of scores: the BM25 candidates join the pooled-vector candidates of the first stage and
  MaxSim reranks them all (one Qdrant query); ``score`` is the MaxSim score.

``w`` is the lexical weight (``hybrid_weight``; MaxSim weighs 1). Measured on Cranfield (docs/hybrid.md), a low
lexical weight is the safe default: equal weights help where BM25 is strong and hurt where it is weak.

Every hit of a hybrid search carries :class:`HybridScores` (``hit.hybrid``): the fused score and each branch's
score and 1-based rank among its candidates (``None`` when the item was not among them).

The lexical text (payload key ``"lexical"``, written by every ingestion) is a text document's content and an image
page's PDF text layer (``metadata["page_text"]``, set by ``add_pdfs``); items without text (images without a text
layer, precomputed embeddings without content) are found by MaxSim only. The index tokenises English (words,
lowercase, English stop words and Snowball stemming) on the embedded store and on a Qdrant server; qdrant-client's
``:memory:`` local mode only supports its default tokenisation (words, lowercase), so it ranks a little differently.

>>> settings = HybridSettings.resolve(None, fusion="rrf")
>>> settings.fusion, settings.weight, settings.limit
('rrf', 0.3, 30)
>>> check_mode("bm25")
Traceback (most recent call last):
...
multivec.errors.InvalidInputError: mode must be 'maxsim' or 'hybrid', got 'bm25'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multivec._flow import Flow
from multivec._options import number
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import relevance
from multivec.store.backend import LEXICAL, EnableLexical, HybridQuery, ScoredPayload, Scroll, SetPayload
from multivec.store.records import IMAGE_TEXT_KEYS
from multivec.validation import point_id, positive_int

if TYPE_CHECKING:
    from multivec.store.records import Hit
    from multivec.store.store import MultiVectorStore

__all__ = [
    "DEFAULT_FUSION",
    "DEFAULT_HYBRID_LIMIT",
    "DEFAULT_HYBRID_WEIGHT",
    "FUSIONS",
    "MODES",
    "RRF_K",
    "HybridNotEnabledError",
    "HybridScores",
    "HybridSettings",
    "check_mode",
    "enable_hybrid_flow",
    "fuse",
    "fused_relevance",
    "hybrid_flow",
    "lexical_text",
]

#: Search modes: ``"maxsim"`` (late interaction only, the default) and ``"hybrid"``.
MODES = ("maxsim", "hybrid")
#: Ways to combine the two rankings (see the module docstring).
FUSIONS = ("rrf", "dbsf", "rerank")
#: Default fusion. On Cranfield (docs/hybrid.md) DBSF gained more than weighted RRF at the low lexical weights that
#: are safe where BM25 is weak (w=0.3: nDCG@10 +0.016 against +0.011), and as much at higher ones.
DEFAULT_FUSION = "dbsf"
#: Default lexical weight (MaxSim weighs 1). Cranfield's sweep peaks near 0.7-1.0, but a collection with a weak
#: lexical side lost nDCG@10 at equal weights while 0.2-0.3 still gained: 0.3 gains on both.
DEFAULT_HYBRID_WEIGHT = 0.3
#: Candidates each branch keeps before fusion (at least ``k``). On Cranfield at k=10, nDCG@10 was 0.3964 with 30,
#: 0.3951 with 50 and 0.3977 with 100, at 1.08x, 1.15x and 1.26x the two-stage latency (docs/hybrid.md).
DEFAULT_HYBRID_LIMIT = 30
#: The ``k`` of reciprocal rank fusion (the usual constant of Cormack et al.).
RRF_K = 60
#: The largest lexical weight accepted.
MAX_HYBRID_WEIGHT = 100.0


class HybridNotEnabledError(ConfigurationError):
    """A hybrid search on a collection without a lexical index (made before hybrid search existed)."""


def check_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`MODES`, else :class:`~multivec.errors.InvalidInputError`."""
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidInputError(f"mode must be 'maxsim' or 'hybrid', got {mode!r}")
    return mode


def _fusion(value: Any, error: type[Exception]) -> str:
    if not isinstance(value, str) or value not in FUSIONS:
        raise error(f"hybrid_fusion must be one of {', '.join(map(repr, FUSIONS))}, got {value!r}")
    return value


def _weight(value: Any, error: type[Exception]) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_HYBRID_WEIGHT
    ):
        raise error(
            f"hybrid_weight (the lexical weight; MaxSim weighs 1) must be a number in [0, {MAX_HYBRID_WEIGHT:g}], "
            f"got {value!r}"
        )
    return float(value)


def _limit(value: Any, error: type[Exception]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"hybrid_limit must be a positive int, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class HybridSettings:
    """How a hybrid search fuses: ``fusion`` (:data:`FUSIONS`), the lexical ``weight`` and each branch's ``limit``."""

    fusion: str = DEFAULT_FUSION
    weight: float = DEFAULT_HYBRID_WEIGHT
    limit: int = DEFAULT_HYBRID_LIMIT

    def as_dict(self) -> dict[str, Any]:
        return {"fusion": self.fusion, "weight": self.weight, "limit": self.limit}

    @classmethod
    def resolve(
        cls,
        stored: dict[str, Any] | None,
        *,
        fusion: Any = None,
        weight: Any = None,
        limit: Any = None,
        error: type[Exception] = ConfigurationError,
    ) -> HybridSettings:
        """The settings in force: each one given (not ``None``) wins over the ``stored`` one, else the default.

        Bad given values raise ``error``; a damaged stored value falls back to the default.

        >>> HybridSettings.resolve({"fusion": "dbsf", "weight": 0.5, "limit": 50}, weight=0.3)
        HybridSettings(fusion='dbsf', weight=0.3, limit=50)
        >>> HybridSettings.resolve(None, weight=-1)
        Traceback (most recent call last):
        ...
        multivec.errors.ConfigurationError: hybrid_weight (the lexical weight; MaxSim weighs 1) must be a number in [0, 100], got -1
        """
        base = cls()
        stored = stored or {}
        out: dict[str, Any] = {}
        for name, check, given in (("fusion", _fusion, fusion), ("weight", _weight, weight), ("limit", _limit, limit)):
            if given is not None:
                out[name] = check(given, error)
                continue
            try:
                out[name] = check(stored.get(name, getattr(base, name)), ConfigurationError)
            except ConfigurationError:
                out[name] = getattr(base, name)
        return cls(**out)


@dataclass(frozen=True)
class HybridScores:
    """The parts of a hybrid hit's score.

    - ``score``: the fused score (the hit's ``score``);
    - ``maxsim_score``/``maxsim_rank``: its late-interaction score and 1-based rank among that branch's candidates;
    - ``lexical_score``/``lexical_rank``: its BM25 score and rank among the lexical candidates;
    - ``fusion``, ``weight``: how they were fused.

    A part is ``None`` when the item was not among that branch's candidates (``hybrid_limit``).
    """

    score: float
    maxsim_score: float | None
    maxsim_rank: int | None
    lexical_score: float | None
    lexical_rank: int | None
    fusion: str
    weight: float


def lexical_text(row: dict[str, Any]) -> str | None:
    """The text the lexical index holds for a payload ``row``: a text item's content; for an image, the words
    :attr:`Record.text <multivec.store.records.Record.text>` gives it (its page's text layer, else its caption).

    >>> lexical_text({"content": "wing flutter", "modality": "text", "metadata": {}})
    'wing flutter'
    >>> lexical_text({"content": "a.pdf", "modality": "image", "metadata": {"page_text": "Shock waves"}})
    'Shock waves'
    >>> lexical_text({"content": "a.png", "modality": "image", "metadata": {"caption": "A red barn"}})
    'A red barn'
    >>> lexical_text({"content": "a.png", "modality": "image", "metadata": {}}) is None
    True
    """
    if row.get("modality", "text") != "image":
        text = row.get("content")
        return text if isinstance(text, str) and text.strip() else None
    metadata = row.get("metadata") or {}
    for key in IMAGE_TEXT_KEYS:
        text = metadata.get(key)
        if isinstance(text, str) and text.strip():
            return text
    return None


def _dbsf(scores: Sequence[float]) -> list[float]:
    """Scores mapped to [0, 1] by mean ± 3 standard deviations (Qdrant's distribution-based score fusion)."""
    if not scores:
        return []
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / len(scores))
    if std == 0:  # one candidate, or all tied: each is the branch's best
        return [1.0] * len(scores)
    low, high = mean - 3 * std, mean + 3 * std
    return [min(1.0, max(0.0, (s - low) / (high - low))) for s in scores]


def _key(result: ScoredPayload) -> str:
    return str(result.payload.get("id"))


def fuse(
    maxsim: list[ScoredPayload], lexical: list[ScoredPayload], settings: HybridSettings, k: int
) -> list[tuple[ScoredPayload, HybridScores]]:
    """The ``k`` best items of the two rankings fused by ``settings``, best first, with their parts.

    With ``fusion="rerank"`` ``maxsim`` already holds the final ranking (the lexical candidates were reranked in it):
    only the parts are added. Ties keep the MaxSim order, then the lexical one.

    >>> maxsim = [ScoredPayload({"id": "a"}, 9.0), ScoredPayload({"id": "b"}, 8.0)]
    >>> lexical = [ScoredPayload({"id": "c"}, 7.0), ScoredPayload({"id": "b"}, 2.0)]
    >>> equal = HybridSettings(fusion="rrf", weight=1.0)
    >>> [(r.payload["id"], p.maxsim_rank, p.lexical_rank) for r, p in fuse(maxsim, lexical, equal, 3)]
    [('b', 2, 2), ('a', 1, None), ('c', None, 1)]
    """
    lexical_parts = {_key(r): (rank, r.score) for rank, r in enumerate(lexical, 1)}
    maxsim_parts = {_key(r): (rank, r.score) for rank, r in enumerate(maxsim, 1)}
    w = settings.weight
    if settings.fusion == "rerank":
        fused = [(r, r.score) for r in maxsim]
    else:
        items: dict[str, ScoredPayload] = {}
        for r in [*maxsim, *lexical]:
            items.setdefault(_key(r), r)
        if settings.fusion == "rrf":
            m = {key: 1 / (RRF_K + rank) for key, (rank, _) in maxsim_parts.items()}
            lx = {key: w / (RRF_K + rank) for key, (rank, _) in lexical_parts.items()}
        else:
            m = dict(zip(maxsim_parts, _dbsf([s for _, s in maxsim_parts.values()]), strict=True))
            lx = {
                key: w * v for key, v in zip(lexical_parts, _dbsf([s for _, s in lexical_parts.values()]), strict=True)
            }
        fused = [(r, m.get(key, 0.0) + lx.get(key, 0.0)) for key, r in items.items()]
        fused.sort(key=lambda pair: -pair[1])  # stable: MaxSim order first on ties
    out = []
    for result, score in fused[:k]:
        key = _key(result)
        m_rank, m_score = maxsim_parts.get(key, (None, None))
        l_rank, l_score = lexical_parts.get(key, (None, None))
        parts = HybridScores(float(score), m_score, m_rank, l_score, l_rank, settings.fusion, w)
        out.append((result, parts))
    return out


def fused_relevance(parts: HybridScores, maxsim_relevance: float | None) -> float:
    """A hybrid hit's ``relevance`` in [0, 1]: the fused score over the highest one possible (``rerank``: the MaxSim
    relevance, ``maxsim_relevance``).

    >>> fused_relevance(HybridScores(1 / 61 + 0.2 / 61, 3.0, 1, 9.0, 1, "rrf", 0.2), None)
    1.0
    """
    if parts.fusion == "rerank":
        return 0.0 if maxsim_relevance is None else maxsim_relevance
    top = (1 + parts.weight) / (RRF_K + 1) if parts.fusion == "rrf" else 1 + parts.weight
    return min(1.0, max(0.0, parts.score / top)) if top > 0 else 0.0


def stored_settings(store: MultiVectorStore) -> HybridSettings:
    """The hybrid defaults ``store`` searches with: its constructor's, else the collection's, else the defaults.

    Raises :class:`HybridNotEnabledError` for a collection without a lexical index.
    """
    stored = store._backend.metadata.get("hybrid")
    if not isinstance(stored, dict):
        raise HybridNotEnabledError(
            f"collection {store.collection_name!r} has no lexical index (it was created before hybrid search "
            "existed), so mode='hybrid' cannot search it; run store.enable_hybrid() once (it indexes the text "
            "already stored), or search with mode='maxsim'"
        )
    given = store._hybrid_options
    return HybridSettings.resolve(stored, fusion=given["fusion"], weight=given["weight"], limit=given["limit"])


def hybrid_flow(
    store: MultiVectorStore,
    query: Any,
    k: int,
    filter: Any,
    exact: bool,
    prefetch_limit: int | None,
    score_threshold: float | None,
    *,
    lexical_query: str | None = None,
    hybrid_fusion: str | None = None,
    hybrid_weight: float | None = None,
    hybrid_limit: int | None = None,
) -> Flow[list[Hit]]:
    """The flow of ``store.search(..., mode="hybrid")`` (see the module docstring)."""
    from multivec.store.records import Hit
    from multivec.store.store import _record

    positive_int(k, "k", InvalidInputError)
    settings = HybridSettings.resolve(
        stored_settings(store).as_dict(),
        fusion=hybrid_fusion,
        weight=hybrid_weight,
        limit=hybrid_limit,
        error=InvalidInputError,
    )
    text = lexical_query if lexical_query is not None else query if isinstance(query, str) else None
    if text is None:
        raise InvalidInputError(
            "mode='hybrid' with an image or array query needs lexical_query= (the text for the BM25 side)"
        )
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"lexical_query must be a non-empty str, got {text!r:.60}")
    if score_threshold is not None:
        score_threshold = number(score_threshold, "score_threshold", error=InvalidInputError)
    if settings.fusion == "rerank" and not store.is_multi_vector:
        raise InvalidInputError(
            "hybrid_fusion='rerank' reranks by MaxSim, which a single-vector store does not have; use 'dbsf' or 'rrf'"
        )
    candidates = max(k, settings.limit)
    op, n_query_tokens = yield from store._search_op(query, candidates, filter, exact, prefetch_limit, None)
    maxsim, lexical = yield HybridQuery(op, text, candidates, rerank=settings.fusion == "rerank")
    hits = []
    for result, parts in fuse(maxsim, lexical, settings, k):
        if score_threshold is not None and parts.score < score_threshold:
            continue
        maxsim_relevance = None if parts.maxsim_score is None else relevance(parts.maxsim_score, n_query_tokens)
        record = _record(result.payload)
        hits.append(
            Hit(
                **record.__dict__,
                score=parts.score,
                relevance=fused_relevance(parts, maxsim_relevance),
                hybrid=parts,
            )
        )
    return hits


def enable_hybrid_flow(store: MultiVectorStore, settings: HybridSettings) -> Flow[int]:
    """The flow of ``store.enable_hybrid()``: the lexical text of every stored item that lacks it, then the index.

    Returns the number of items whose lexical text was written. Safe to run again (it completes an interrupted run).
    """
    payloads = yield Scroll(None, None)
    missing: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        text = lexical_text(payload)
        if text is not None and payload.get(LEXICAL) != text:
            missing[point_id(str(payload.get("id")))] = {LEXICAL: text}
    batch = max(1, store.write_batch_size)
    keys = list(missing)
    for start in range(0, len(keys), batch):
        yield SetPayload({key: missing[key] for key in keys[start : start + batch]})
    yield EnableLexical(settings.as_dict())
    return len(missing)
