"""End-to-end check of a store: :func:`verify` reads every record back and says what is wrong.

It backs :meth:`MultiVectorStore.verify() <multivec.store.MultiVectorStore.verify>` and ``multivec verify``, and runs
on any backend through the store's own operations. It checks, in order:

- the store's own files, on the embedded store (``multivec.json`` unchanged, the record count its last acknowledged
  write left: see :mod:`multivec.store.layout`);
- that the records can be listed and their number matches the engine's count;
- every record: a string id found under its point id (the UUIDv5 of that id), no id twice, a well-formed payload,
  and each of its vectors (pooled, token vectors, pooled tokens) readable, of the collection's dimension, finite and
  L2-normalised.

Run it while nothing writes to the store: a write in between can show up as a mismatch. :func:`verify_path`
checks an embedded store on disk without its embedding model (``multivec verify``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import CollectionNotFoundError, ConfigurationError, StoreCorruptedError, StoreError
from multivec.store.backend import DENSE, MULTIVECTOR, POOLED, Backend, Count, RetrieveVectors, Scroll
from multivec.store.layout import META_FILE, check_store_dir, read_metadata
from multivec.types import Embedding
from multivec.validation import point_id

if TYPE_CHECKING:
    from multivec.store.store import MultiVectorStore

__all__ = ["VerifyReport", "open_without_model", "verify", "verify_path"]

#: Problems listed one by one; the rest are counted.
MAX_PROBLEMS = 100
_PAGE = 64
_MODALITIES = ("text", "image")


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` found: ``problems`` (empty when the store is sound) in ``records`` records."""

    records: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.records} records, every one readable and sound"
        lines = [f"{len(self.problems)} problem(s) found ({self.records} records):"]
        lines += [f"  - {problem}" for problem in self.problems[:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_PROBLEMS} more")
        return "\n".join(lines)


def verify(backend: Backend) -> VerifyReport:
    """Check the collection ``backend`` holds, end to end (see the module docstring)."""
    check_files = getattr(backend, "check_files", None)  # a backend with files of its own (the embedded one)
    problems: list[str] = list(check_files()) if check_files is not None else []
    try:
        count = int(backend.execute(Count()))
        payloads = backend.execute(Scroll(None, None))
    except StoreError as err:
        return VerifyReport(0, [*problems, f"the records cannot be listed: {err}"])
    if count != len(payloads):
        problems.append(f"the engine counts {count} records but {len(payloads)} can be listed")
    ids: list[str] = []
    seen: set[str] = set()
    for payload in payloads:
        item = payload.get("id")
        if not isinstance(item, str):
            problems.append(f"a record has no id in its payload ({str(payload)[:80]})")
        elif item in seen:
            problems.append(f"record {item!r} is stored twice")
        elif not isinstance(payload.get("metadata") or {}, dict) or payload.get("modality", "text") not in _MODALITIES:
            problems.append(f"record {item!r} has a malformed payload ({str(payload)[:80]})")
        else:
            seen.add(item)
            ids.append(item)
    checker = _VectorChecker(backend)
    for start in range(0, len(ids), _PAGE):
        problems += checker.check(ids[start : start + _PAGE])
    return VerifyReport(len(payloads), problems)


def open_without_model(path: str | os.PathLike[str], collection_name: str = "multivec") -> MultiVectorStore:
    """Open the embedded store ``path/collection_name`` with a stand-in for its embedder (its stored shape, no
    model): for reading, checking, measuring and tuning it from precomputed vectors.

    Raises :class:`~multivec.errors.CollectionNotFoundError` when there is no such collection (nothing is created),
    :class:`~multivec.errors.StoreLockedError` when another process has it open and
    :class:`~multivec.errors.StoreCorruptedError` when its files are damaged.
    """
    from multivec.store.store import MultiVectorStore  # the store imports this module

    directory = Path(path) / collection_name
    if not (directory / META_FILE).exists():
        check_store_dir(directory, locked=True)
        raise CollectionNotFoundError(f"there is no collection {collection_name!r} in {str(path)!r}")
    metadata, _ = read_metadata(directory / META_FILE)
    stand_in = (_StoredShape if metadata["multi_vector"] else _StoredSingleVector)(metadata)
    return MultiVectorStore(stand_in, collection_name, path=path)


def verify_path(path: str | os.PathLike[str], collection_name: str = "multivec") -> VerifyReport:
    """Open the embedded store ``path/collection_name`` without its embedding model and :func:`verify` it.

    A store too damaged to open gives a report with that one problem. Raises
    :class:`~multivec.errors.CollectionNotFoundError` when there is no such collection (nothing is created) and
    :class:`~multivec.errors.StoreLockedError` when another process has it open. Like any open, it takes over a
    store this process has open: call :meth:`~multivec.store.MultiVectorStore.verify` on that one instead.
    """
    try:
        with open_without_model(path, collection_name) as store:
            return store.verify()
    except StoreCorruptedError as err:
        return VerifyReport(0, [str(err)])


class _StoredShape(MultiVectorBaseEmbedding):
    """Stands in for the embedder of a store opened only to be checked: its stored shape, and no model."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        super().__init__(model_name=metadata["model_name"])
        self._dim = int(metadata["dim"])

    @property
    def dim(self) -> int:
        return self._dim

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        raise ConfigurationError("this store was opened without its embedding model (to be verified); it cannot embed")


class _StoredSingleVector(_StoredShape):
    is_multi_vector = False


class _VectorChecker:
    def __init__(self, backend: Backend) -> None:
        meta = backend.metadata
        self.backend = backend
        self.dim = int(meta["dim"])
        self.pooling = meta.get("token_pooling") or None
        self.names = [DENSE]
        if meta.get("multi_vector"):
            self.names += [MULTIVECTOR, POOLED] if self.pooling else [MULTIVECTOR]
        # float16 token vectors are normalised before they are rounded
        self.tolerance = 1e-2 if meta.get("datatype") == "float16" else 1e-3
        self.tokens: dict[str, int] = {}
        self.missing: set[str] = set()

    def check(self, ids: list[str]) -> list[str]:
        problems: list[str] = []
        for name in self.names:
            problems += self._check([i for i in ids if i not in self.missing], name)
        return problems

    def _check(self, ids: list[str], name: str) -> list[str]:
        if not ids:
            return []
        try:
            found = self.backend.execute(RetrieveVectors([point_id(i) for i in ids], name))
        except StoreError as err:
            if len(ids) == 1:
                return [f"record {ids[0]!r}: its {name!r} vector cannot be read ({err})"]
            return [problem for item in ids for problem in self._check([item], name)]
        vectors = {str(payload.get("id")): vector for payload, vector in found}
        problems = []
        for item in ids:
            if item not in vectors:
                self.missing.add(item)
                problems.append(f"record {item!r} is not found under its point id {point_id(item)}")
            else:
                problem = self._vector_problem(item, name, vectors[item])
                if problem:
                    problems.append(f"record {item!r}: its {name!r} vector {problem}")
        return problems

    def _vector_problem(self, item: str, name: str, vector: np.ndarray) -> str | None:
        rows = vector.reshape(1, -1) if name == DENSE and vector.ndim == 1 else vector
        if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != self.dim:
            expected = f"({self.dim},)" if name == DENSE else f"(n, {self.dim})"
            return f"has shape {vector.shape}, expected {expected}"
        if name == MULTIVECTOR:
            self.tokens[item] = rows.shape[0]
        if name == POOLED and item in self.tokens and self.pooling:
            groups = math.ceil(self.tokens[item] / int(self.pooling))
            if rows.shape[0] != groups:
                return f"has {rows.shape[0]} rows, expected {groups} for {self.tokens[item]} token vectors"
        if not np.isfinite(rows).all():
            return "holds NaN or inf values"
        norms = np.linalg.norm(rows.astype(np.float64), axis=1)
        worst = float(norms[np.argmax(np.abs(norms - 1))])
        if abs(worst - 1) > self.tolerance:
            return f"is not normalised (a row has norm {worst:.4g})"
        return None
