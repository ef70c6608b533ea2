"""What multivec knows about the embedded engine (qdrant-edge-py) of the versions it supports: the version range,
the names of the engine's files, and the workarounds for the engine's quirks. Check this module when the pin moves.

qdrant-edge is pre-1.0 and keeps a store on disk in its own format, so a minor release may change its API, its files
or its behaviour: only :data:`SUPPORTED_VERSIONS` is allowed (the ``qdrant-edge-py`` requirement in
``pyproject.toml`` says the same, and a test checks that the two agree).

Nothing here imports the engine: the store's file checks and statistics use the names without loading it.

>>> vector_storage_dir("multivector")
'vector_storage-multivector'
>>> is_panic(ValueError("no"))
False
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from multivec.errors import MultivecError, StoreCorruptedError, StoreError
from multivec.store import space

__all__ = [
    "CONFIG_FILE",
    "SEARCH_POOL_OPTIONS",
    "SEGMENTS_DIR",
    "SHARD_DIR",
    "SUPPORTED_VERSIONS",
    "VECTOR_STORAGE_PREFIX",
    "drop_unset_options",
    "engine_errors",
    "engine_failure",
    "is_panic",
    "match_value",
    "vector_storage_dir",
]

#: The qdrant-edge-py versions this multivec runs on (a PEP 440 specifier; the requirement in pyproject.toml).
SUPPORTED_VERSIONS = ">=0.9,<0.10"

# -- files ----------------------------------------------------------------------------------------------------------

#: The engine's directory inside a store directory (``path/<collection_name>/shard``).
SHARD_DIR = "shard"
#: The engine's configuration, in :data:`SHARD_DIR`.
CONFIG_FILE = "edge_config.json"
#: The segments (one directory each), in :data:`SHARD_DIR`.
SEGMENTS_DIR = "segments"
#: The prefix of a segment's directory holding one named vector's storage (see :func:`vector_storage_dir`).
VECTOR_STORAGE_PREFIX = "vector_storage-"


def vector_storage_dir(name: str) -> str:
    """The name of a segment's directory holding the stored vectors named ``name``."""
    return VECTOR_STORAGE_PREFIX + name


# -- configuration --------------------------------------------------------------------------------------------------

#: Options of this process's search thread pool rather than of the stored data. qdrant-edge persists the ones it is
#: given in :data:`CONFIG_FILE` and keeps them when a later load leaves them unset (there is no value that unpins
#: ``search_pool_core``), so the store removes the ones not given from that file before loading
#: (:func:`drop_unset_options`).
SEARCH_POOL_OPTIONS = ("max_search_threads", "search_pool_core")


def drop_unset_options(config_file: Path, names: list[str]) -> None:
    """Remove the options ``names`` from the engine's stored configuration, so that a load leaves them unset."""
    stored = json.loads(config_file.read_text())
    if any(name in stored for name in names):
        tmp = config_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v for k, v in stored.items() if k not in names}))
        os.replace(tmp, config_file)


# -- values ---------------------------------------------------------------------------------------------------------


def match_value(value: Any) -> Any:
    """A value for the engine's ``MatchValue``: qdrant-edge 0.9 reads a Python bool as an int (``True`` -> 1,
    matching no bool), and numpy's ``bool_`` as a bool.

    >>> match_value(True), match_value(1)
    (np.True_, 1)
    """
    return np.bool_(value) if isinstance(value, bool) else value


# -- failures -------------------------------------------------------------------------------------------------------

#: Engine errors that are about the machine, not about damaged files.
RESOURCE_ERRORS = ("No space left", "Too many open files", "Permission denied", "Cannot allocate", "File too large")


def is_panic(err: BaseException) -> bool:
    """A Rust panic inside the engine (``pyo3_runtime.PanicException``, a ``BaseException``): damaged files."""
    return type(err).__name__ == "PanicException"


@contextmanager
def engine_errors(shard_dir: Path, action: str) -> Iterator[None]:
    """Engine failures as multivec errors: damaged files (and Rust panics) raise StoreCorruptedError naming them."""
    try:
        yield
    except MultivecError:
        raise
    except Exception as err:
        raise engine_failure(err, shard_dir, action) from err
    except BaseException as err:
        if not is_panic(err):
            raise
        raise engine_failure(err, shard_dir, action) from err


def engine_failure(err: BaseException, shard_dir: Path, action: str) -> StoreError:
    """``err`` (raised by the engine on ``action``) as a multivec error: a full disk, a resource limit, or damaged
    files under ``shard_dir`` (:class:`~multivec.errors.StoreCorruptedError` naming the file when the engine does)."""
    full = space.storage_error(err, shard_dir.parent)
    if full is not None:
        return full
    text = str(err)
    where = f"could not {action} the store at {str(shard_dir.parent)!r}"
    if not is_panic(err) and any(s in text for s in RESOURCE_ERRORS):
        return StoreError(f"{where}: {text}")
    # the engine names the file it failed on, most of the time
    named = re.search(re.escape(str(shard_dir)) + r"[^\s\"',:]*", text)
    path = named.group(0) if named else str(shard_dir)
    return StoreCorruptedError(
        f"{where}: its files are damaged ({type(err).__name__}: {text}; at {path!r}); restore the store from a "
        "backup, or delete it and index again",
        path=path,
    )
