"""Input checks run before any write: ids, metadata, payloads and vectors.

Every check raises :class:`~multivec.errors.InvalidInputError` (or :class:`~multivec.errors.DimensionMismatchError`)
naming the offending position, so a failing call writes nothing.

Ids: any ``str`` (non-empty) or ``int`` (not ``bool``); ints are kept as their ``str``, so ``7`` and ``"7"`` are the
same id. Each maps deterministically to the Qdrant point id ``uuid5(MULTIVEC_NAMESPACE, str(id))``. Repeating an
id within one call is an error (which of the two should win is ambiguous); across calls, the later write replaces
the earlier one (upsert).

>>> point_id("doc-1") == point_id("doc-1"), point_id(7) == point_id("7")
(True, True)
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from multivec._options import non_negative_int, positive_int
from multivec.errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "MAX_METADATA_DEPTH",
    "MULTIVEC_NAMESPACE",
    "PAYLOAD_KEYS",
    "check_ids",
    "check_metadatas",
    "check_payloads",
    "check_record",
    "check_text",
    "check_vectors",
    "non_negative_int",
    "point_id",
    "positive_int",
]

#: Namespace of the UUIDv5 point ids (fixed forever: changing it would orphan every stored point).
MULTIVEC_NAMESPACE = uuid.UUID("3f1c0a5e-6d0b-5c0e-9a59-2b6f4e6b8f11")
#: Keys a payload given to ``add_embeddings`` may have.
PAYLOAD_KEYS = ("content", "metadata", "modality", "source", "page")
_MODALITIES = ("text", "image")
#: Deepest nesting of lists/dicts accepted in metadata. The embedded engine writes deeper payloads to its write-ahead
#: log but cannot decode them again (past about 100 levels), which would leave the store unopenable.
MAX_METADATA_DEPTH = 32
#: The integer range stored exactly: the embedded engine turns larger ints into floats.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: Longest collection name (a directory name of the embedded store; Qdrant's own limit).
MAX_NAME_LENGTH = 255


def point_id(item_id: str | int) -> str:
    """The Qdrant point id (UUIDv5 string) of a caller id."""
    return str(uuid.uuid5(MULTIVEC_NAMESPACE, str(item_id)))


def _as_list(items: Any, name: str) -> list[Any]:
    if items is None or isinstance(items, str | bytes | dict) or not isinstance(items, Iterable):
        raise InvalidInputError(f"{name} must be a list, got {type(items).__name__}")
    return list(items)


def check_ids(ids: Sequence[str | int] | None, n: int) -> list[str]:
    """Validated ids as strings; fresh uuid4 strings when ``ids`` is None."""
    if ids is None:
        return [str(uuid.uuid4()) for _ in range(n)]
    items = _as_list(ids, "ids")
    if len(items) != n:
        raise InvalidInputError(f"got {n} items but {len(items)} ids; pass one id per item (or none)")
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise InvalidInputError(f"ids[{i}] is {type(item).__name__} ({item!r}); ids must be str or int", index=i)
        text = check_text(str(item), f"ids[{i}]", i)
        if not text:
            raise InvalidInputError(f"ids[{i}] is an empty string; pass a non-empty id", index=i)
        if text in seen:
            raise InvalidInputError(
                f"ids[{i}] ({text!r}) repeats ids[{seen[text]}]; each id may appear once per call", index=i
            )
        seen[text] = i
        out.append(text)
    return out


def check_text(value: str, where: str, index: int | None) -> str:
    """``value`` if it can be stored as UTF-8 (no lone surrogates), else :class:`InvalidInputError` naming ``where``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidInputError(
            f"{where} has a lone surrogate ({value[err.start]!r} at position {err.start}), which is not valid "
            "Unicode and cannot be stored; decode your text with errors='replace' or fix its source",
            index=index,
        ) from None
    return value


