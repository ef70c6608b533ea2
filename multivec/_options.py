"""Checks of option and argument values, shared by every public entry point (embedders, PDFs, the adapters).

Each check returns the value it accepts and otherwise raises ``error`` naming the option:
:class:`~multivec.errors.ConfigurationError` for constructor options (the default),
:class:`~multivec.errors.InvalidInputError` for per-call arguments. ``bool`` is never accepted as a number, and
numbers must be finite.

>>> positive_int(3, "k")
3
>>> positive_int(True, "k")
Traceback (most recent call last):
...
multivec.errors.ConfigurationError: k must be a positive int, got True
>>> number(float("nan"), "lambda_mult", minimum=0, maximum=1, error=InvalidInputError)
Traceback (most recent call last):
...
multivec.errors.InvalidInputError: lambda_mult must be a finite number in [0, 1], got nan
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from multivec.errors import ConfigurationError, InvalidInputError, MultivecError

__all__ = [
    "boolean",
    "check_filter",
    "choice",
    "configuration_errors",
    "items",
    "known_keys",
    "non_negative_int",
    "number",
    "optional_positive_int",
    "positive_int",
    "relevance",
    "search_options",
]

ErrorType = type[MultivecError]


def positive_int(value: Any, name: str, error: ErrorType = ConfigurationError, *, maximum: int | None = None) -> int:
    """``value`` if it is an int >= 1 (numpy ints included, ``bool`` not) and at most ``maximum``, else ``error``
    naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise error(f"{name} must be a positive int, got {value!r}")
    if maximum is not None and int(value) > maximum:
        raise error(f"{name} must be a positive int <= {maximum:,}, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str, error: ErrorType = ConfigurationError) -> int:
    """``value`` if it is an int >= 0 (numpy ints included, ``bool`` not), else ``error`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise error(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def optional_positive_int(value: Any, name: str, error: ErrorType = ConfigurationError) -> int | None:
    """``None`` or :func:`positive_int`."""
    return None if value is None else positive_int(value, name, error)


def _interval(minimum: float | None, maximum: float | None, open_minimum: bool) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'(' if open_minimum else '['}{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f" {'>' if open_minimum else '>='} {minimum:g}"
    if maximum is not None:
        return f" <= {maximum:g}"
    return ""


def number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_minimum: bool = False,
    error: ErrorType = ConfigurationError,
) -> float:
    """``value`` as a float if it is a finite real number within the bounds (``open_minimum``: ``> minimum``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if open_minimum else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        raise error(f"{name} must be a finite number{_interval(minimum, maximum, open_minimum)}, got {value!r}")
    return float(value)


def boolean(value: Any, name: str, error: ErrorType = ConfigurationError) -> bool:
    """``value`` if it is a ``bool`` (truthy strings like ``"no"`` are refused, not guessed)."""
    if not isinstance(value, bool):
        raise error(f"{name} must be True or False, got {value!r}")
    return value


def choice(value: Any, name: str, choices: Collection[Any], error: ErrorType = ConfigurationError) -> Any:
    """``value`` if it is one of ``choices``."""
    try:
        ok = bool(value in choices)
    except (TypeError, ValueError):  # unhashable values, arrays with no single truth value
        ok = False
    if not ok:
        raise error(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def items(value: Any, name: str, error: ErrorType = InvalidInputError) -> list[Any]:
    """The elements of a list-like ``value`` (a single str, bytes, dict or non-iterable is refused), as a list."""
    if value is None or isinstance(value, str | bytes | bytearray | Mapping):
        raise error(f"{name} must be a list, got {type(value).__name__}")
    try:
        return list(value)
    except TypeError:
        raise error(f"{name} must be a list, got {type(value).__name__}") from None


def known_keys(
    given: Iterable[Any], allowed: Collection[str], where: str, error: ErrorType = ConfigurationError
) -> None:
    """Refuse keys of ``given`` that are not in ``allowed``, naming them and the accepted ones."""
    unknown = sorted(str(key) for key in given if key not in allowed)
    if unknown:
        raise error(f"{where} got unknown option(s) {unknown}; accepted: {', '.join(sorted(allowed)) or 'none'}")


def check_filter(value: Any, name: str, error: ErrorType = InvalidInputError) -> Any:
    """``value`` if it is ``None``, a valid dict filter (:mod:`multivec.store.filters`) or a ``qdrant_client`` ``Filter``."""
    from multivec.store.filters import compile_filter

    try:
        compile_filter(value)
    except InvalidInputError as err:
        if error is InvalidInputError:
            raise
        raise error(f"{name}: {err}") from None
    return value


def relevance(value: Any, name: str, error: ErrorType = InvalidInputError) -> float | None:
    """``None`` or a relevance threshold: a finite number in [0, 1]."""
    return None if value is None else number(value, name, minimum=0, maximum=1, error=error)


def _raw_score(value: Any, name: str, error: ErrorType) -> float | None:
    return None if value is None else number(value, name, error=error)


def _modality(value: Any, name: str, error: ErrorType) -> str | None:
    return None if value is None else choice(value, name, ("text", "image"), error)


#: The check of each option a search, a retriever or an add takes, by name. The store checks again; these name the
#: option in the caller's words first and refuse values the store would otherwise read loosely (``exact="no"``).
_SEARCH_CHECKS: dict[str, Callable[[Any, str, ErrorType], Any]] = {
    "k": positive_int,
    "fetch_k": positive_int,
    "prefetch_limit": optional_positive_int,
    "batch_size": optional_positive_int,
    "lambda_mult": lambda value, name, error: number(value, name, minimum=0, maximum=1, error=error),
    "score_threshold": _raw_score,
    "exact": boolean,
    "filter": check_filter,
    "modality": _modality,
}


def search_options(
    options: Any,
    allowed: Collection[str],
    where: str,
    error: ErrorType = InvalidInputError,
    *,
    relevance_threshold: bool = False,
) -> dict[str, Any]:
    """``options`` (a dict of search, retriever or add options, as the adapters take them) checked: only
    ``allowed`` names, each value of the right type and range, else ``error`` naming it. ``relevance_threshold``:
    ``score_threshold`` is a [0, 1] relevance rather than a raw MaxSim score."""
    if not isinstance(options, Mapping):
        raise error(f"{where} must be a dict of options, got {type(options).__name__}")
    known_keys(options, allowed, where, error)
    checked = {}
    for name, value in options.items():
        check = relevance if relevance_threshold and name == "score_threshold" else _SEARCH_CHECKS.get(name)
        checked[name] = check(value, name, error) if check is not None else value
    return checked


@contextmanager
def configuration_errors(owner: str) -> Iterator[None]:
    """Turn a pydantic ``ValidationError`` raised in the block (a framework model's own field checks) into a
    :class:`ConfigurationError` naming ``owner`` and each rejected field.

    Pydantic wraps any ``ValueError`` a validator raises (ours included) into its ``ValidationError``, so adapters
    check their options before the framework's ``__init__`` and use this only as the net for the fields they do
    not own (``tags``, ``callback_manager``…).
    """
    from pydantic import ValidationError

    try:
        yield
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc']) or 'value'}: {e['msg']}" for e in err.errors())
        raise ConfigurationError(f"{owner}: {problems}") from None
