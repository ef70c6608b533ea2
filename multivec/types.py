"""Type aliases shared across multivec."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Embedding", "ImageInput", "MultiVector", "SingleVector"]

#: A multi-vector: float32 array of shape ``(n_tokens, dim)``, one row per token or image patch.
MultiVector = npt.NDArray[np.float32]
#: A single vector: float32 array of shape ``(dim,)``.
SingleVector = npt.NDArray[np.float32]
#: What an embedder returns for one input: a multi-vector, or a single vector for single-vector models.
Embedding = npt.NDArray[np.float32]
#: Accepted image inputs: a file path, raw encoded bytes, an in-memory file, or a PIL image.
ImageInput = Union[str, Path, bytes, BytesIO, "Image.Image"]
