"""``multivec verify``: check a store end to end, without loading its embedding model.

Prints what :func:`multivec.store.integrity.verify_path` found; exits 0 when the store is sound, 1 when it found a
problem (a store too damaged to open is one), 2 when there is no such collection.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, store_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``verify`` subcommand to ``commands`` (the parser's subparsers)."""
    verify = commands.add_parser(
        "verify",
        help="check a store for damage",
        description="Read every record of a collection back and check it: the store's own files, the record "
        "count, ids, and every vector (readable, right dimension, finite, normalised). Exits 0 when the store is "
        "sound, 1 when something is wrong (each problem is printed), 2 when there is no such collection.",
    )
    store_flags(verify)


def run(args: argparse.Namespace) -> int:
    """Run ``multivec verify``; returns the exit code."""
    from multivec.errors import CollectionNotFoundError
    from multivec.store.integrity import verify_path

    try:
        report = verify_path(args.store, args.collection)
    except CollectionNotFoundError as err:
        print(f"multivec: error: {err}; build it with `multivec index PATH --store {args.store}`", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1
