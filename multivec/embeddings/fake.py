"""A deterministic fake multi-vector embedder for tests, in the spirit of LangChain's ``DeterministicFakeEmbedding``.

Texts are split into lowercase word tokens; each distinct token always maps to the same unit vector (seeded by a
hash of the token), so identical texts get identical multi-vectors and a text scores highest against itself.
Images are cut into a ``grid`` x ``grid`` layout of patches, and each patch maps to a vector seeded by its
position and quantised colour.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.scoring import maxsim
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=16)
>>> q = fake.embed_query("red apples")
>>> q.shape
(2, 16)
>>> maxsim(q, fake.embed_text("red apples")) > maxsim(q, fake.embed_text("blue cars"))
True
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from PIL import Image

from multivec._options import positive_int
from multivec.embeddings.base import MultiVectorMultiModalEmbedding
from multivec.images import load_image
from multivec.patch_grid import PatchGrid
from multivec.types import Embedding, ImageInput

__all__ = ["DeterministicFakeMultiVectorEmbedding"]

_TOKEN = re.compile(r"\w+")
#: Qdrant's largest vector size.
_MAX_DIM = 65_536
_MAX_GRID = 256


class DeterministicFakeMultiVectorEmbedding(MultiVectorMultiModalEmbedding):
    """Deterministic fake text + image multi-vector embedder (no model, no network).

    ``dim`` is the vector size (at most 65,536, Qdrant's limit); ``grid`` the image patch grid (``grid**2`` vectors
    per image, ``grid`` at most 256). Queries and documents are embedded the same way.
    """

    min_image_size = (1, 1)

    def __init__(self, dim: int = 64, *, grid: int = 4, embed_batch_size: int = 10, max_concurrency: int = 4):
        super().__init__(
            model_name="deterministic-fake", embed_batch_size=embed_batch_size, max_concurrency=max_concurrency
        )
        self._dim = positive_int(dim, "dim", maximum=_MAX_DIM)
        self.grid = positive_int(grid, "grid", maximum=_MAX_GRID)

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, key: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
        vec = np.random.default_rng(seed).standard_normal(self._dim).astype(np.float32)
        return vec / np.linalg.norm(vec)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        return _TOKEN.findall(text.lower()) or [text.strip()]

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return [np.stack([self._vector("t:" + token) for token in self._tokens(text)]) for text in texts]

    def query_tokens(self, query: str) -> list[str] | None:
        """The lower-cased word tokens, one per row of ``embed_query(query)``.

        >>> DeterministicFakeMultiVectorEmbedding(dim=4).query_tokens("Red apples")
        ['red', 'apples']
        """
        super().query_tokens(query)
        return self._tokens(query)

    def document_tokens(self, text: str) -> list[str] | None:
        """The lower-cased word tokens, one per row of ``embed_text(text)``."""
        super().document_tokens(text)
        return self._tokens(text)

    def image_patch_grid(self, image: ImageInput) -> PatchGrid:
        """``grid`` x ``grid`` patches, row-major, every row of the image's multi-vector."""
        load_image(image, **self._image_options())
        return PatchGrid(self.grid, self.grid, tuple(range(self.grid * self.grid)))

    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        out = []
        for image in images:
            cells = np.asarray(image.resize((self.grid, self.grid), Image.Resampling.BOX), dtype=np.int64) // 32
            keys = [f"i:{r},{c}:{cells[r, c].tolist()}" for r in range(self.grid) for c in range(self.grid)]
            out.append(np.stack([self._vector(key) for key in keys]))
        return out
