"""Restricting a store filter by record fields the dict language does not address: the caller's id and modality.

The store's dict filter language (:mod:`multivec.store.filters`) addresses user metadata only. :func:`restrict`
adds "the record's id is one of ``ids``" and/or "the record's modality is ``modality``" to any store filter and
returns a Qdrant filter that every store method (``search``, ``mmr_search``, ``scroll``, ``delete``, ``count``)
accepts. Framework adapters use it so they never build Qdrant filters themselves.

>>> f = restrict({"genre": "fruit"}, ids=["a", "b"], modality="image")
>>> [c.key for c in f.must]
['id', 'modality', 'metadata.genre']
>>> restrict({"genre": "fruit"}) == {"genre": "fruit"}
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from qdrant_client import models

from multivec.errors import InvalidInputError
from multivec.store.filters import to_qdrant_filter

__all__ = ["restrict"]

#: Payload keys of the caller's id and of the record's modality (see the payload layout in the store docs).
ID_KEY = "id"
MODALITY_KEY = "modality"
_MODALITIES = ("text", "image")


def restrict(
    filter: dict[str, Any] | models.Filter | None,
    *,
    ids: Sequence[str | int] | None = None,
    modality: Literal["text", "image"] | None = None,
) -> dict[str, Any] | models.Filter | None:
    """``filter`` AND "id in ``ids``" AND "modality is ``modality``"; ``filter`` itself when neither is given."""
    conditions: list[models.Condition] = []
    if ids is not None:
        if isinstance(ids, str | bytes) or not ids:
            raise InvalidInputError("ids must be a non-empty list of ids")
        conditions.append(models.FieldCondition(key=ID_KEY, match=models.MatchAny(any=[str(i) for i in ids])))
    if modality is not None:
        if modality not in _MODALITIES:
            raise InvalidInputError(f"modality must be 'text' or 'image', got {modality!r}")
        conditions.append(models.FieldCondition(key=MODALITY_KEY, match=models.MatchValue(value=modality)))
    if not conditions:
        return filter
    base = to_qdrant_filter(filter)
    if base is None:
        return models.Filter(must=conditions)
    # Flatten a plain AND so the result stays readable; anything else is nested as one condition.
    if base.must is not None and base.should is None and base.must_not is None and base.min_should is None:
        must = base.must if isinstance(base.must, list) else [base.must]
        return models.Filter(must=[*conditions, *must])
    return models.Filter(must=[*conditions, base])
