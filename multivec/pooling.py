"""Hierarchical token pooling: fewer stored token vectors per document, at ingest.

:func:`pool_tokens` reduces one document's token vectors ``(n, d)`` to ``max(n // pool_factor, 1)`` vectors: it
clusters the document's own tokens with Ward's agglomerative method under the cosine geometry (Euclidean distance
between L2-normalised rows, ``sqrt(2 - 2 cos)``), cuts the tree into that many clusters, and stores the mean of each
cluster, L2-normalised. This is the token pooling of Clavié et al. 2024 ("Reducing the Footprint of Multi-Vector
Retrieval with Minimal Performance Impact via Token Pooling"), as colpali-engine's ``HierarchicalTokenPooler`` and
PyLate's hierarchical pooling do it. Near-duplicate tokens (the same word repeated, flat page regions) merge first,
so MaxSim against the pooled rows stays close to MaxSim against all rows while the store keeps, and every query
scores, ``pool_factor`` times fewer token vectors. Queries are never pooled.

The result is deterministic: the same rows give the same pooled rows, in a stable order (clusters sorted by the
first token they hold, so pooled rows follow the document's order). It never has more rows than the input;
``pool_factor=1`` and one-row documents come back unchanged (normalised). :func:`pool_documents` pools a batch.
``MultiVectorStore(..., pool_factor=k)`` applies it to every document it stores (see :mod:`multivec.store`).

Cost: the pairwise distances are one BLAS product, the linkage is SciPy's nearest-neighbour-chain Ward (O(n^2)),
about a millisecond for a 185-token, 384-d document; see ``docs/pooling.md`` for the measurements.

>>> import numpy as np
>>> tokens = normalize_rows(np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0.98, 0.2]], dtype=np.float32))
>>> pooled = pool_tokens(tokens, 2)
>>> pooled.shape
(2, 3)
>>> [round(float(c), 3) for c in (pooled @ tokens.T).max(axis=0)]  # each token still finds its own pooled row
[0.999, 0.999, 0.995, 0.995]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from multivec.errors import InvalidInputError
from multivec.scoring import normalize_rows

__all__ = ["pool_documents", "pool_tokens", "pooled_count"]


def _scipy() -> tuple[Any, Any]:
    # imported on first use: SciPy's cluster module costs a noticeable part of `import multivec` otherwise
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    return linkage, squareform


def _check_factor(pool_factor: Any) -> int:
    if isinstance(pool_factor, bool) or not isinstance(pool_factor, int | np.integer) or pool_factor < 1:
        raise InvalidInputError(f"pool_factor must be an int >= 1, got {pool_factor!r}")
    return int(pool_factor)


def pooled_count(n_tokens: int, pool_factor: int) -> int:
    """How many rows :func:`pool_tokens` keeps of ``n_tokens``: ``max(n_tokens // pool_factor, 1)`` (at most
    ``n_tokens``).

    >>> pooled_count(185, 2), pooled_count(185, 3), pooled_count(1, 4), pooled_count(7, 1)
    (92, 61, 1, 7)
    """
    return min(n_tokens, max(n_tokens // _check_factor(pool_factor), 1))


def _cluster_labels(rows: npt.NDArray[np.float32], n_clusters: int) -> npt.NDArray[np.intp]:
    """Cluster index of every row: Ward's tree cut into exactly ``n_clusters`` (the first ``n - n_clusters``
    merges), numbered by the first row of each cluster."""
    n = rows.shape[0]
    linkage, squareform = _scipy()
    cosines = squareform(rows @ rows.T, checks=False, force="tovector").astype(np.float64)  # the pairs i < j
    distances = np.sqrt(np.maximum(2.0 - 2.0 * cosines, 0.0, out=cosines), out=cosines)
    merges = linkage(distances, method="ward")[: n - n_clusters, :2].astype(np.intp)
    # each kept merge i makes node n + i; a row's cluster is the last node above it (pointer jumping)
    parent = np.arange(2 * n - 1)
    parent[merges[:, 0]] = parent[merges[:, 1]] = n + np.arange(len(merges))
    while True:
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            break
        parent = jumped
    root = parent[:n]
    _, first, labels = np.unique(root, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # clusters in the order of their first row
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[labels.reshape(-1)]


def pool_tokens(vectors: npt.ArrayLike, pool_factor: int) -> npt.NDArray[np.float32]:
    """One document's token vectors ``(n, d)`` pooled to :func:`pooled_count` rows (see the module docstring).

    Rows are L2-normalised first. Raises :class:`~multivec.errors.InvalidInputError` for anything but a non-empty
    2-D array or a ``pool_factor`` below 1.

    >>> import numpy as np
    >>> doc = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
    >>> pool_tokens(doc, 3).shape, pool_tokens(doc, 100).shape, pool_tokens(doc, 1).shape
    ((3, 8), (1, 8), (10, 8))
    >>> bool(np.array_equal(pool_tokens(doc, 3), pool_tokens(doc.copy(), 3)))
    True
    """
    factor = _check_factor(pool_factor)
    rows = np.asarray(vectors)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        raise InvalidInputError(f"pool_tokens needs a non-empty (n_tokens, dim) array, got shape {rows.shape}")
    rows = np.ascontiguousarray(normalize_rows(rows))  # one memory layout: the same sums, the same clusters
    n = rows.shape[0]
    keep = pooled_count(n, factor)
    if keep == n:
        return rows
    labels = _cluster_labels(rows, keep) if keep > 1 else np.zeros(n, dtype=np.intp)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(keep))  # every cluster has a row
    pooled = normalize_rows(np.add.reduceat(rows[order], starts, axis=0))
    # opposite tokens forced into one cluster can cancel out: such a cluster keeps its first token
    empty = ~np.any(pooled, axis=1)
    if empty.any():
        firsts = np.unique(labels, return_index=True)[1]
        pooled[empty] = rows[firsts[empty]]
    return pooled


def pool_documents(documents: Sequence[npt.ArrayLike], pool_factor: int) -> list[npt.NDArray[np.float32]]:
    """:func:`pool_tokens` of every document, in order.

    >>> import numpy as np
    >>> docs = [np.eye(4, dtype=np.float32), np.ones((1, 4), dtype=np.float32)]
    >>> [d.shape for d in pool_documents(docs, 2)]
    [(2, 4), (1, 4)]
    """
    factor = _check_factor(pool_factor)
    return [pool_tokens(doc, factor) for doc in documents]
