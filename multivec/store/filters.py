"""The store's filter language: a small Mongo-style dict over user metadata, compiled to a Qdrant filter.

Both backends take the same compiled form, a :class:`qdrant_client.models.Filter` (the edge backend converts it to
``qdrant_edge`` classes), so a raw ``qdrant_client`` ``Filter`` is accepted too, with keys as payload paths
(``"metadata.genre"``, or the reserved ``"modality"``, ``"source"``, ``"page"``, ``"id"``).

The dict language (keys are user metadata keys; dotted keys reach nested objects: ``"author.name"``; other
characters, such as spaces or ``:``, are fine):

==================================  ==========================================================================
``{"k": v}``                        equal (``v`` is a str, int, float or bool)
``{"k": {"$eq": v}}``               equal
``{"k": {"$ne": v}}``               not equal; records without ``k`` match (as in MongoDB)
``{"k": {"$gt"|"$gte"|"$lt"|"$lte": v}}``  range; ``v`` a number, or an ISO 8601 datetime string
``{"k": {"$in": [v, ...]}}``        equal to any (non-empty list)
``{"k": {"$nin": [v, ...]}}``       equal to none; records without ``k`` match
``{"k": {"$text": "words"}}``       full-text match: every word must occur in ``k`` (declare ``k`` as a
                                    ``"text"`` filterable field to get the tokenised full-text index)
``{"$and": [f, ...]}``              all of the sub-filters
``{"$or": [f, ...]}``               any of the sub-filters
``{"$not": f}``                     the sub-filter does not match
==================================  ==========================================================================

Four reserved keys address the record itself instead of user metadata, with the same operators: ``"$id"`` (your
id; ``{"$id": {"$in": ["a", "b"]}}``), ``"$modality"`` (``"text"`` or ``"image"``), ``"$source"`` (file path/URI)
and ``"$page"`` (PDF page number).

Several keys in one dict, or several operators for one key, are ANDed. A key that no record has is not an error:
positive conditions on it match nothing, ``$ne``/``$nin``/``$not`` match everything. Fields need not be declared in
``filterable_fields``; declaring them only adds a payload index (faster filtered search on the edge backend and on
servers). Unknown operators, non-string keys, empty lists, values of the wrong type (NaN, infinities, integers
beyond 64 bits, strings that are not valid Unicode) and filters nested more than :data:`MAX_FILTER_DEPTH` levels
deep raise :class:`~multivec.errors.InvalidInputError` before anything is sent.

>>> f = to_qdrant_filter({"genre": "fruit", "year": {"$gte": 2000}})
>>> [c.key for c in f.must]
['metadata.genre', 'metadata.year']
>>> [c.key for c in to_qdrant_filter({"$id": {"$in": ["a", 7]}, "$modality": "image"}).must]
['id', 'modality']
"""

from __future__ import annotations

import math
import re
import reprlib
from datetime import datetime
from typing import Any, cast

from qdrant_client import models

from multivec.errors import InvalidInputError

__all__ = ["MAX_FILTER_DEPTH", "METADATA_PREFIX", "to_qdrant_filter"]

METADATA_PREFIX = "metadata."
#: Deepest nesting of ``$and`` / ``$or`` / ``$not`` accepted. Real filters are a few levels deep; the limit keeps a
#: generated or malicious filter from exhausting Python's recursion (or the engine's) on the way.
MAX_FILTER_DEPTH = 32
#: Integers Qdrant compares exactly (stored payload integers are 64-bit).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
#: A payload path segment Qdrant reads unquoted: a name, optionally with array brackets (``tags[]``, ``a[0]``).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+(\[\d*\])*")

_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_FIELD_OPS = {"$eq", "$ne", "$in", "$nin", "$text", *_RANGE_OPS}
_LOGICAL_OPS = {"$and", "$or", "$not"}
_MODALITIES = ("text", "image")
#: Reserved keys for the record's own fields, and their payload keys.
RECORD_FIELDS = {"$id": "id", "$modality": "modality", "$source": "source", "$page": "page"}

