"""The embedded store's own files beside the engine's, and the checks that keep damage from passing silently.

A store directory (``path/<collection_name>/``) holds:

- ``multivec.json``: the collection metadata (model name, dimension, kind, datatype, token pooling, pool factor),
  written once when the store is created. :func:`read_metadata` refuses one that is not valid JSON, not an object,
  has a field of the wrong type or names an unknown datatype, with :class:`~multivec.errors.StoreCorruptedError`.
- ``multivec.state.json``: the bookkeeping (:class:`Ledger`): the number of records after the last acknowledged
  write call and the SHA-256 of ``multivec.json``. A write call marks it ``pending`` before its first write and
  records the new count when it is acknowledged, so an open can tell a store damaged while it was closed (a count
  that differs from the acknowledged one) from one whose last call was cut off (``pending``: any count is possible).
- ``multivec.hybrid.json`` (once :meth:`~multivec.store.MultiVectorStore.enable_hybrid` was called on a store created
  without hybrid search): the hybrid search defaults it was given (:func:`read_hybrid_file`).
- ``multivec.tuning.json`` (once the store has been tuned): the search limits
  :meth:`~multivec.store.MultiVectorStore.tune` chose and what it measured (:mod:`multivec.store.tuning`); a store
  opened without explicit limits uses them. Kept apart so that ``multivec.json`` never changes.
- ``.lock`` (:mod:`multivec.store.lock`), ``shard/`` (the engine's files, named in :mod:`multivec.store.engine`) and
  whatever else multivec adds later under a ``multivec.`` name.

A directory that exists, is not empty and has no ``multivec.json`` is not adopted: :func:`check_store_dir` refuses
it before anything is created in it. Every file is replaced atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multivec.errors import ConfigurationError, StoreCorruptedError, StoreError
from multivec.store.backend import DATATYPES, METADATA_VERSION
from multivec.store.engine import SHARD_DIR
from multivec.store.lock import LOCK_FILE

__all__ = [
    "HYBRID_FILE",
    "LEDGER_FILE",
    "META_FILE",
    "SHARD_DIR",
    "TUNING_FILE",
    "Ledger",
    "check_store_dir",
    "read_hybrid_file",
    "read_metadata",
    "read_tuning_file",
    "write_json",
]

META_FILE = "multivec.json"
LEDGER_FILE = "multivec.state.json"
TUNING_FILE = "multivec.tuning.json"
#: Hybrid settings given to ``enable_hybrid()`` (``multivec.json`` never changes after creation).
HYBRID_FILE = "multivec.hybrid.json"
_LEDGER_VERSION = 1
_REQUIRED = {"multivec": int, "model_name": str, "dim": int, "multi_vector": bool, "datatype": str}


def write_json(file: Path, data: dict[str, Any]) -> None:
    """Replace ``file`` with ``data`` atomically and durably."""
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, file)
    fd = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_store_dir(directory: Path, *, locked: bool) -> None:
    """Refuse a ``directory`` that holds files but no ``multivec.json`` (not a multivec store, or one that lost it).

    Called before the lock is taken (``locked=False``: a store another process is creating has ``multivec.*``
    files before its ``multivec.json``; they are left to the check made once the lock is held), so that a
    directory that is not a store is refused before anything is created in it, and again after.
    """
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigurationError(f"cannot use {str(directory)!r} as a store directory: it is a file")
    if (directory / META_FILE).exists():
        return
    others = sorted(
        name for name in os.listdir(directory) if name != LOCK_FILE and (locked or not name.startswith("multivec."))
    )
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise StoreCorruptedError(
            f"{str(directory)!r} is not a multivec store: it holds {shown} but no {META_FILE} (not created by "
            "multivec, or its metadata file was lost); pass another path or collection_name",
            path=str(directory),
        )


def _corrupted(file: Path, what: str) -> StoreCorruptedError:
    if file.name == LEDGER_FILE:
        fix = "delete it to open the store without the count check, then run `multivec verify`"
    elif file.name == TUNING_FILE:
        fix = "delete it to drop the tuned search limits (run `multivec tune` to measure them again)"
    else:
        fix = "restore the store from a backup, or delete it and index again"
    return StoreCorruptedError(f"the store file {str(file)!r} is damaged: {what}; {fix}", path=str(file))


def _read_object(file: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise StoreError(f"cannot read {str(file)!r}: {err}") from err
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise _corrupted(file, f"it is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise _corrupted(file, f"it holds a JSON {type(data).__name__}, not an object")
    return data, raw


def read_tuning_file(directory: Path) -> dict[str, Any] | None:
    """The JSON object in ``directory/multivec.tuning.json``, ``None`` when the store was never tuned."""
    file = directory / TUNING_FILE
    return _read_object(file)[0] if file.exists() else None


def read_hybrid_file(file: Path) -> dict[str, Any]:
    """The hybrid search settings in ``file`` (:data:`HYBRID_FILE`); a damaged one raises
    :class:`~multivec.errors.StoreCorruptedError` naming it."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StoreCorruptedError(
            f"the store file {str(file)!r} is damaged ({err}); delete it and run store.enable_hybrid() again",
            path=str(file),
        ) from None
    if not isinstance(data, dict):
        raise StoreCorruptedError(
            f"the store file {str(file)!r} is damaged (not a JSON object); delete it and run store.enable_hybrid() "
            "again",
            path=str(file),
        )
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_metadata(file: Path) -> tuple[dict[str, Any], str]:
    """The validated collection metadata in ``file`` and the SHA-256 of its bytes.

    Raises :class:`StoreCorruptedError` (naming the file) when it is not a valid multivec metadata object, and
    :class:`ConfigurationError` when a newer multivec wrote it.
    """
    data, raw = _read_object(file)
    for key, kind in _REQUIRED.items():
        value = data.get(key)
        if not isinstance(value, kind) or (kind is int and not _is_int(value)):
            raise _corrupted(file, f"{key!r} is {value!r}, expected a {kind.__name__}")
    if data["multivec"] > METADATA_VERSION:
        raise ConfigurationError(
            f"{str(file)!r} was written by a newer multivec (layout {data['multivec']}); upgrade multivec to open it"
        )
    if data["multivec"] < 1 or data["dim"] < 1 or not data["model_name"]:
        raise _corrupted(file, "'multivec', 'dim' or 'model_name' is out of range")
    if data["datatype"] not in DATATYPES:
        raise _corrupted(file, f"unknown datatype {data['datatype']!r} (known: {', '.join(DATATYPES)})")
    pooling = data.setdefault("token_pooling", None)
    if pooling is not None and not (_is_int(pooling) and pooling >= 2 and data["multi_vector"]):
        raise _corrupted(file, f"'token_pooling' is {pooling!r}, expected null or an int >= 2")
    factor = data.setdefault("pool_factor", None)  # absent: written before ingest-time pooling existed, none
    if factor is not None and not (_is_int(factor) and factor >= 2 and data["multi_vector"]):
        raise _corrupted(file, f"'pool_factor' is {factor!r}, expected null or an int >= 2")
    return data, hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """What ``multivec.state.json`` holds."""

    records: int
    pending: bool
    metadata_sha256: str


