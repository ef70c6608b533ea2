"""Query and document *words* from model tokens: what an explanation shows a person.

A multi-vector model scores tokens: sub-word pieces (WordPiece ``##ing``, BPE pieces after a ``Ġ``/``▁`` word start),
special tokens (``[CLS]``, ``[SEP]``, ``[MASK]``, ``<pad>``, ``<eos>``, ``<|endoftext|>``), marker tokens
(``[Q]``, ``[D]``) and the prompt and query-augmentation tokens a model adds (ColPali's ``Query:`` and ``<pad>``
padding). :func:`group_words` turns one row label per token into the words a person typed: pieces of one word are
merged, special tokens, prompt tokens and bare punctuation are dropped.

With the text the tokens came from (``text=``), pieces are aligned to it and a word is a run of pieces with no space
between them, written as in the text (case and accents kept, even for an uncased model); tokens the text does not
hold (the model's prompt) are dropped. Without it, the tokenizer's word-boundary markers decide.

>>> words = group_words(["[CLS]", "red", "app", "##les", ",", "[SEP]"], text="Red apples,")
>>> [(w.text, w.token_indices) for w in words]
[('Red', (1,)), ('apples', (2, 3))]
>>> [w.text for w in group_words(["<bos>", "Query:", "▁", "red", "ap", "ples", "<pad>"], text="red apples")]
['red', 'apples']
>>> [w.text for w in group_words(["ĠRed", "Ġapp", "les", "<|endoftext|>"])]
['Red', 'apples']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Word", "group_words", "special_tokens_of", "word_key"]

_WORD_START = ("Ġ", "▁")
_CONTINUATION = "##"
# tokenizer specials look like [CLS], <pad>, <|endoftext|>, <0x0A> (byte fallback) whatever the tokenizer
_SPECIAL = re.compile(r"^(\[[^\[\]\s]+\]|<\|[^|]*\|>|<[^<>\s]+>)$")
# a piece of the text may be skipped when a token does not spell it (a byte-fallback "�" for "é"), but only a few
# characters: further away it is another word, not this one
_MAX_SKIP = 4


@dataclass(frozen=True)
class Word:
    """One word: its text (as written in the source text when known) and the token rows it covers, in order."""

    text: str
    token_indices: tuple[int, ...]


def word_key(text: str) -> str:
    """How words are compared: case, accents and surrounding spaces ignored.

    >>> word_key(" Café "), word_key("cafe")
    ('cafe', 'cafe')
    """
    return _normalized(text.strip())[0]


def special_tokens_of(embedding: Any) -> frozenset[str] | None:
    """``embedding.special_tokens()`` (see
    :meth:`~multivec.embeddings.base.MultiVectorBaseEmbedding.special_tokens`), or ``None`` for an object that is
    no embedder or knows no special tokens.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> special_tokens_of(DeterministicFakeMultiVectorEmbedding(dim=4)) is None
    True
    >>> special_tokens_of(None) is None
    True
    """
    method = getattr(embedding, "special_tokens", None)
    tokens = method() if callable(method) else None
    return frozenset(str(t) for t in tokens) if tokens else None


def _is_special(label: str, special: Collection[str]) -> bool:
    return label in special or _SPECIAL.match(label) is not None


def _piece(label: str) -> tuple[str, bool, bool]:
    """``(text, starts_a_word, continues_a_word)`` of one token label, markers removed."""
    if label.startswith(_CONTINUATION) and len(label) > len(_CONTINUATION):
        return label[len(_CONTINUATION) :], False, True
    if label.startswith(_WORD_START):
        return label[1:].replace("▁", " "), True, False
    return label, False, False


def _normalized(text: str) -> tuple[str, list[int]]:
    """``text`` case-folded with accents removed, and for each of its characters the index it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        for part in unicodedata.normalize("NFKD", char):
            if unicodedata.combining(part):
                continue
            for folded in part.casefold():
                chars.append(folded)
                origin.append(i)
    return "".join(chars), origin


def _is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(c)[0] in "PS" for c in text if not c.isspace())


