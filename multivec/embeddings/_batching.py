"""Forward-pass batching for local embedders: similar-length inputs share a batch, so little compute goes to padding.

>>> length_sorted_batches([5, 1, 9, 2], 2)
[[2, 0], [3, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["length_sorted_batches"]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Input positions grouped into batches of ``batch_size``, longest first (stable for equal lengths)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
