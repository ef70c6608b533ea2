"""Maximal marginal relevance (MMR) selection, in numpy.

The store's :meth:`~multivec.store.MultiVectorStore.mmr_search` scores ``fetch_k`` candidates by MaxSim (their
relevance is the mean best cosine per query token, ``score / n_query_tokens``) and measures redundancy as the
cosine between candidates' pooled vectors. Each step picks the candidate maximising
``lambda_mult * relevance - (1 - lambda_mult) * max_cosine_to_already_picked``.

>>> import numpy as np
>>> vecs = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
>>> mmr_select(np.array([0.9, 0.89, 0.5]), vecs, k=2, lambda_mult=0.5)
[0, 2]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["mmr_select"]


def mmr_select(
    relevance: npt.NDArray[np.floating], vectors: npt.NDArray[np.floating], k: int, lambda_mult: float
) -> list[int]:
    """Indices of up to ``k`` candidates in MMR order (``vectors`` rows are unit-norm)."""
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    picked = [int(np.argmax(rel))]
    redundancy = sims[picked[0]].copy()
    available = np.ones(n, dtype=bool)
    available[picked[0]] = False
    while len(picked) < min(k, n):
        scores = lambda_mult * rel - (1.0 - lambda_mult) * redundancy
        scores[~available] = -np.inf
        best = int(np.argmax(scores))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, sims[best])
    return picked