def _align(pieces: list[str], text: str) -> list[tuple[int, int] | None]:
    """Where each piece sits in ``text`` (normalised indices), matched from the end: prompt tokens come before
    the text, padding after it, so the last pieces that spell the text are its tokens."""
    spans: list[tuple[int, int] | None] = [None] * len(pieces)
    cursor = len(text)
    for i in range(len(pieces) - 1, -1, -1):
        piece = pieces[i]
        if not piece:
            continue
        end = cursor
        while end > 0 and text[end - 1].isspace():
            end -= 1
        start = end - len(piece)
        if start < 0 or text[start:end] != piece:
            start = text.rfind(piece, max(0, start - _MAX_SKIP), end)
            if start < 0:
                continue
        spans[i] = (start, start + len(piece))
        cursor = start
    return spans


def _trimmed(indices: list[int], pieces: list[str]) -> list[int]:
    """Punctuation tokens at either end of a word are not part of it (``apples?`` is ``apples``)."""
    while indices and _is_punctuation(pieces[indices[0]]):
        indices = indices[1:]
    while indices and _is_punctuation(pieces[indices[-1]]):
        indices = indices[:-1]
    return indices


def _from_text(labels: Sequence[str], text: str, special: Collection[str]) -> list[Word]:
    normal, origin = _normalized(text)
    pieces = ["" if _is_special(label, special) else _normalized(_piece(label)[0].strip())[0] for label in labels]
    spans = _align(pieces, normal)
    groups: list[list[int]] = []
    pending: list[int] = []  # unaligned tokens between two aligned ones: inside a word if no space separates those
    end = -1
    for i, span in enumerate(spans):
        if span is None:
            if pieces[i] and groups:
                pending.append(i)
            continue
        joined = groups and not any(c.isspace() for c in normal[end : span[0]]) and span[0] >= end
        if joined:
            groups[-1].extend([*pending, i])
        else:
            groups.append([i])
        pending, end = [], span[1]
    raw_pieces = [_piece(label)[0] for label in labels]
    words = []
    for group in groups:
        kept = _trimmed(group, raw_pieces)
        aligned = [spans[i] for i in kept if spans[i] is not None]
        if not kept or not aligned:
            continue
        first, last = aligned[0], aligned[-1]
        assert first is not None and last is not None
        words.append(Word(text[origin[first[0]] : origin[last[1] - 1] + 1], tuple(kept)))
    return words


def _from_markers(labels: Sequence[str], special: Collection[str]) -> list[Word]:
    marked = any(label.startswith(_WORD_START) for label in labels)  # a BPE tokenizer that marks word starts
    groups: list[list[int]] = []
    current: list[int] | None = None
    for i, label in enumerate(labels):
        text, starts, continues = _piece(label)
        if _is_special(label, special) or not text.strip():
            current = None
            continue
        if current is not None and (continues or (marked and not starts)):
            current.append(i)
        else:
            current = [i]
            groups.append(current)
    pieces = [_piece(label)[0] for label in labels]
    words = []
    for group in groups:
        kept = _trimmed(group, pieces)
        if kept:
            words.append(Word("".join(pieces[i] for i in kept).strip(), tuple(kept)))
    return words


def group_words(
    labels: Sequence[str], *, text: str | None = None, special_tokens: Collection[str] | None = None
) -> list[Word]:
    """The words of a token sequence, in order, each with the token rows it covers.

    ``labels``: one label per token (row), as the embedder's ``query_tokens``/``document_tokens`` give them.
    ``text``: the text they were tokenized from, when known: words are then written as in it, and tokens it does
    not hold (a model's prompt) are dropped. ``special_tokens``: the embedder's special tokens (its
    ``special_tokens()``); labels shaped like ``[X]``, ``<x>`` or ``<|x|>`` count as special too. Special
    tokens, word-boundary markers on their own and punctuation at a word's edges belong to no word, so the words
    may cover fewer rows than there are labels. Deterministic: the same input gives the same words.

    >>> [(w.text, w.token_indices) for w in group_words(["why", "out", "##gr", "##ow", "?"])]
    [('why', (0,)), ('outgrow', (1, 2, 3))]
    """
    special = frozenset(special_tokens or ())
    labels = [str(label) for label in labels]
    if text is not None and text.strip():
        return _from_text(labels, text, special)
    return _from_markers(labels, special)
