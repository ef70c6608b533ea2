"""Local-model fixtures: embedders on the tiny checkpoints (built once per session), shared test images."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the test machine's cores are shared


@pytest.fixture(scope="session")
def colpali(tiny_colpali_dir: Path) -> Any:
    from multivec.embeddings import ColPaliEmbeddings

    return ColPaliEmbeddings(str(tiny_colpali_dir), device="cpu", batch_size=8)


@pytest.fixture(scope="session")
def colqwen2(tiny_colqwen2_dir: Path) -> Any:
    from multivec.embeddings import ColPaliEmbeddings

    return ColPaliEmbeddings(str(tiny_colqwen2_dir), device="cpu", batch_size=8)


@pytest.fixture(scope="session")
def bipali(tiny_bipali_dir: Path) -> Any:
    from multivec.embeddings import BiPaliEmbeddings

    return BiPaliEmbeddings(str(tiny_bipali_dir), device="cpu", batch_size=8)


@pytest.fixture(scope="session")
def minilm() -> Any:
    from multivec.embeddings import ColBERTEmbeddings

    return ColBERTEmbeddings(device="cpu")


def png_bytes(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    """An encoded PNG with a gradient (so different sizes/colours give different pixels)."""
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 4):
        image.putpixel((x, x % size[1]), (x % 256, 255 - x % 256, 128))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