Condition = Any  # a models.Filter or models.FieldCondition


def to_qdrant_filter(filter: dict[str, Any] | models.Filter | None) -> models.Filter | None:
    """Compile a dict filter (see the module docstring) to a Qdrant filter; a ``Filter`` passes through."""
    if filter is None or isinstance(filter, models.Filter):
        return filter
    if not isinstance(filter, dict):
        raise InvalidInputError(
            f"filter must be a dict (see multivec.store.filters) or a qdrant_client.models.Filter, "
            f"got {type(filter).__name__}"
        )
    if not filter:
        return None
    return _as_filter(_compile(filter, "filter", 1))


def _as_filter(condition: Condition) -> models.Filter:
    return condition if isinstance(condition, models.Filter) else models.Filter(must=[condition])


def _compile(node: Any, where: str, depth: int) -> Condition:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidInputError(
            f"filter is nested more than {MAX_FILTER_DEPTH} levels deep ($and/$or/$not); flatten it (several keys in "
            "one dict are ANDed, $in matches any of several values)"
        )
    if not isinstance(node, dict) or not node:
        raise InvalidInputError(f"{where} must be a non-empty dict, got {_short(node)}")
    parts = [_compile_entry(key, value, f"{where}[{_short(key)}]", depth) for key, value in node.items()]
    return parts[0] if len(parts) == 1 else models.Filter(must=parts)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def _short(value: Any) -> str:
    """A bounded repr for messages (a huge or deeply nested value must not cost more than the error)."""
    return _REPR.repr(value)