def _check_json(value: Any, where: str, index: int, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, where, index)
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidInputError(
                f"{where} is {value}, outside the 64-bit integer range Qdrant stores exactly; store it as a str",
                index=index,
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} is {value}; JSON has no NaN/inf", index=index)
        return value
    if isinstance(value, list | tuple | dict) and depth >= MAX_METADATA_DEPTH:
        raise InvalidInputError(
            f"{where} is nested more than {MAX_METADATA_DEPTH} levels deep; flatten the metadata", index=index
        )
    if isinstance(value, list | tuple):
        return [_check_json(v, f"{where}[{j}]", index, depth + 1) for j, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{where} has a non-string key {key!r}; JSON keys are strings", index=index)
            check_text(key, f"{where} key {key!r}", index)
            out[key] = _check_json(v, f"{where}[{key!r}]", index, depth + 1)
        return out
    raise InvalidInputError(
        f"{where} is {type(value).__name__} ({value!r:.60}), which is not JSON; convert it to str, int, float, "
        "bool, None, list or dict",
        index=index,
    )


def check_metadata(metadata: Any, where: str, index: int) -> dict[str, Any]:
    """One metadata dict, checked to be plain JSON (``None`` becomes ``{}``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"{where} is {type(metadata).__name__}; metadata must be a dict", index=index)
    return _check_json(metadata, where, index)


def check_metadatas(metadatas: Sequence[dict[str, Any] | None] | None, n: int) -> list[dict[str, Any]]:
    """Validated metadata dicts, one per item."""
    if metadatas is None:
        return [{} for _ in range(n)]
    items = _as_list(metadatas, "metadatas")
    if len(items) != n:
        raise InvalidInputError(f"got {n} items but {len(items)} metadatas; pass one per item (or none)")
    return [check_metadata(m, f"metadatas[{i}]", i) for i, m in enumerate(items)]


def check_optional_list(values: Sequence[Any] | None, n: int, name: str, kind: type | tuple[type, ...]) -> list[Any]:
    """``values`` (each of ``kind`` or None) as a list of length ``n``; all None when not given."""
    if values is None:
        return [None] * n
    items = _as_list(values, name)
    if len(items) != n:
        raise InvalidInputError(f"got {n} items but {len(items)} {name}; pass one per item (or none)")
    for i, v in enumerate(items):
        if v is not None and (isinstance(v, bool) or not isinstance(v, kind)):
            raise InvalidInputError(f"{name}[{i}] is {type(v).__name__} ({v!r:.60})", index=i)
    return items


def check_record(row: dict[str, Any], index: int) -> None:
    """The strings a record stores besides its metadata (``content``, ``source``) are valid Unicode."""
    for key in ("content", "source"):
        value = row.get(key)
        if isinstance(value, str):
            check_text(value, f"item {index} {key}", index)
    page = row.get("page")
    if isinstance(page, int) and not INT_MIN <= page <= INT_MAX:
        raise InvalidInputError(f"item {index} page is {page}, outside the 64-bit integer range", index=index)


def check_payloads(payloads: Sequence[dict[str, Any] | None] | None, n: int) -> list[dict[str, Any]]:
    """Validated ``add_embeddings`` payloads with every key filled in."""
    if payloads is None:
        items: list[Any] = [None] * n
    else:
        items = _as_list(payloads, "payloads")
        if len(items) != n:
            raise InvalidInputError(f"got {n} embeddings but {len(items)} payloads; pass one per embedding")
    out = []
    for i, payload in enumerate(items):
        payload = payload or {}
        where = f"payloads[{i}]"
        if not isinstance(payload, dict):
            raise InvalidInputError(f"{where} is {type(payload).__name__}; pass a dict", index=i)
        unknown = sorted(set(payload) - set(PAYLOAD_KEYS))
        if unknown:
            raise InvalidInputError(
                f"{where} has unknown key(s) {unknown}; allowed: {', '.join(PAYLOAD_KEYS)} (put your own fields "
                "under 'metadata')",
                index=i,
            )
        content, source, page = payload.get("content"), payload.get("source"), payload.get("page")
        modality = payload.get("modality", "text")
        for key, value in (("content", content), ("source", source)):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{where}[{key!r}] must be a str or None", index=i)
        if page is not None and (isinstance(page, bool) or not isinstance(page, int)):
            raise InvalidInputError(f"{where}['page'] must be an int or None", index=i)
        if modality not in _MODALITIES:
            raise InvalidInputError(f"{where}['modality'] is {modality!r}; use 'text' or 'image'", index=i)
        metadata = check_metadata(payload.get("metadata"), f"{where}['metadata']", i)
        out.append({"content": content, "metadata": metadata, "modality": modality, "source": source, "page": page})
    return out


def check_vector(vector: Any, dim: int, multi_vector: bool, where: str, index: int | None) -> np.ndarray:
    """One embedding as float32: ``(n, dim)`` with ``n >= 1`` for multi-vector stores, ``(dim,)`` otherwise."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{where} is not a numeric array ({err})", index=index) from None
    expected = "(n_tokens, dim)" if multi_vector else "(dim,)"
    if arr.ndim != (2 if multi_vector else 1):
        raise InvalidInputError(f"{where} has shape {arr.shape}; this store expects {expected}", index=index)
    if multi_vector and arr.shape[0] == 0:
        raise InvalidInputError(f"{where} is an empty multi-vector (0 rows); every item needs vectors", index=index)
    if arr.shape[-1] != dim:
        raise DimensionMismatchError(
            f"{where} has dimension {arr.shape[-1]} but the store holds {dim}-d vectors", index=index
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(
            f"{where} contains NaN or inf values (or values beyond float32's range, about ±3.4e38)", index=index
        )
    if not np.any(arr):
        raise InvalidInputError(f"{where} is all zeros; it cannot be compared by cosine", index=index)
    return arr


def check_vectors(vectors: Sequence[Any], dim: int, multi_vector: bool, name: str) -> list[np.ndarray]:
    """Every embedding checked with :func:`check_vector`."""
    items = _as_list(vectors, name)
    return [check_vector(v, dim, multi_vector, f"{name}[{i}]", i) for i, v in enumerate(items)]
