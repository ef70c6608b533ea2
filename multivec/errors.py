"""The one exception hierarchy of multivec.

Every error raised on purpose by multivec derives from :class:`MultivecError`, and every message says what was
wrong and what to do about it. Errors that are about the caller's input also derive from :class:`ValueError`, and
missing optional dependencies from :class:`ImportError`, so code written against the frameworks' conventions keeps
working::

    >>> from multivec.errors import InvalidInputError, MultivecError
    >>> try:
    ...     raise InvalidInputError("texts[2] is empty; pass non-empty strings", index=2)
    ... except MultivecError as err:
    ...     print(type(err).__name__, err.index)
    InvalidInputError 2
"""

from __future__ import annotations

__all__ = [
    "DISTRIBUTION",
    "CollectionNotFoundError",
    "ConfigurationError",
    "DimensionMismatchError",
    "EmbeddingError",
    "InfinityError",
    "InfinityTimeoutError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelLoadError",
    "MultivecError",
    "StorageFullError",
    "StoreCorruptedError",
    "StoreError",
    "StoreLockedError",
]


class MultivecError(Exception):
    """Base class of every error multivec raises on purpose."""


class ConfigurationError(MultivecError, ValueError):
    """An option given to a constructor is invalid (wrong value, contradictory options)."""


class InvalidInputError(MultivecError, ValueError):
    """An input (text, image, vector, id, metadata) is invalid.

    ``index`` is the input's position in the batch the caller passed, when the error is about one item.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class DimensionMismatchError(InvalidInputError):
    """A vector's dimension differs from the one the model or collection uses."""


#: The name this project is installed under (``multivec`` on PyPI is an unrelated project); its extras add the
#: optional dependencies.
DISTRIBUTION = "multivec-retrieval"


class MissingDependencyError(MultivecError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, feature: str, extra: str, *, missing: str | None = None, reason: str | None = None) -> None:
        if reason is not None:  # installed, but its import fails: say why instead of claiming it is missing
            message = (
                f"{feature} needs {missing or 'an optional dependency'}, which is installed but cannot be imported "
                f'({reason}); install a compatible version: pip install "{DISTRIBUTION}[{extra}]"'
            )
        else:
            what = f" ({missing} is not installed)" if missing else ""
            message = f'{feature} needs optional dependencies{what}: pip install "{DISTRIBUTION}[{extra}]"'
        super().__init__(message)
        self.extra = extra
        self.reason = reason


class EmbeddingError(MultivecError, RuntimeError):
    """Computing embeddings failed for a reason other than the caller's input."""


class ModelLoadError(EmbeddingError):
    """A model could not be loaded (not found locally while offline, unsupported architecture, …)."""


class InfinityError(EmbeddingError):
    """An Infinity server request failed.

    ``status_code`` is the HTTP status (``None`` for transport failures such as refused connections or timeouts),
    ``server_message`` the message the server sent, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
        self.url = url


class InfinityTimeoutError(InfinityError):
    """An Infinity call ran past its total deadline (``timeout``), retries and slow response bodies included."""


class StoreError(MultivecError, RuntimeError):
    """The vector store failed to read or write."""


class StoreLockedError(StoreError):
    """The store's directory is already opened by another store instance or process."""


class CollectionNotFoundError(StoreError):
    """The named collection does not exist."""


class StorageFullError(StoreError, OSError):
    """The filesystem holding the store is full (or a file-size limit was hit).

    ``path`` is the store directory, ``needed`` the bytes the operation needed (when known) and ``available`` what
    the filesystem had. The call that raised it stored nothing; once space is back the store reopens with every
    acknowledged call intact.
    """

    def __init__(
        self, message: str, *, path: str | None = None, needed: int | None = None, available: int | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.needed = needed
        self.available = available


class StoreCorruptedError(StoreError):
    """A store file is damaged or not a multivec store; ``path`` names the file (or directory) at fault."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