def _text(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{where}: {_short(value)} is not valid Unicode (lone surrogate)") from None
    return value


def _compile_entry(key: Any, value: Any, where: str, depth: int) -> Condition:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"{where}: filter keys must be non-empty strings, got {type(key).__name__}")
    _text(key, where)
    if key in RECORD_FIELDS:
        if key == "$id":  # ids are stored as strings; int ids match their str
            value = _ids_as_strings(value)
        if key == "$modality" and isinstance(value, str) and value not in _MODALITIES:
            raise InvalidInputError(f"{where}: a record's modality is 'text' or 'image', got {value!r}")
        return _compile_field(RECORD_FIELDS[key], value, where)
    if key.startswith("$"):
        if key not in _LOGICAL_OPS:
            raise InvalidInputError(
                f"{where}: unknown operator {key!r}; use one of $and, $or, $not (or a record field: "
                f"{', '.join(RECORD_FIELDS)}) at this level"
            )
        if key == "$not":
            return models.Filter(must_not=[_compile(value, where, depth + 1)])
        if not isinstance(value, list | tuple) or not value:
            raise InvalidInputError(f"{where}: {key} takes a non-empty list of filters")
        subs = [_compile(sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(value)]
        return models.Filter(must=subs) if key == "$and" else models.Filter(should=subs)
    return _compile_field(metadata_path(key, where), value, where)


def metadata_path(key: str, where: str = "filterable_fields") -> str:
    """The payload path of metadata key ``key`` (what filters and payload indexes address).

    >>> metadata_path("a b.c")
    'metadata."a b".c'
    """
    return METADATA_PREFIX + payload_path(key, where)


def payload_path(key: str, where: str) -> str:
    """A metadata key as a Qdrant payload path: dots reach nested objects, and segments that are not plain names
    (spaces, ``:``, ``/``…) are quoted, so any key a record can hold is addressable."""
    segments = key.split(".")
    if not all(segments):
        raise InvalidInputError(f"{where}: {_short(key)} has an empty part between dots")
    if any('"' in segment for segment in segments):
        raise InvalidInputError(f"{where}: metadata keys with '\"' cannot be filtered on; rename the key")
    return ".".join(s if _PLAIN_SEGMENT.fullmatch(s) else f'"{s}"' for s in segments)


def _ids_as_strings(value: Any) -> Any:
    def text(v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    if isinstance(value, dict):
        return {op: [text(v) for v in arg] if isinstance(arg, list | tuple) else text(arg) for op, arg in value.items()}
    return text(value)


def _compile_field(path: str, value: Any, where: str) -> Condition:
    if isinstance(value, dict):
        if not value:
            raise InvalidInputError(f"{where}: empty operator dict; use e.g. {{'$eq': value}}")
        conds = [_compile_op(path, op, arg, where) for op, arg in value.items()]
        return conds[0] if len(conds) == 1 else models.Filter(must=conds)
    return _compile_op(path, "$eq", value, where)


def _compile_op(path: str, op: Any, arg: Any, where: str) -> Condition:
    if op not in _FIELD_OPS:
        raise InvalidInputError(
            f"{where}: unknown operator {op!r}; use one of {', '.join(sorted(_FIELD_OPS))} (or a nested dict key "
            "written with dots, e.g. 'author.name')"
        )
    if op == "$eq":
        return _equal(path, arg, where)
    if op == "$ne":
        return models.Filter(must_not=[_equal(path, arg, where)])
    if op in ("$in", "$nin"):
        any_of = _any_of(path, arg, f"{where}[{op!r}]")
        return any_of if op == "$in" else models.Filter(must_not=[any_of])
    if op == "$text":
        if not isinstance(arg, str) or not arg.strip():
            raise InvalidInputError(f"{where}: $text takes a non-empty string")
        return models.FieldCondition(key=path, match=models.MatchText(text=_text(arg, where)))
    return models.FieldCondition(key=path, range=_range(_RANGE_OPS[op], arg, where))


def _scalar(arg: Any, where: str) -> str | int | float | bool:
    if isinstance(arg, str):
        return _text(arg, where)
    if isinstance(arg, bool):
        return arg
    if isinstance(arg, int):
        if not _INT_MIN <= arg <= _INT_MAX:
            raise InvalidInputError(f"{where}: {arg} is outside the 64-bit integer range stored values have")
        return arg
    if isinstance(arg, float):
        if not math.isfinite(arg):
            raise InvalidInputError(f"{where}: {arg} is not a finite number")
        return arg
    raise InvalidInputError(
        f"{where}: expected a str, int, float or bool value, got {type(arg).__name__} ({_short(arg)}); "
        "use $in for lists and dotted keys for nested objects"
    )


def _equal(path: str, arg: Any, where: str) -> Condition:
    value = _scalar(arg, where)
    if isinstance(value, float) and not (value.is_integer() and _INT_MIN <= value <= _INT_MAX):
        return models.FieldCondition(key=path, range=models.Range(gte=value, lte=value))
    if isinstance(value, float):
        value = int(value)
    return models.FieldCondition(key=path, match=models.MatchValue(value=value))


def _any_of(path: str, arg: Any, where: str) -> Condition:
    if not isinstance(arg, list | tuple | set) or not arg:
        raise InvalidInputError(f"{where}: expected a non-empty list of values")
    values = [_scalar(v, where) for v in arg]
    if all(isinstance(v, str) for v in values):
        return models.FieldCondition(key=path, match=models.MatchAny(any=cast(Any, values)))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return models.FieldCondition(key=path, match=models.MatchAny(any=cast(Any, values)))
    return models.Filter(should=[_equal(path, v, where) for v in values])


def _range(bound: str, arg: Any, where: str) -> models.Range | models.DatetimeRange:
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        try:
            value = float(arg)
        except OverflowError:
            raise InvalidInputError(f"{where}: {_short(arg)} is too large for a range bound") from None
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: range bounds must be finite numbers, got {arg}")
        return models.Range(**{bound: value})
    if isinstance(arg, str):
        try:
            moment = datetime.fromisoformat(arg)
        except ValueError:
            raise InvalidInputError(f"{where}: {_short(arg)} is neither a number nor an ISO 8601 datetime") from None
        return models.DatetimeRange(**{bound: moment})
    raise InvalidInputError(f"{where}: range bounds must be numbers or ISO 8601 strings, got {_short(arg)}")
