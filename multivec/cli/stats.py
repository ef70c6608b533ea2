"""``multivec stats``: what a store holds and how it is set up, without loading its embedding model.

Prints :meth:`MultiVectorStore.stats() <multivec.store.MultiVectorStore.stats>` of an embedded store: records,
segments, disk bytes by component, the RAM estimate, datatype, pooling, search limits and what ``multivec tune``
chose, as a table or, with ``--json``, every field. Operation latencies are those of the running process, so a
fresh ``multivec stats`` has none: read them from ``store.stats()`` in your application. Exits 0, or 2 when there is
no such collection.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser", "run", "table"]


def add_parser(commands: Any, store_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``stats`` subcommand to ``commands`` (the parser's subparsers)."""
    stats = commands.add_parser(
        "stats",
        help="show a store's size and settings",
        description="Show what a collection holds and how it is set up: records, segments, bytes on disk by "
        "component, an estimate of the RAM it keeps warm, vector datatype, token pooling and the search limits "
        "(tuned or not). Loads no model. Exits 0, or 2 when there is no such collection.",
    )
    store_flags(stats)
    stats.add_argument("--json", action="store_true", help="print every field as JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``multivec stats``; returns the exit code."""
    from multivec.errors import CollectionNotFoundError
    from multivec.store.integrity import open_without_model

    try:
        opened = open_without_model(args.store, args.collection)
    except CollectionNotFoundError as err:
        print(f"multivec: error: {err}; build it with `multivec index PATH --store {args.store}`", file=sys.stderr)
        return 2
    with opened as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats.as_dict(), indent=2))
    else:
        print(table(stats))
    return 0


def _size(n: int | None) -> str:
    """Bytes in binary units.

    >>> _size(0), _size(1536), _size(3 * 2**30), _size(None)
    ('0 B', '1.5 KiB', '3.0 GiB', '-')
    """
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _hybrid(settings: dict[str, Any] | None) -> str:
    if settings is None:
        return "off (no lexical index; `enable_hybrid()` adds one)"
    return f"{settings['fusion']} fusion, lexical weight {settings['weight']}, {settings['limit']} per branch"


def table(stats: Any) -> str:
    """A :class:`~multivec.store.stats.StoreStats` as text: one ``name: value`` line per setting, then the disk by
    component and the operations of this process (if any)."""
    tuning = stats.tuning
    tuned = "not tuned"
    if tuning is not None:
        tuned = (
            f"recall@{tuning['k']} {tuning['recall']:.3f} (target {tuning['target_recall']}) at {tuning['tuned_at']}"
        )
    lines = [
        f"collection:       {stats.collection} ({stats.backend}{', ' + stats.path if stats.path else ''})",
        f"model:            {stats.model_name} (dim {stats.dim}, {'multi' if stats.multi_vector else 'single'}-vector)",
        f"records:          {stats.records}",
        f"segments:         {'-' if stats.segments is None else stats.segments}",
        f"datatype:         {stats.datatype}",
        f"token_pooling:    {stats.token_pooling or '-'}",
        f"pool_factor:      {stats.pool_factor or '-'}",
        f"prefetch_limit:   {stats.prefetch_limit}",
        f"pooled_limit:     {stats.pooled_limit}",
        f"tuning:           {tuned}",
        f"hybrid:           {_hybrid(stats.hybrid)}",
        f"disk:             {_size(stats.disk_bytes)}",
    ]
    width = max((len(name) for name in stats.disk_by_component), default=0)
    lines += [f"  {name.ljust(width)}  {_size(size):>10}" for name, size in stats.disk_by_component.items()]
    lines.append(f"RAM estimate:     {_size(stats.ram_bytes_estimate)}")
    if stats.embedding_cache is not None:
        cache = stats.embedding_cache
        lines.append(f"embedding cache:  {cache.hits} hits, {cache.misses} misses, {cache.entries} entries")
    if stats.operations:
        lines.append("operation          calls  errors   items  p50 ms  p95 ms")
        for name, op in stats.operations.items():
            lines.append(f"{name:<17}{op.calls:>7}{op.errors:>8}{op.items:>8}{_ms(op.p50_ms):>8}{_ms(op.p95_ms):>8}")
    return "\n".join(lines)
