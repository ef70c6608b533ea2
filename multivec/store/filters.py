"""The store's filter language: a small Mongo-style dict over user metadata, compiled to an engine-neutral
:class:`Filter` that each backend translates to its engine's classes.

A raw ``qdrant_client`` ``models.Filter`` is accepted too, with keys as payload paths (``"metadata.genre"``, or the
reserved ``"modality"``, ``"source"``, ``"page"``, ``"id"``); only then is ``qdrant_client`` needed (the embedded
store converts it to ``qdrant_edge`` classes).

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

>>> f = compile_filter({"genre": "fruit", "year": {"$gte": 2000}})
>>> [c.key for c in f.must]
['metadata.genre', 'metadata.year']
>>> [c.key for c in compile_filter({"$id": {"$in": ["a", 7]}, "$modality": "image"}).must]
['id', 'modality']
>>> to_qdrant_filter({"genre": "fruit"}).must[0].match.value  # the same as a qdrant_client filter
'fruit'
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, cast, overload

from multivec.errors import InvalidInputError

if TYPE_CHECKING:
    from qdrant_client import models

__all__ = [
    "MAX_FILTER_DEPTH",
    "METADATA_PREFIX",
    "CompiledFilter",
    "FieldAny",
    "FieldMatch",
    "FieldRange",
    "FieldText",
    "Filter",
    "FilterLike",
    "HasId",
    "compile_filter",
    "is_client_filter",
    "to_client_filter",
    "to_qdrant_filter",
]

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


# -- the compiled form ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldMatch:
    """The payload value at ``key`` equals ``value`` (or, for an array, one of its items does)."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class FieldAny:
    """The payload value at ``key`` equals one of ``values`` (all strings or all integers)."""

    key: str
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class FieldText:
    """Every word of ``text`` occurs in the payload text at ``key``."""

    key: str
    text: str


@dataclass(frozen=True)
class FieldRange:
    """The payload value at ``key`` is within the bounds given (numbers, or datetimes for datetime values)."""

    key: str
    gt: float | datetime | None = None
    gte: float | datetime | None = None
    lt: float | datetime | None = None
    lte: float | datetime | None = None

    @property
    def bounds(self) -> dict[str, float | datetime]:
        """The bounds given, by name (``gt``, ``gte``, ``lt``, ``lte``)."""
        given = {"gt": self.gt, "gte": self.gte, "lt": self.lt, "lte": self.lte}
        return {name: bound for name, bound in given.items() if bound is not None}

    @property
    def is_datetime(self) -> bool:
        """Whether the bounds are datetimes."""
        return any(isinstance(bound, datetime) for bound in self.bounds.values())


@dataclass(frozen=True)
class HasId:
    """The point id is one of ``ids``."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    """Every ``must`` condition holds, at least one ``should`` condition does (when there are any), and no
    ``must_not`` condition does. A condition is a field condition, :class:`HasId`, a nested :class:`Filter`, or a
    ``qdrant_client`` ``models.Filter`` given by the caller."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()


#: One condition of a compiled :class:`Filter`.
Condition: TypeAlias = "FieldMatch | FieldAny | FieldText | FieldRange | HasId | Filter | models.Filter"
#: What the backends take: a compiled dict filter, or a ``qdrant_client`` filter as given.
CompiledFilter: TypeAlias = "Filter | models.Filter"
#: What a ``filter=`` argument accepts: a dict (see the module docstring), a ``qdrant_client`` filter, or ``None``.
FilterLike: TypeAlias = "dict[str, Any] | models.Filter | None"


def is_client_filter(value: Any) -> bool:
    """Whether ``value`` is a ``qdrant_client`` ``models.Filter`` (imports ``qdrant_client`` only for its objects)."""
    if not any(kind.__module__.startswith("qdrant_client.") for kind in type(value).__mro__):
        return False
    from qdrant_client import models

    return isinstance(value, models.Filter)


def compile_filter(filter: Any) -> CompiledFilter | None:
    """Compile a dict filter (see the module docstring) to a :class:`Filter`; a ``qdrant_client`` ``Filter`` (or a
    compiled one) passes through, and ``None`` or ``{}`` give ``None``.

    >>> compile_filter({"genre": {"$ne": "auto"}})
    Filter(must=(), should=(), must_not=(FieldMatch(key='metadata.genre', value='auto'),))
    """
    if filter is None or isinstance(filter, Filter) or is_client_filter(filter):
        return cast("CompiledFilter | None", filter)
    if not isinstance(filter, dict):
        raise InvalidInputError(
            f"filter must be a dict (see multivec.store.filters) or a qdrant_client.models.Filter, "
            f"got {type(filter).__name__}"
        )
    if not filter:
        return None
    return _as_filter(_compile(filter, "filter", 1))