class Ledger:
    """The bookkeeping file of one open store (see the module docstring)."""

    def __init__(self, directory: Path, metadata_sha256: str, entry: LedgerEntry | None) -> None:
        self.file = directory / LEDGER_FILE
        self.metadata_sha256 = metadata_sha256
        self.entry = entry

    @staticmethod
    def read(directory: Path) -> LedgerEntry | None:
        """The entry in ``directory`` (``None`` for a store made before the ledger existed, or a new one)."""
        file = directory / LEDGER_FILE
        if not file.exists():
            return None
        data, _ = _read_object(file)
        records, pending, checksum = data.get("records"), data.get("pending"), data.get("metadata_sha256")
        if not (
            isinstance(records, int)
            and _is_int(records)
            and records >= 0
            and isinstance(pending, bool)
            and isinstance(checksum, str)
        ):
            raise _corrupted(file, "it does not hold the records count, pending flag and metadata checksum")
        return LedgerEntry(records, pending, checksum)

    def begin(self) -> None:
        """Mark a write call as started (once until the next :meth:`commit`)."""
        if self.entry is None or not self.entry.pending:
            self._write(LedgerEntry(self.entry.records if self.entry else 0, True, self.metadata_sha256))

    def commit(self, records: int) -> None:
        """Record ``records`` as the acknowledged count."""
        if self.entry != LedgerEntry(records, False, self.metadata_sha256):
            self._write(LedgerEntry(records, False, self.metadata_sha256))

    def _write(self, entry: LedgerEntry) -> None:
        write_json(
            self.file,
            {
                "multivec_state": _LEDGER_VERSION,
                "records": entry.records,
                "pending": entry.pending,
                "metadata_sha256": entry.metadata_sha256,
            },
        )
        self.entry = entry
