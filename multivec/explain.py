"""Why did a document match? The token-level breakdown of a MaxSim score.

MaxSim sums, over query tokens, the best similarity of each query token with any document token (or image
patch). :func:`explain` returns that breakdown as an :class:`Explanation`: for every query token, the document row it
matched best, that similarity (its contribution to the score: the contributions sum to ``score``), and the full
similarity matrix, from which :meth:`Explanation.heatmaps` builds per-token maps over an image's patch grid
(:class:`~multivec.patch_grid.PatchGrid`; plotted by :mod:`multivec.plot`).

Rows are L2-normalised first, as the store does, so ``score`` equals the store's MaxSim score for the same vectors.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=16)
>>> ex = explain("red apples", "apples are red", embedding=fake)
>>> ex.query_tokens, ex.best_indices.tolist(), round(ex.score, 4)
(('red', 'apples'), [2, 0], 2.0)
>>> [(m.label, m.document_index, round(m.contribution, 2)) for m in ex.matches()]
[('red', 2, 1.0), ('apples', 0, 1.0)]
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import DimensionMismatchError, InvalidInputError
from multivec.patch_grid import PatchGrid
from multivec.scoring import normalize_rows, relevance
from multivec.types import ImageInput

if TYPE_CHECKING:
    from multivec.store import MultiVectorStore

__all__ = ["Explanation", "TokenMatch", "aexplain_record", "explain", "explain_record"]

QueryInput = str | np.ndarray
DocumentInput = str | ImageInput | np.ndarray


@dataclass(frozen=True)
class TokenMatch:
    """One query token's share of the score: its best document row and that similarity (= its contribution)."""

    query_index: int
    label: str | None
    document_index: int
    similarity: float

    @property
    def contribution(self) -> float:
        """What this token adds to the MaxSim score (its best similarity)."""
        return self.similarity


@dataclass(frozen=True, eq=False)
class Explanation:
    """The MaxSim breakdown of one (query, document) pair.

    ``similarities``: ``(n_query_tokens, n_document_rows)`` cosines; ``best_indices[i]``: the document row query
    token ``i`` matched best; ``best_similarities[i]``: that cosine, which is token ``i``'s contribution;
    ``score``: their sum (the MaxSim score); ``query_tokens``: one label per query token when the embedder could
    tell them, else ``None``.
    """

    similarities: npt.NDArray[np.float32]
    best_indices: npt.NDArray[np.int64]
    best_similarities: npt.NDArray[np.float32]
    score: float
    query_tokens: tuple[str, ...] | None = None

    @property
    def contributions(self) -> npt.NDArray[np.float32]:
        """Per-query-token contribution to :attr:`score` (MaxSim: each token's best similarity); sums to ``score``."""
        return self.best_similarities

    @property
    def n_query_tokens(self) -> int:
        """Number of query tokens (rows of :attr:`similarities`)."""
        return int(self.similarities.shape[0])

    @property
    def relevance(self) -> float:
        """The score mapped to [0, 1] as the store does (:func:`multivec.scoring.relevance`)."""
        return relevance(self.score, self.n_query_tokens)

    def labels(self) -> list[str]:
        """A label per query token: its token string, or ``"#i"`` when the tokens are unknown."""
        if self.query_tokens is None:
            return [f"#{i}" for i in range(self.n_query_tokens)]
        return list(self.query_tokens)

    def matches(self) -> list[TokenMatch]:
        """One :class:`TokenMatch` per query token, in query order."""
        labels = self.query_tokens or (None,) * self.n_query_tokens
        return [
            TokenMatch(i, labels[i], int(self.best_indices[i]), float(self.best_similarities[i]))
            for i in range(self.n_query_tokens)
        ]

    def heatmaps(self, grid: PatchGrid) -> npt.NDArray[np.float32]:
        """``(n_query_tokens, grid.rows, grid.cols)``: each query token's similarity with every image patch.

        >>> ex = explain(np.eye(2, 3, dtype=np.float32), np.eye(4, 3, dtype=np.float32))
        >>> ex.heatmaps(PatchGrid(2, 2, (0, 1, 2, 3))).shape
        (2, 2, 2)
        """
        if not isinstance(grid, PatchGrid):
            raise InvalidInputError(f"grid must be a PatchGrid, got {type(grid).__name__}")
        n_rows = self.similarities.shape[1]
        if max(grid.row_indices) >= n_rows or min(grid.row_indices) < 0:
            raise InvalidInputError(
                f"the patch grid points at rows up to {max(grid.row_indices)} but the document has {n_rows} rows; "
                "use the grid of the image this explanation was computed for"
            )
        patches = self.similarities[:, list(grid.row_indices)]
        return patches.reshape(self.n_query_tokens, grid.rows, grid.cols)

    def combined_heatmap(self, grid: PatchGrid) -> npt.NDArray[np.float32]:
        """``(grid.rows, grid.cols)``: the mean over query tokens of :meth:`heatmaps`."""
        return self.heatmaps(grid).mean(axis=0)


def _as_multivector(value: np.ndarray, name: str, dim: int | None) -> npt.NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{name} must be a (n_tokens, dim) array, got shape {np.shape(value)}")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} must hold finite numbers")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(f"{name} has {arr.shape[1]}-d vectors but the other side has {dim}-d vectors")
    return normalize_rows(arr)


