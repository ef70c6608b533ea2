"""Query tokens grouped into words: sub-word pieces merged, special, padding, prompt and punctuation tokens dropped."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from multivec.embeddings import CachedEmbeddings, DeterministicFakeMultiVectorEmbedding
from multivec.explain import Explanation, explain
from multivec.explain_words import Word, group_words, special_tokens_of, word_key


def _texts(words: list[Word]) -> list[str]:
    return [w.text for w in words]


def test_wordpiece_pieces_merge_and_colbert_markers_drop() -> None:
    labels = ["[CLS]", "[Q]", "why", "do", "out", "##gr", "##ow", "?", "[SEP]", "[MASK]", "[MASK]"]
    for text in ("Why do outgrow?", None):
        words = group_words(labels, text=text)
        assert [w.token_indices for w in words] == [(2,), (3,), (4, 5, 6)]
    assert _texts(group_words(labels, text="Why do outgrow?")) == ["Why", "do", "outgrow"]  # as typed
    assert _texts(group_words(labels)) == ["why", "do", "outgrow"]


def test_bpe_word_starts_and_end_of_text_padding() -> None:
    labels = ["ĠRed", "Ġapp", "les", ",", "Ġun", "believ", "ably", "<|endoftext|>", "<|endoftext|>", "<pad>", "<eos>"]
    words = group_words(labels)
    assert [(w.text, w.token_indices) for w in words] == [
        ("Red", (0,)),
        ("apples", (1, 2)),
        ("unbelievably", (4, 5, 6)),
    ]
    assert _texts(group_words(["▁red", "▁app", "les", "<bos>"])) == ["red", "apples"]


def test_colpali_labels_without_markers_are_grouped_by_the_query_text() -> None:
    # what ColPali's query_tokens gives: markers stripped, a BOS, the "Query:" prompt, pad augmentation, a newline
    labels = ["<bos>", "Query:", "▁", "W", "h", "y", "do", "▁", "R", "e", "d", "a", "p", "p", "l", "es", "?"]
    labels += ["<pad>"] * 10 + ["<0x0A>"]
    words = group_words(labels, text="Why do Red apples?")
    assert [(w.text, w.token_indices) for w in words] == [
        ("Why", (3, 4, 5)),
        ("do", (6,)),
        ("Red", (8, 9, 10)),
        ("apples", (11, 12, 13, 14, 15)),
    ]
    # ColQwen2: the prompt is two tokens and one of them is a word the query also has
    labels = ["Query", ":", "Ġ", "query", "Ġ", "lang", "uage", "<|endoftext|>"]
    words = group_words(labels, text="query language")
    assert [(w.text, w.token_indices) for w in words] == [("query", (3,)), ("language", (5, 6))]


def test_accents_case_and_byte_fallback_pieces_stay_in_their_word() -> None:
    words = group_words(["cafe", "-", "style", "cr", "##ep", "##es"], text="Café-style crêpes")
    assert [(w.text, w.token_indices) for w in words] == [("Café-style", (0, 1, 2)), ("crêpes", (3, 4, 5))]
    labels = ["c", "a", "f", "�", "�", "-", "s", "t", "y", "l", "e"]
    assert [(w.text, w.token_indices) for w in group_words(labels, text="café-style")] == [
        ("café-style", tuple(range(11)))
    ]
    assert word_key("Crêpes") == word_key("crepes")


def test_the_tokenizers_special_tokens_are_dropped() -> None:
    labels = ["red", "@@SEP@@", "apples"]
    assert _texts(group_words(labels, special_tokens={"@@SEP@@"})) == ["red", "apples"]
    assert _texts(group_words(labels)) == ["red", "@@SEP@@", "apples"]  # not a special token unless the tokenizer says
    assert special_tokens_of(_Marked(dim=8)) == {"qq", "[CLS]"}
    assert special_tokens_of(CachedEmbeddings(_Marked(dim=8))) == {"qq", "[CLS]"}  # the wrapper forwards
    assert special_tokens_of(DeterministicFakeMultiVectorEmbedding(dim=8)) is None  # knows none
    assert special_tokens_of(object()) is None and special_tokens_of(None) is None
    # only the public method is read: private tokenizer attributes of an object are not looked at
    tokenizer = SimpleNamespace(all_special_tokens=["@@SEP@@"])
    assert (
        special_tokens_of(SimpleNamespace(_tokenizer=tokenizer, _processor=SimpleNamespace(tokenizer=tokenizer)))
        is None
    )


class _Marked(DeterministicFakeMultiVectorEmbedding):
    """A fake whose tokenizer has a special token spelled like a word (``qq``)."""

    def special_tokens(self) -> frozenset[str]:
        return frozenset({"qq", "[CLS]"})


@pytest.mark.parametrize("wrap", [False, True])
def test_explain_leaves_out_the_embedders_special_tokens(wrap: bool) -> None:
    marked = _Marked(dim=16)
    emb = CachedEmbeddings(marked) if wrap else marked
    ex = explain("qq red apples", "red apples qq", embedding=emb)
    assert ex.query_tokens == ("qq", "red", "apples")
    assert [w.text for w in ex.words()] == ["red", "apples"] and ex.other_tokens() == (0,)
    assert [(w.text, w.document_words) for w in ex.words()] == [("red", ("red",)), ("apples", ("apples",))]
    plain = explain("qq red apples", "red apples qq", embedding=DeterministicFakeMultiVectorEmbedding(dim=16))
    assert [w.text for w in plain.words()] == ["qq", "red", "apples"]  # a word unless the embedder says otherwise


def _explanation(labels: list[str], text: str, seed: int) -> Explanation:
    rng = np.random.default_rng(seed)
    sims = rng.uniform(-1, 1, (len(labels), 7)).astype(np.float32)
    best = sims.argmax(axis=1)
    best_sims = sims.max(axis=1)
    return Explanation(sims, best, best_sims, float(best_sims.sum()), query_tokens=tuple(labels), query_text=text)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_word_contributions_are_their_tokens_and_with_the_rest_make_the_score(seed: int) -> None:
    labels = ["[CLS]", "[Q]", "wing", "##tips", "stall", "first", "?", "[SEP]", "[MASK]", "[MASK]"]
    ex = _explanation(labels, "Wingtips stall first?", seed)
    words = ex.words()
    assert [(w.text, w.token_indices) for w in words] == [("Wingtips", (2, 3)), ("stall", (4,)), ("first", (5,))]
    for word in words:
        assert word.contribution == pytest.approx(float(ex.contributions[list(word.token_indices)].sum()), abs=1e-6)
        assert word.document_indices == tuple(int(ex.best_indices[i]) for i in word.token_indices)
    assert ex.other_tokens() == (0, 1, 6, 7, 8, 9)
    rest = float(ex.contributions[list(ex.other_tokens())].sum())
    assert sum(w.contribution for w in words) + rest == pytest.approx(ex.score, abs=1e-5)
    ranked = ex.top_words()
    assert [w.contribution for w in ranked] == sorted((w.contribution for w in words), reverse=True)
    assert ex.top_words(2) == ranked[:2] and ex.words() == words  # deterministic
    assert ex.summary().startswith(f"MaxSim {ex.score:.3f} = ") and "from 3 words" in ex.summary()
    with pytest.raises(Exception, match="positive int"):
        ex.top_words(0)


def test_a_query_of_only_special_tokens_still_shows_its_tokens() -> None:
    ex = _explanation(["[CLS]", "?", "[SEP]"], "?", 0)
    assert [w.text for w in ex.words()] == ["[CLS]", "?", "[SEP]"] and ex.other_tokens() == ()
