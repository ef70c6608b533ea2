"""``multivec models``: list the catalogue of known checkpoints (:mod:`multivec.embeddings.catalogue`).

Prints a table (name, family, modality, dim, size, licence, pool factor) or, with ``--json``, every field of every
entry; loads no model and exits 0.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]

_COLUMNS = ("name", "family", "modality", "dim", "size", "licence", "pool")


def add_parser(commands: Any) -> None:
    """Add the ``models`` subcommand to ``commands`` (the parser's subparsers)."""
    models = commands.add_parser(
        "models",
        help="list the known models (the catalogue)",
        description="List the checkpoints multivec knows: which embedder loads each, its modality, vector "
        "dimension, approximate size, licence and recommended token pooling factor. Any of these names can be "
        "given to make_embedder() on its own; --json prints every field, processing details and notes included.",
    )
    models.add_argument("--json", action="store_true", help="print every field of every entry as JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``multivec models``; returns the exit code."""
    from multivec.embeddings.catalogue import CATALOGUE

    if args.json:
        print(json.dumps([model.as_dict() for model in CATALOGUE], indent=2, ensure_ascii=False))
        return 0
    rows = [
        (
            m.name,
            m.family,
            m.modality,
            str(m.dim),
            f"{m.parameters} (~{m.size_mb:,} MB)",
            m.licence,
            "-" if m.pool_factor is None else str(m.pool_factor),
        )
        for m in CATALOGUE
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print("\npool: the recommended pool_factor (document token pooling); --json adds processing details and notes")
    return 0
