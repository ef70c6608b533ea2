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
>>> [(m.label, m.document_label, round(m.contribution, 2)) for m in ex.matches()]
[('red', 'red', 1.0), ('apples', 'apples', 1.0)]
>>> print(ex.table())
 #  word             matched                contribution
 1  red              red                           1.000
 2  apples           apples                        1.000
MaxSim 2.000 = sum of 2 word contributions (relevance 1.00)

A person reads words, not model tokens: :meth:`Explanation.words` groups the query tokens into the words of the
query (sub-word pieces merged, special, padding and prompt tokens left out; :mod:`multivec.explain_words`), each
worth the sum of its tokens' contributions, and :meth:`Explanation.table` and :meth:`Explanation.plot` show those,
largest first (``table(by="token")`` shows every token).

For a stored record, :func:`explain_record` also attaches the record and, for image records (images, PDF pages)
whose embedder knows its patch layout, the page image and its patch grid, so :meth:`Explanation.plot` draws
similarity maps over the page; for text it draws the token contributions. The framework adapters expose the same
through ``QdrantMultiVectorStore.explain(query, document_or_node)``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import DimensionMismatchError, InvalidInputError, MultivecError
from multivec.explain_words import Word, group_words, special_tokens_of, word_key
from multivec.patch_grid import PatchGrid
from multivec.scoring import normalize_rows, relevance
from multivec.types import ImageInput

if TYPE_CHECKING:
    from multivec.store import MultiVectorStore, Record

__all__ = [
    "NOT_A_PAGE_REGION",
    "Explanation",
    "TokenMatch",
    "WordMatch",
    "aexplain_record",
    "explain",
    "explain_record",
]

QueryInput = str | np.ndarray
DocumentInput = str | ImageInput | np.ndarray


@dataclass(frozen=True)
class TokenMatch:
    """One query token's share of the score: its best document row and that similarity (= its contribution).

    ``label`` is the query token, ``document_label`` the document token it matched (``None`` when unknown, e.g.
    for image patches).
    """

    query_index: int
    label: str | None
    document_index: int
    similarity: float
    document_label: str | None = None

    @property
    def contribution(self) -> float:
        """What this token adds to the MaxSim score (its best similarity)."""
        return self.similarity


NOT_A_PAGE_REGION = "matched the prompt text the model adds to every page, not a page region"
"""What a page's non-patch rows are (ColPali's and ColQwen2's fixed prompt tokens), in words."""


