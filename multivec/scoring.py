"""Late-interaction scoring: MaxSim, pooling, and the [0, 1] relevance mapping.

``maxsim(q, d)`` is the ColBERT score: for every query token, the best dot product with any document token,
summed over query tokens. With unit-norm rows each term is a cosine in [-1, 1], so the raw score lies in
``[-n_query_tokens, n_query_tokens]``; :func:`relevance` maps it to [0, 1] as ``(score / n_query_tokens + 1) / 2``.

>>> import numpy as np
>>> q = np.eye(2, 4, dtype=np.float32)
>>> float(maxsim(q, q)), relevance(2.0, 2)
(2.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from multivec.types import MultiVector, SingleVector

__all__ = ["flat_vector", "maxsim", "maxsim_many", "normalize_rows", "pool", "pool_groups", "relevance"]


def maxsim(query: MultiVector, document: MultiVector) -> float:
    """Sum over query rows of the maximum dot product with any document row."""
    q = np.atleast_2d(query)
    d = np.atleast_2d(document)
    return float((q @ d.T).max(axis=1).sum())


def maxsim_many(query: MultiVector, documents: Sequence[MultiVector]) -> npt.NDArray[np.float32]:
    """MaxSim of one query against many documents in one matrix product (documents may differ in length)."""
    if not documents:
        return np.zeros(0, dtype=np.float32)
    q = np.atleast_2d(query).astype(np.float32, copy=False)
    docs = [np.atleast_2d(d) for d in documents]
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    flat = np.concatenate(docs).astype(np.float32, copy=False)
    sims = q @ flat.T  # (n_query_tokens, total_doc_tokens)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    best = np.maximum.reduceat(sims, starts, axis=1)  # (n_query_tokens, n_docs)
    return best.sum(axis=0).astype(np.float32)


def normalize_rows(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """L2-normalise each row (or the vector itself, for 1-D input); zero rows stay zero.

    Rows whose norm overflows or underflows float32 (components beyond about 1e19 or below 1e-19) are scaled by
    their largest component first, so every finite non-zero row comes out with unit norm.

    >>> normalize_rows(np.array([[3e30, 4e30], [3e-30, 4e-30], [0, 0]], dtype=np.float32)).astype(float).round(6).tolist()
    [[0.6, 0.8], [0.6, 0.8], [0.0, 0.0]]
    """
    arr = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(arr, axis=-1, keepdims=True)
        if not (norms >= _SAFE_NORM).all() or not np.isfinite(norms).all():  # rare: rescale the rows at risk
            unsafe = ~np.isfinite(norms) | (norms < _SAFE_NORM)
            scale = np.max(np.abs(arr), axis=-1, keepdims=True)
            scaled = np.divide(arr, scale, out=np.zeros_like(arr), where=unsafe & (scale > 0))
            arr = np.where(unsafe, scaled, arr)
            norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)


# below this the squared components of a float32 row lose precision (float32's smallest normal is 1.2e-38)
_SAFE_NORM = 1e-18


def pool(multivector: MultiVector) -> SingleVector:
    """The pooled first-stage vector: mean of the rows, L2-normalised (a single vector is just normalised)."""
    arr = np.asarray(multivector, dtype=np.float32)
    mean = arr if arr.ndim == 1 else arr.mean(axis=0)
    return normalize_rows(mean)


def pool_groups(multivector: MultiVector, size: int) -> MultiVector:
    """Means of every ``size`` consecutive rows (the last group may be shorter), L2-normalised.

    On a ColPali page (32x32 patches, row-major) ``size=32`` gives one vector per patch row, Qdrant's row pooling;
    on text it averages neighbouring tokens.

    >>> pool_groups(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32), 2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    arr = np.asarray(multivector, dtype=np.float32)
    starts = np.arange(0, len(arr), size)
    sums = np.add.reduceat(arr, starts, axis=0)
    return normalize_rows(sums)


def flat_vector(embedding: npt.NDArray[np.floating]) -> list[float]:
    """The one flat vector a single-vector contract (LangChain, LlamaIndex) wants, as a list of floats.

    A multi-vector gives its :func:`pool`; a single vector (BiPali) is returned as it is.

    >>> [round(x, 4) for x in flat_vector(np.array([[1, 0], [0, 1]], dtype=np.float32))]
    [0.7071, 0.7071]
    """
    vector = pool(embedding) if np.ndim(embedding) == 2 else np.asarray(embedding, dtype=np.float32)
    return [float(x) for x in vector.tolist()]


def relevance(score: float, n_query_tokens: int) -> float:
    """Map a raw MaxSim score to [0, 1]: the mean best cosine per query token, shifted and scaled.

    For single-vector collections pass the cosine with ``n_query_tokens=1``. Results are clipped to [0, 1] to
    absorb float rounding and non-normalised inputs.
    """
    if n_query_tokens <= 0:
        raise ValueError("n_query_tokens must be positive")
    return float(min(1.0, max(0.0, (score / n_query_tokens + 1.0) / 2.0)))
