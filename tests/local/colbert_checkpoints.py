"""Tiny ColBERT checkpoints (random BERT + linear projection, seed 0) in the two layouts ColBERTEmbeddings reads.

Both use the MiniLM WordPiece tokenizer (it has ``[unused0]``/``[unused1]`` markers and ``[MASK]``) and the same
weights, so a test can check that the layouts give the same vectors.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

HIDDEN = 32
DIM = 16
QUERY_LENGTH = 12
DOCUMENT_LENGTH = 20
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _weights() -> tuple[Any, Any]:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return BertModel(config).eval(), torch.nn.Linear(HIDDEN, DIM, bias=False)


def _copy_tokenizer(minilm: Path, out: Path) -> None:
    for name in _TOKENIZER_FILES:
        shutil.copy(minilm / name, out / name)


def build_stanford_colbert(out: Path, minilm: Path) -> Path:
    """Stanford ColBERT layout: ``bert.*`` + ``linear.weight`` in one file, ``artifact.metadata``."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    bert, linear = _weights()
    bert.config.architectures = ["HF_ColBERT"]
    bert.config.save_pretrained(out)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear.weight.detach().contiguous()
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    meta = {
        "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]",
        "query_maxlen": QUERY_LENGTH,
        "doc_maxlen": DOCUMENT_LENGTH,
        "dim": DIM,
        "attend_to_mask_tokens": False,
        "mask_punctuation": True,
        "similarity": "cosine",
    }
    (out / "artifact.metadata").write_text(json.dumps(meta))
    _copy_tokenizer(minilm, out)
    return out


def build_pylate_colbert(out: Path, minilm: Path) -> Path:
    """PyLate / sentence-transformers layout: encoder at the root, ``1_Dense/`` projection, prefixes in config."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    bert, linear = _weights()
    bert.save_pretrained(out)
    (out / "1_Dense").mkdir()
    save_file(
        {"linear.weight": linear.weight.detach().contiguous()},
        str(out / "1_Dense" / "model.safetensors"),
        metadata={"format": "pt"},
    )
    dense: dict[str, Any] = {"in_features": HIDDEN, "out_features": DIM, "bias": False}
    dense["activation_function"] = "torch.nn.modules.linear.Identity"
    (out / "1_Dense" / "config.json").write_text(json.dumps(dense))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense"},
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    st = {
        "query_prefix": "[unused0]",
        "document_prefix": "[unused1]",
        "query_length": QUERY_LENGTH,
        "document_length": DOCUMENT_LENGTH,
        "attend_to_expansion_tokens": False,
    }
    (out / "config_sentence_transformers.json").write_text(json.dumps(st))
    _copy_tokenizer(minilm, out)
    return out