@dataclass(frozen=True)
class WordMatch:
    """One query word's share of the score: the sum of its tokens' contributions, and what they matched.

    ``token_indices``: its query tokens (rows); ``document_indices``: the document row each of them matched best,
    in the same order; ``document_words``: those rows in words (the document's words, or for a page the patch
    positions and ``"page prompt"`` for rows that are not patches), each once.
    """

    text: str
    token_indices: tuple[int, ...]
    contribution: float
    document_indices: tuple[int, ...]
    document_words: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Explanation:
    """The MaxSim breakdown of one (query, document) pair.

    ``similarities``: ``(n_query_tokens, n_document_rows)`` cosines; ``best_indices[i]``: the document row query
    token ``i`` matched best; ``best_similarities[i]``: that cosine, which is token ``i``'s contribution;
    ``score``: their sum (the MaxSim score); ``query_tokens`` / ``document_tokens``: one label per query token /
    document row when the embedder could tell them, else ``None``.

    From :func:`explain_record` also: ``record`` (the stored record explained), and for image records ``image`` (the
    page, re-rendered from its source) and ``grid`` (its patch layout) when they could be had; ``image_note`` says
    why not otherwise.

    ``query_text`` / ``document_text``: the texts the tokens came from, when known, and ``special_tokens`` the
    tokenizer's special tokens: :meth:`words` uses them to group tokens into the words a person typed.
    """

    similarities: npt.NDArray[np.float32]
    best_indices: npt.NDArray[np.int64]
    best_similarities: npt.NDArray[np.float32]
    score: float
    query_tokens: tuple[str, ...] | None = None
    document_tokens: tuple[str, ...] | None = None
    record: Record | None = None
    image: Image.Image | None = None
    grid: PatchGrid | None = None
    image_note: str | None = None
    query_text: str | None = None
    document_text: str | None = None
    special_tokens: frozenset[str] | None = None

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
        matches = []
        for i in range(self.n_query_tokens):
            row = int(self.best_indices[i])
            document_label = self.document_tokens[row] if self.document_tokens is not None else None
            matches.append(TokenMatch(i, labels[i], row, float(self.best_similarities[i]), document_label))
        return matches

    # -- words ---------------------------------------------------------------------------------------------------

    @cached_property
    def _query_words(self) -> list[Word]:
        if self.query_tokens is None:
            return [Word(f"#{i}", (i,)) for i in range(self.n_query_tokens)]
        words = group_words(self.query_tokens, text=self.query_text, special_tokens=self.special_tokens)
        # a query of only special tokens or punctuation still gets something to show: its tokens
        return words or [Word(label, (i,)) for i, label in enumerate(self.query_tokens)]

    @cached_property
    def _document_word_of_row(self) -> dict[int, str]:
        if self.document_tokens is None:
            return {}
        words = group_words(self.document_tokens, text=self.document_text, special_tokens=self.special_tokens)
        return {row: word.text for word in words for row in word.token_indices}

    def row_name(self, row: int) -> str:
        """Document row ``row`` in words: the document word it belongs to, else its token, else for a page its
        patch position (``"patch r2 c5"``) or ``"page prompt"`` for a row that is not a patch, else ``"#row"``.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> explain("red apples", "apples are red", embedding=DeterministicFakeMultiVectorEmbedding(dim=16)).row_name(2)
        'red'
        """
        word = self._document_word_of_row.get(row)
        if word is not None:
            return word
        if self.document_tokens is not None and 0 <= row < len(self.document_tokens):
            return self.document_tokens[row]
        if self.grid is not None:
            position = self.grid.position(row)
            return "page prompt" if position is None else f"patch r{position[0]} c{position[1]}"
        return f"#{row}"

    def _word_match(self, word: Word) -> WordMatch:
        rows = tuple(int(self.best_indices[i]) for i in word.token_indices)
        names = tuple(dict.fromkeys(self.row_name(row) for row in rows))
        contribution = float(sum(float(self.best_similarities[i]) for i in word.token_indices))
        return WordMatch(word.text, word.token_indices, contribution, rows, names)

    def words(self) -> list[WordMatch]:
        """The query's words in query order (sub-word pieces merged; special, padding, prompt and punctuation
        tokens left out), each with its contribution: the sum of its tokens' contributions.

        Without token labels every query token is its own "word" ``#i``.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> fake = DeterministicFakeMultiVectorEmbedding(dim=16)
        >>> [(w.text, w.document_words) for w in explain("Red apples?", "apples are red", embedding=fake).words()]
        [('Red', ('red',)), ('apples', ('apples',))]
        """
        return [self._word_match(word) for word in self._query_words]

    def top_words(self, n: int | None = None) -> list[WordMatch]:
        """:meth:`words` by contribution, largest first (ties in query order); the first ``n`` if given."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise InvalidInputError(f"n must be a positive int, got {n!r}")
        ranked = sorted(enumerate(self.words()), key=lambda item: (-item[1].contribution, item[0]))
        return [word for _, word in ranked][:n]

    def pick(self, tokens: Sequence[int | str]) -> list[WordMatch]:
        """The query words named by ``tokens``: words (``str``, case and accents ignored; a word written twice in
        the query gives both) or query token indices (``int``, one token each). Raises
        :class:`~multivec.errors.InvalidInputError` naming the query's words for a word the query does not have.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> ex = explain("red apples", "apples", embedding=DeterministicFakeMultiVectorEmbedding(dim=16))
        >>> [w.text for w in ex.pick(["Apples", 0])]
        ['apples', 'red']
        """
        if isinstance(tokens, str | int):
            tokens = [tokens]
        words = self.words()
        picked: list[WordMatch] = []
        for token in tokens:
            if isinstance(token, str):
                found = [w for w in words if word_key(w.text) == word_key(token)]
                if not found:
                    known = ", ".join(repr(w.text) for w in words)
                    raise InvalidInputError(f"the query has no word {token!r}; its words are {known}")
                picked += found
            elif isinstance(token, int) and not isinstance(token, bool) and 0 <= token < self.n_query_tokens:
                picked.append(self._word_match(Word(self.labels()[token], (token,))))
            else:
                raise InvalidInputError(
                    f"tokens must be query words (str) or query token indices in [0, {self.n_query_tokens}), "
                    f"got {token!r}"
                )
        return picked

    def other_tokens(self) -> tuple[int, ...]:
        """Query tokens in no word (special, padding, prompt, punctuation): their contributions are the rest of
        :attr:`score`."""
        covered = {i for word in self._query_words for i in word.token_indices}
        return tuple(i for i in range(self.n_query_tokens) if i not in covered)

    def summary(self) -> str:
        """One line: the score, and how much of it the words carry.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> explain("red apples", "apples", embedding=DeterministicFakeMultiVectorEmbedding(dim=16)).summary()
        'MaxSim 1.019 = sum of 2 word contributions (relevance 0.75)'
        """
        others = self.other_tokens()
        n_words = len(self._query_words)
        if not others:
            return f"MaxSim {self.score:.3f} = sum of {n_words} word contributions (relevance {self.relevance:.2f})"
        rest = float(sum(float(self.best_similarities[i]) for i in others))
        return (
            f"MaxSim {self.score:.3f} = {self.score - rest:.3f} from {n_words} words + {rest:.3f} from "
            f"{len(others)} other tokens (special, padding, prompt, punctuation) (relevance {self.relevance:.2f})"
        )

    def table(self, by: str = "word") -> str:
        """A plain-text table, largest contribution first: each query word, what its tokens matched (document
        words; on a page, patch ``r``ow and ``c``olumn) and its contribution (the sum of its tokens').

        ``by="token"``: one line per query token in query order instead, special tokens included.
        """
        if by == "token":
            return self._token_table()
        if by != "word":
            raise InvalidInputError(f"by must be 'word' or 'token', got {by!r}")
        width = _LABEL_WIDTH
        matched_width = 2 * width
        rows = [f"{'#':>2}  {'word'.ljust(width)}  {'matched'.ljust(matched_width)}  contribution"]
        for i, word in enumerate(self.top_words(), 1):
            matched = _clip(" · ".join(word.document_words), matched_width)
            rows.append(
                f"{i:>2}  {_clip(word.text, width).ljust(width)}  {matched.ljust(matched_width)}  "
                f"{word.contribution:>12.3f}"
            )
        rows.append(self.summary())
        return "\n".join(rows)

    def _token_table(self) -> str:
        width = _LABEL_WIDTH
        rows = [f"{'#':>2}  {'token'.ljust(width)}  {'match'.ljust(width + 6)}  contribution"]
        for i, match in enumerate(self.matches(), 1):
            label = _clip(match.label if match.label is not None else f"#{match.query_index}", width)
            target = f"#{match.document_index}"
            position = self.grid.position(match.document_index) if self.grid is not None else None
            if match.document_label is not None:
                target = f"{_clip(match.document_label, width)} ({target})"
            elif position is not None:
                target = f"patch r{position[0]} c{position[1]}"
            rows.append(f"{i:>2}  {label.ljust(width)}  {target.ljust(width + 6)}  {match.contribution:>12.3f}")
        rows.append(
            f"MaxSim {self.score:.3f} = sum of {self.n_query_tokens} contributions (relevance {self.relevance:.2f})"
        )
        return "\n".join(rows)

    def plot(
        self, out: str | os.PathLike[str] | None = None, *, tokens: Sequence[int | str] | None = None, top: int = 6
    ) -> Any:
        """Draw why it matched (needs the ``plot`` extra): over the page when :attr:`image` and :attr:`grid` are
        known, the ``top`` query words by contribution, each with the page patches it matched outlined
        (:func:`multivec.plot.plot_heatmaps`); else a bar per query word (:func:`multivec.plot.plot_token_table`).
        ``tokens``: which words get a page panel instead (words, or query token indices; see :meth:`pick`).
        Saves a PNG to ``out`` if given; returns the ``Figure``."""
        from multivec.plot import plot_heatmaps, plot_token_table

        if self.image is not None and self.grid is not None:
            return plot_heatmaps(self, self.image, self.grid, out, tokens=tokens, top=top)
        return plot_token_table(self, out)

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


_LABEL_WIDTH = 15


def _clip(label: str, width: int) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _lined_up(labels: list[str] | None, n_rows: int) -> tuple[str, ...] | None:
    """Labels only when there is one per row: an embedder whose labels do not line up with its rows gets none
    (better no labels than wrong ones)."""
    return None if labels is None or len(labels) != n_rows else tuple(labels)


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
    return vectors, _lined_up(emb.query_tokens(query), len(vectors))


def _document_side(document: DocumentInput, embedding: Any) -> tuple[np.ndarray, tuple[str, ...] | None]:
    if isinstance(document, np.ndarray):
        return document, None
    if isinstance(document, str):
        emb = _need_embedding(embedding, "document")
        vectors = emb.embed_text(document)
        return vectors, _lined_up(emb.document_tokens(document), len(vectors))
    if isinstance(document, Path | bytes | BytesIO | Image.Image):
        emb = _need_embedding(embedding, "document")
        if not isinstance(emb, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(f"{emb!r} embeds text only; image documents need a multimodal embedder")
        return emb.embed_image(document), None
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
    raw_document, document_tokens = _document_side(document, embedding)
    q = _as_multivector(raw_query, "query", None)
    d = _as_multivector(raw_document, "document", q.shape[1])
    sims = (q @ d.T).astype(np.float32)
    best = sims.argmax(axis=1).astype(np.int64)
    best_sims = sims[np.arange(len(q)), best]
    return Explanation(
        similarities=sims,
        best_indices=best,
        best_similarities=best_sims,
        score=float(best_sims.sum()),
        query_tokens=tokens,
        document_tokens=document_tokens,
        query_text=query if isinstance(query, str) and tokens is not None else None,
        document_text=document if isinstance(document, str) and document_tokens is not None else None,
        special_tokens=special_tokens_of(embedding) if embedding is not None else None,
    )


def _check_store(store: Any) -> None:
    from multivec.store import MultiVectorStore

    if not isinstance(store, MultiVectorStore):
        raise InvalidInputError(f"store must be a MultiVectorStore, got {type(store).__name__}")
    if not store.is_multi_vector:
        raise InvalidInputError("the store is single-vector; token-level explanations need a multi-vector store")


def _found(store: MultiVectorStore, found: list[Any], record_id: str | int) -> Any:
    if not found:
        raise InvalidInputError(
            f"no record with id {record_id!r} in collection {store.collection_name!r}; search results carry the ids"
        )
    return found[0]


def _page_image(store: MultiVectorStore, record: Record, n_rows: int, dpi: float | None) -> dict[str, Any]:
    """``image``/``grid``/``image_note`` for an image record: its page re-rendered from ``source`` and the
    embedder's patch layout for it, or why they could not be had (the numbers stand without them)."""
    from multivec.source_images import page_dpi, source_image

    if record.modality != "image":
        return {}
    embedding = store.embedding
    if not isinstance(embedding, MultiVectorMultiModalEmbedding):
        return {"image_note": f"{embedding!r} embeds text only, so it has no patch layout to map"}
    if not record.source:
        return {"image_note": "the record has no source to re-open the image from"}
    dpi = page_dpi(record.metadata, dpi)
    try:
        image = embedding.load_images([source_image(record.source, record.page, dpi=dpi)])[0]
        grid = embedding.image_patch_grid(image)
    except (MultivecError, OSError) as err:
        return {"image_note": f"could not re-open {record.source!r}: {err}"}
    if grid is None:
        return {"image": image, "image_note": f"{embedding!r} does not tell its patch layout"}
    if max(grid.row_indices) >= n_rows:
        return {
            "image": image,
            "image_note": f"re-rendered at {dpi:g} dpi the page has a larger patch grid ({grid.rows}x{grid.cols}) "
            f"than its {n_rows} stored vectors allow; pass the dpi the pages were indexed with",
        }
    return {"image": image, "grid": grid}


TextOf = Callable[["Record"], "str | None"]


def _embedded_text(record: Record, text_of: TextOf | None) -> str | None:
    """The text a text record's vectors were embedded from: ``text_of(record)``, by default its content."""
    if record.modality != "text":
        return None
    text = text_of(record) if text_of is not None else record.content
    if text is not None and not isinstance(text, str):
        raise InvalidInputError(f"text_of must return the embedded text (a str) or None, got {type(text).__name__}")
    return text or None


def _document_labels(store: MultiVectorStore, text: str | None, vectors: np.ndarray) -> tuple[str, ...] | None:
    """The embedder's tokens of ``text``, only if re-embedding it gives the stored rows (vectors stored from
    other text, e.g. a node embedded with metadata the caller did not say, get no labels: better none than wrong)."""
    if not text:
        return None
    labels = _lined_up(store.embedding.document_tokens(text), len(vectors))
    if labels is None:
        return None
    again = normalize_rows(store.embedding.embed_text(text))
    return labels if again.shape == vectors.shape and np.allclose(again, normalize_rows(vectors), atol=1e-2) else None


def _with_record(
    store: MultiVectorStore,
    explanation: Explanation,
    record: Record,
    vectors: np.ndarray,
    dpi: float | None,
    text_of: TextOf | None,
) -> Explanation:
    text, labels = None, None
    for candidate in dict.fromkeys([_embedded_text(record, text_of), _embedded_text(record, None)]):
        labels = _document_labels(store, candidate, vectors)
        if labels is not None:
            text = candidate
            break
    return replace(
        explanation,
        record=record,
        document_tokens=labels,
        document_text=text if labels is not None else None,
        **_page_image(store, record, len(vectors), dpi),
    )


def explain_record(
    store: MultiVectorStore,
    query: QueryInput,
    record_id: str | int,
    *,
    dpi: float | None = None,
    text_of: TextOf | None = None,
) -> Explanation:
    """:func:`explain` ``query`` against the stored vectors of record ``record_id`` (embedded with the store's embedder).

    ``score`` equals the raw MaxSim the store reports for that record (``store.search(..., exact=True)``). The
    result carries the record; for image records also the page (re-rendered from ``source`` at ``dpi``, by default
    the resolution ``add_pdfs`` recorded for it) and its patch grid, so :meth:`Explanation.plot` maps it on the
    page. ``text_of(record)``: the text a text record's vectors were embedded from when that may not be its
    content (a framework that embeds a node's text with its metadata says so here), so its words label the matches;
    the content is tried next. Labels are kept only if re-embedding that text gives the stored vectors.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.store import MultiVectorStore
    >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
    ...     _ = store.add_texts(["red apples"], ids=["a"])
    ...     ex = explain_record(store, "apples", "a")
    >>> round(ex.score, 4), ex.record.id, ex.matches()[0].document_label
    (1.0, 'a', 'apples')
    """
    _check_store(store)
    record = _found(store, store.get([record_id]), record_id)
    vectors = _found(store, store.get_vectors([record_id]), record_id)
    return _with_record(store, explain(query, vectors, embedding=store.embedding), record, vectors, dpi, text_of)


async def aexplain_record(
    store: MultiVectorStore,
    query: QueryInput,
    record_id: str | int,
    *,
    dpi: float | None = None,
    text_of: TextOf | None = None,
) -> Explanation:
    """Async twin of :func:`explain_record` (embedding and page rendering run off the event loop)."""
    _check_store(store)
    record = _found(store, await store.aget([record_id]), record_id)
    vectors = _found(store, await store.aget_vectors([record_id]), record_id)
    explanation = await asyncio.to_thread(explain, query, vectors, embedding=store.embedding)
    return await asyncio.to_thread(_with_record, store, explanation, record, vectors, dpi, text_of)
