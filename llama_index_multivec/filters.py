"""LlamaIndex ``MetadataFilters`` → the multivec store's dict filter language (see :mod:`multivec.store.filters`).

Keys are the nodes' metadata keys (plus ``doc_id`` / ``ref_doc_id``, which every stored node carries).

=============================  ===============================================================================
LlamaIndex operator            store filter
=============================  ===============================================================================
``EQ`` / ``NE``                ``{"k": {"$eq": v}}`` / ``{"k": {"$ne": v}}`` (``NE`` matches nodes without ``k``)
``GT`` ``GTE`` ``LT`` ``LTE``  ``{"k": {"$gt": v}}`` …; numbers or ISO 8601 datetime strings
``IN`` / ``NIN``               ``{"k": {"$in": [...]}}`` / ``{"k": {"$nin": [...]}}``
``TEXT_MATCH``                 ``{"k": {"$text": "words"}}``: Qdrant full-text match (declare ``k`` as a ``"text"``
                               filterable field for tokenised matching; without it, a substring match)
``CONTAINS``                   ``{"k": {"$eq": v}}``: a list-valued ``k`` contains ``v`` (Qdrant matches any element)
``ANY`` / ``ALL``              list-valued ``k`` contains any / all of the values
=============================  ===============================================================================

Conditions ``AND`` / ``OR`` map to ``$and`` / ``$or``; ``NOT`` matches when none of the filters match (as
LlamaIndex and its Qdrant store define it). Nested ``MetadataFilters`` are supported. ``TEXT_MATCH_INSENSITIVE`` and
``IS_EMPTY`` have no equivalent in the store's language and raise :class:`~multivec.errors.InvalidInputError`.

>>> from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
>>> to_store_filter(MetadataFilters(filters=[
...     MetadataFilter(key="genre", value="fruit"),
...     MetadataFilter(key="year", value=2000, operator=FilterOperator.GTE),
... ]))
{'$and': [{'genre': {'$eq': 'fruit'}}, {'year': {'$gte': 2000}}]}
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from multivec.errors import InvalidInputError
from multivec.store.filters import MAX_FILTER_DEPTH

__all__ = ["to_store_filter"]

_SIMPLE = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.TEXT_MATCH: "$text",
    FilterOperator.CONTAINS: "$eq",
    FilterOperator.ANY: "$in",
}


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f"{where} takes a non-empty list of values, got {value!r}")
    return value


def _condition(flt: MetadataFilter) -> dict[str, Any]:
    if not isinstance(flt, MetadataFilter):
        raise InvalidInputError(
            f"MetadataFilters.filters holds a {type(flt).__name__}; use MetadataFilter or MetadataFilters"
        )
    where = f"filter on {flt.key!r} with operator {flt.operator.name}"
    if flt.operator == FilterOperator.ALL:
        return {"$and": [{flt.key: {"$eq": v}} for v in _as_list(flt.value, where)]}
    op = _SIMPLE.get(flt.operator)
    if op is None:
        supported = ", ".join(sorted(o.name for o in (*_SIMPLE, FilterOperator.ALL)))
        raise InvalidInputError(f"{where} is not supported by the multivec store; use one of {supported}")
    if flt.operator in (FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY):
        return {flt.key: {op: _as_list(flt.value, where)}}
    if flt.value is None or isinstance(flt.value, list):
        raise InvalidInputError(f"{where} takes a single value, got {flt.value!r}")
    return {flt.key: {op: flt.value}}


def to_store_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Translate LlamaIndex filters to the store's dict filter; ``None`` or no filters → ``None``.

    Anything but ``MetadataFilters`` (a dict, a single ``MetadataFilter``…), or ``MetadataFilters`` nested more than
    :data:`multivec.store.filters.MAX_FILTER_DEPTH` levels deep, raises :class:`~multivec.errors.InvalidInputError`.
    """
    return _translate(filters, 1)


def _translate(filters: Any, depth: int) -> dict[str, Any] | None:
    if filters is not None and not isinstance(filters, MetadataFilters):
        raise InvalidInputError(
            f"filters must be llama_index MetadataFilters (or None), got {type(filters).__name__}; e.g. "
            'MetadataFilters(filters=[MetadataFilter(key="genre", value="fruit")])'
        )
    if depth > MAX_FILTER_DEPTH:
        raise InvalidInputError(f"filters are nested more than {MAX_FILTER_DEPTH} levels deep; flatten them")
    if filters is None or not filters.filters:
        return None
    parts = [_translate(f, depth + 1) if isinstance(f, MetadataFilters) else _condition(f) for f in filters.filters]
    conditions = [p for p in parts if p is not None]
    if not conditions:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.NOT:
        return {"$not": conditions[0] if len(conditions) == 1 else {"$or": conditions}}
    if len(conditions) == 1:
        return conditions[0]
    return {"$and" if condition == FilterCondition.AND else "$or": conditions}
