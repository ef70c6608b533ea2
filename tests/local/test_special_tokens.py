"""``special_tokens()`` of the local embedders: what an explanation leaves out of the words it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from multivec.embeddings import CachedEmbeddings
from multivec.explain import explain
from multivec.explain_words import special_tokens_of
from tests.local import colbert_checkpoints as ckpt


def test_minilm_special_tokens_are_its_tokenizers(minilm: Any) -> None:
    special = minilm.special_tokens()
    assert special == {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"}
    assert CachedEmbeddings(minilm).special_tokens() == special
    assert special_tokens_of(minilm) == special
    labels = minilm.query_tokens("boundary layer transition")
    assert not special & set(labels)  # plain mode drops [CLS]/[SEP] rows already


def test_colbert_checkpoint_adds_its_query_and_document_markers(tmp_path: Path, minilm_dir: Path) -> None:
    from multivec.embeddings import ColBERTEmbeddings

    emb = ColBERTEmbeddings(str(ckpt.build_stanford_colbert(tmp_path / "stanford", minilm_dir)), device="cpu")
    special = emb.special_tokens()
    assert {"[unused0]", "[unused1]", "[CLS]", "[SEP]", "[MASK]"} <= special
    labels = emb.query_tokens("boundary layer")
    assert labels is not None
    assert [t for t in labels if t not in special] == ["boundary", "layer"]  # marker, [SEP], [MASK] expansion
    assert labels.count("[MASK]") == ckpt.QUERY_LENGTH - 5
    document = emb.document_tokens("boundary layer")
    assert document is not None
    assert [t for t in document if t not in special] == ["boundary", "layer"]
    ex = explain("boundary layer", "the boundary layer", embedding=emb)
    assert [w.text for w in ex.words()] == ["boundary", "layer"]
    assert ex.query_tokens is not None
    assert all(ex.query_tokens[i] in special for i in ex.other_tokens())


@pytest.mark.parametrize(("model", "augmentation"), [("colpali", "<pad>"), ("colqwen2", "<|endoftext|>")])
def test_page_models_special_tokens_cover_augmentation_and_image_tokens(
    model: str, augmentation: str, request: pytest.FixtureRequest
) -> None:
    emb = request.getfixturevalue(model)
    special = emb.special_tokens()
    assert augmentation in special and ("<image>" in special or "<|image_pad|>" in special)
    assert not {"Where", "is", "the", "chart", "?"} & special
    assert CachedEmbeddings(emb).special_tokens() == special
    labels = emb.query_tokens("Where is the chart?")
    assert labels.count(augmentation) >= 10  # colpali-engine pads every query with these
    # every special label is listed; ColPali's prompt newline is a byte token (<0x0A>), text, not a special token
    assert all(label in special for label in labels if label.startswith("<") and not label.startswith("<0x"))