def to_qdrant_filter(filter: Any) -> models.Filter | None:
    """Compile a dict filter (see the module docstring) to a ``qdrant_client`` filter; a ``Filter`` passes through."""
    return to_client_filter(compile_filter(filter))


@overload
def to_client_filter(filter: None) -> None: ...
@overload
def to_client_filter(filter: CompiledFilter) -> models.Filter: ...
@overload
def to_client_filter(filter: CompiledFilter | None) -> models.Filter | None: ...
def to_client_filter(filter: CompiledFilter | None) -> models.Filter | None:
    """A compiled filter as ``qdrant_client`` classes (a ``qdrant_client`` filter passes through)."""
    if filter is None:
        return None
    from qdrant_client import models

    if isinstance(filter, models.Filter):
        return filter
    return cast(models.Filter, _client_condition(filter))


def _client_condition(c: Condition) -> Any:
    from qdrant_client import models

    if isinstance(c, Filter):

        def group(conditions: tuple[Condition, ...]) -> list[Any] | None:
            return [_client_condition(x) for x in conditions] if conditions else None

        return models.Filter(must=group(c.must), should=group(c.should), must_not=group(c.must_not))
    if isinstance(c, FieldMatch):
        return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
    if isinstance(c, FieldAny):
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=cast(Any, list(c.values))))
    if isinstance(c, FieldText):
        return models.FieldCondition(key=c.key, match=models.MatchText(text=c.text))
    if isinstance(c, FieldRange):
        kind = models.DatetimeRange if c.is_datetime else models.Range
        return models.FieldCondition(key=c.key, range=kind(**cast(dict[str, Any], c.bounds)))
    if isinstance(c, HasId):
        return models.HasIdCondition(has_id=list(c.ids))
    return c  # a qdrant_client condition, as given


def _as_filter(condition: Condition) -> Filter:
    return condition if isinstance(condition, Filter) else Filter(must=(condition,))


def _compile(node: Any, where: str, depth: int) -> Condition:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidInputError(
            f"filter is nested more than {MAX_FILTER_DEPTH} levels deep ($and/$or/$not); flatten it (several keys in "
            "one dict are ANDed, $in matches any of several values)"
        )
    if not isinstance(node, dict) or not node:
        raise InvalidInputError(f"{where} must be a non-empty dict, got {_short(node)}")
    parts = [_compile_entry(key, value, f"{where}[{_short(key)}]", depth) for key, value in node.items()]
    return parts[0] if len(parts) == 1 else Filter(must=tuple(parts))


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
            return Filter(must_not=(_compile(value, where, depth + 1),))
        if not isinstance(value, list | tuple) or not value:
            raise InvalidInputError(f"{where}: {key} takes a non-empty list of filters")
        subs = tuple(_compile(sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(value))
        return Filter(must=subs) if key == "$and" else Filter(should=subs)
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
        return conds[0] if len(conds) == 1 else Filter(must=tuple(conds))
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
        return Filter(must_not=(_equal(path, arg, where),))
    if op in ("$in", "$nin"):
        any_of = _any_of(path, arg, f"{where}[{op!r}]")
        return any_of if op == "$in" else Filter(must_not=(any_of,))
    if op == "$text":
        if not isinstance(arg, str) or not arg.strip():
            raise InvalidInputError(f"{where}: $text takes a non-empty string")
        return FieldText(path, _text(arg, where))
    return FieldRange(path, **{_RANGE_OPS[op]: _bound(arg, where)})


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
        return FieldRange(path, gte=value, lte=value)
    if isinstance(value, float):
        value = int(value)
    return FieldMatch(path, value)


def _any_of(path: str, arg: Any, where: str) -> Condition:
    if not isinstance(arg, list | tuple | set) or not arg:
        raise InvalidInputError(f"{where}: expected a non-empty list of values")
    values = [_scalar(v, where) for v in arg]
    if all(isinstance(v, str) for v in values) or all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return FieldAny(path, cast("tuple[str, ...] | tuple[int, ...]", tuple(values)))
    return Filter(should=tuple(_equal(path, v, where) for v in values))


def _bound(arg: Any, where: str) -> float | datetime:
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        try:
            value = float(arg)
        except OverflowError:
            raise InvalidInputError(f"{where}: {_short(arg)} is too large for a range bound") from None
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: range bounds must be finite numbers, got {arg}")
        return value
    if isinstance(arg, str):
        try:
            moment = datetime.fromisoformat(arg)
        except ValueError:
            raise InvalidInputError(f"{where}: {_short(arg)} is neither a number nor an ISO 8601 datetime") from None
        return moment
    raise InvalidInputError(f"{where}: range bounds must be numbers or ISO 8601 strings, got {_short(arg)}")
