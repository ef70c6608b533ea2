"""Comparing rankings whose scores are floating-point sums: equal within a tolerance, ties in any order.

Rounding scores before comparing is not enough: two runs may sum the same MaxSim in a different order and land on
either side of a rounding boundary (0.71469 vs 0.7147). :func:`assert_same_ranking` compares scores with a tolerance,
and accepts any order (and, at the cut-off, any members) among scores tied within it.

>>> assert_same_ranking([("b", 0.5), ("a", 0.5000001), ("c", 0.1)], [("a", 0.5), ("b", 0.5), ("c", 0.1)])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["assert_same_ranking"]


def assert_same_ranking(
    got: Iterable[tuple[str, float]], reference: Mapping[str, float] | Iterable[tuple[str, float]], *, tol: float = 1e-4
) -> None:
    """``got`` (best first) is the top of ``reference`` (each candidate's score; every candidate, for a cut-off).

    Holds when ``got`` has no repeated id, every id in it is scored as ``reference`` scores it, and its scores are the
    best ``len(got)`` scores of ``reference`` in order, all within ``tol``.
    """
    got = list(got)
    ref = dict(reference)
    ids = [i for i, _ in got]
    assert len(set(ids)) == len(ids), f"repeated ids in {ids}"
    best = sorted(ref.values(), reverse=True)[: len(got)]
    assert len(best) == len(got), f"got {len(got)} results, the reference has {len(ref)}"
    for rank, ((item, score), want) in enumerate(zip(got, best, strict=True)):
        assert item in ref, f"rank {rank}: {item!r} is not in the reference"
        assert abs(ref[item] - score) <= tol, f"rank {rank}: {item!r} scored {score}, the reference {ref[item]}"
        assert abs(score - want) <= tol, f"rank {rank}: {item!r} scored {score}, the reference's rank {rank} {want}"