def _need_embedding(embedding: Any, what: str) -> MultiVectorBaseEmbedding:
    if embedding is None:
        raise InvalidInputError(f"{what} is not a vector array, so explain() needs embedding= to embed it")
    if not isinstance(embedding, MultiVectorBaseEmbedding):
        raise InvalidInputError(f"embedding must be a multivec embedder, got {type(embedding).__name__}")
    if not embedding.is_multi_vector:
        raise InvalidInputError(f"{embedding!r} is single-vector; token-level explanations need a multi-vector model")
    return embedding


def _query_side(query: QueryInput, embedding: Any) -> tuple[np.ndarray, tuple[str, ...] | None]:
    if isinstance(query, np.ndarray):
        return query, None
    if not isinstance(query, str):
        raise InvalidInputError(f"query is {type(query).__name__}; pass a str or a (n_tokens, dim) numpy array")
    emb = _need_embedding(embedding, "query")
    vectors = emb.embed_query(query)
    tokens = emb.query_tokens(query)
    if tokens is not None and len(tokens) != len(vectors):
        tokens = None  # an embedder whose labels do not line up with its rows: better no labels than wrong ones
    return vectors, None if tokens is None else tuple(tokens)


def _document_side(document: DocumentInput, embedding: Any) -> np.ndarray:
    if isinstance(document, np.ndarray):
        return document
    if isinstance(document, str):
        return _need_embedding(embedding, "document").embed_text(document)
    if isinstance(document, Path | bytes | BytesIO | Image.Image):
        emb = _need_embedding(embedding, "document")
        if not isinstance(emb, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(f"{emb!r} embeds text only; image documents need a multimodal embedder")
        return emb.embed_image(document)
    raise InvalidInputError(
        f"document is {type(document).__name__}; pass a numpy array, a text, or an image (path, bytes, PIL image)"
    )


def explain(
    query: QueryInput, document: DocumentInput, *, embedding: MultiVectorBaseEmbedding | None = None
) -> Explanation:
    """Break the MaxSim score of ``query`` against ``document`` down by query token.

    ``query``: a text (embedded with ``embedding.embed_query``; its tokens label the rows when the embedder can
    tell them) or precomputed query vectors ``(n_tokens, dim)``. ``document``: precomputed vectors (e.g. from
    :meth:`~multivec.store.MultiVectorStore.get_vectors`), a text (any ``str``; ``embed_text``), or an image
    (``Path``, bytes, ``BytesIO``, PIL image; ``embed_image``). Raises :class:`~multivec.errors.InvalidInputError` for unusable inputs or a missing embedder
    and :class:`~multivec.errors.DimensionMismatchError` when the two sides' dimensions differ.

    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> d = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    >>> ex = explain(q, d)
    >>> ex.best_indices.tolist(), [round(c, 2) for c in ex.contributions.tolist()], round(ex.score, 2)
    ([1, 0], [1.0, 0.8], 1.8)
    """
    if embedding is not None:
        _need_embedding(embedding, "query")
    raw_query, tokens = _query_side(query, embedding)
    q = _as_multivector(raw_query, "query", None)
    d = _as_multivector(_document_side(document, embedding), "document", q.shape[1])
    sims = (q @ d.T).astype(np.float32)
    best = sims.argmax(axis=1).astype(np.int64)
    best_sims = sims[np.arange(len(q)), best]
    return Explanation(
        similarities=sims,
        best_indices=best,
        best_similarities=best_sims,
        score=float(best_sims.sum()),
        query_tokens=tokens,
    )


def _check_store(store: Any) -> None:
    from multivec.store import MultiVectorStore

    if not isinstance(store, MultiVectorStore):
        raise InvalidInputError(f"store must be a MultiVectorStore, got {type(store).__name__}")
    if not store.is_multi_vector:
        raise InvalidInputError("the store is single-vector; token-level explanations need a multi-vector store")


def _stored(store: MultiVectorStore, vectors: list[np.ndarray], record_id: str | int) -> np.ndarray:
    if not vectors:
        raise InvalidInputError(f"no record with id {record_id!r} in collection {store.collection_name!r}")
    return vectors[0]


def explain_record(store: MultiVectorStore, query: QueryInput, record_id: str | int) -> Explanation:
    """:func:`explain` ``query`` against the stored vectors of record ``record_id`` (embedded with the store's embedder).

    ``score`` equals the raw MaxSim the store reports for that record (``store.search(..., exact=True)``).

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.store import MultiVectorStore
    >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
    ...     _ = store.add_texts(["red apples"], ids=["a"])
    ...     round(explain_record(store, "apples", "a").score, 4)
    1.0
    """
    _check_store(store)
    vectors = store.get_vectors([record_id])
    return explain(query, _stored(store, vectors, record_id), embedding=store.embedding)


async def aexplain_record(store: MultiVectorStore, query: QueryInput, record_id: str | int) -> Explanation:
    """Async twin of :func:`explain_record` (the query is embedded off the event loop)."""
    _check_store(store)
    vectors = await store.aget_vectors([record_id])
    stored = _stored(store, vectors, record_id)
    return await asyncio.to_thread(explain, query, stored, embedding=store.embedding)
