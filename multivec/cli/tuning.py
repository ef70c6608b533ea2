"""``multivec tune``: choose a store's search limits for a target recall, without loading its embedding model.

Runs :meth:`MultiVectorStore.tune() <multivec.store.MultiVectorStore.tune>` on pseudo-queries made from the stored
documents (no model is needed: they are token vectors read from the store), saves the chosen limits with the store
and prints what it measured: a summary and the recall at every limit tried, or with ``--json`` the whole result.
Exits 0 when the target was met, 1 when no limit met it (the largest was saved), 2 for bad flags or no such
collection.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from multivec.errors import InvalidInputError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, store_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``tune`` subcommand to ``commands`` (the parser's subparsers)."""
    tune = commands.add_parser(
        "tune",
        help="choose the search limits that meet a recall target",
        description="Measure recall@k of the default (staged) search against exact MaxSim on pseudo-queries made "
        "from stored documents, and save the smallest prefetch limit (and pooled-token limit, with token pooling) "
        "that meets the target with the store: later opens use it. Exits 0 when the target is met, 1 when no limit "
        "meets it, 2 for bad flags or no such collection.",
    )
    store_flags(tune)
    tune.add_argument("--target", type=float, default=0.95, help="recall@k to reach, in (0, 1] (default: %(default)s)")
    tune.add_argument("--sample", type=int, default=200, help="pseudo-queries to use (default: %(default)s)")
    tune.add_argument("-k", type=int, default=10, help="the k of recall@k (default: %(default)s)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the pseudo-query sample (default: %(default)s)")
    tune.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``multivec tune``; returns the exit code."""
    from multivec.errors import CollectionNotFoundError
    from multivec.store.integrity import open_without_model

    for flag, value in (("--sample", args.sample), ("-k", args.k)):
        if value < 1:
            raise InvalidInputError(f"{flag} must be at least 1, got {value}")
    try:
        opened = open_without_model(args.store, args.collection)
    except CollectionNotFoundError as err:
        print(f"multivec: error: {err}; build it with `multivec index PATH --store {args.store}`", file=sys.stderr)
        return 2
    with opened as store:
        result = store.tune(target_recall=args.target, sample=args.sample, k=args.k, seed=args.seed)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(table(result))
    return 0 if result.met else 1


def table(result: Any) -> str:
    """The summary line, then the recall at every setting tried and on how many queries (a setting is abandoned
    once its misses rule the target out).

    >>> from multivec.store.tuning import TuningPoint, TuningResult
    >>> curve = (TuningPoint(10, None, 0.61, 12, False), TuningPoint(15, None, 0.97, 200))
    >>> print(table(TuningResult(15, None, 0.97, 0.95, True, 10, 200, "pseudo", 1400, 2.5, curve, "2026-01-01")))
    prefetch_limit=15: recall@10 0.970 meets the target 0.95 on 200 pseudo queries (1400 records, 2.5 s)
    prefetch  pooled  recall@10  queries
          10       -      0.610       12  (abandoned)
          15       -      0.970      200
    """
    rows = [result.summary(), f"prefetch  pooled  recall@{result.k}  queries"]
    for point in result.curve:
        pooled = "-" if point.pooled_limit is None else str(point.pooled_limit)
        row = f"{point.prefetch_limit:>8}  {pooled:>6}  {point.recall:>9.3f}  {point.queries:>7}"
        rows.append(row if point.complete else row + "  (abandoned)")
    return "\n".join(rows)
