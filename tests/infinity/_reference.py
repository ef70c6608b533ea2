"""The served models run directly in this process (colpali-engine / transformers), one input at a time.

A batch of one has no padding, so these are the vectors the client must return whatever the server batched.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _torch() -> Any:
    import torch

    torch.set_num_threads(1)
    return torch


@cache
def _col_model(model_dir: str, architecture: str) -> tuple[Any, Any]:
    import colpali_engine.models as cm

    model = getattr(cm, architecture).from_pretrained(model_dir).eval()
    processor = getattr(cm, architecture + "Processor").from_pretrained(model_dir)
    return model, processor


def col_queries(model_dir: Path, architecture: str, texts: list[str]) -> list[np.ndarray]:
    """What Infinity does with text for Col* models: ``process_queries`` then ``forward``."""
    torch = _torch()
    model, processor = _col_model(str(model_dir), architecture)
    out = []
    with torch.no_grad():
        for text in texts:
            out.append(model(**processor.process_queries([text.strip()]))[0].float().numpy())
    return out


def col_images(model_dir: Path, architecture: str, images: list[Image.Image]) -> list[np.ndarray]:
    """What Infinity does with images for Col* models: ``process_images`` then ``forward``."""
    torch = _torch()
    model, processor = _col_model(str(model_dir), architecture)
    out = []
    with torch.no_grad():
        for image in images:
            out.append(model(**processor.process_images([image.convert("RGB")]))[0].float().numpy())
    return out


@cache
def _bert(model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


def colbert_tokens(model_dir: Path, texts: list[str]) -> list[np.ndarray]:
    """Infinity's ColBERT mode: the transformer's token states (incl. [CLS]/[SEP]), not normalised."""
    torch = _torch()
    model, tokenizer = _bert(str(model_dir))
    out = []
    with torch.no_grad():
        for text in texts:
            batch = tokenizer([text.strip()], return_tensors="pt", truncation=True, max_length=256)
            out.append(model(**batch).last_hidden_state[0].float().numpy())
    return out


def assert_same(actual: list[np.ndarray], expected: list[np.ndarray], atol: float = 1e-4) -> None:
    """Same number of embeddings, same shapes (no padding rows), same values."""
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a.dtype == np.float32, i
        assert a.shape == e.shape, f"item {i}: {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, atol=atol, err_msg=f"item {i}")
