"""Where a store lives, checked once, and the one definition of the store's options that the adapters reuse.

:class:`~multivec.store.MultiVectorStore`'s constructor is the single definition of the store's options. The
LangChain and LlamaIndex stores do not re-list them: :func:`mirrors_store_options` gives their constructors the
core's signature (so ``help()``, IDEs and ``inspect`` show every option with its default), and they pass the
options through unchanged, so an option added to the core is an option of both adapters.

A Qdrant server is reached the way langchain-qdrant and the LlamaIndex Qdrant store reach it: ``url=`` or
``host=``/``port=`` (``grpc_port``, ``https``, ``prefer_grpc``, ``prefix``, ``timeout``, ``api_key``), or a client
you built yourself (``client=``, plus ``aclient=`` for native async I/O). A store never closes a client it was
given. ``qdrant_client`` is imported only when a server is named (the embedded store does without it).

>>> from qdrant_client import QdrantClient
>>> server_connection(client=QdrantClient(":memory:")).local
True
>>> server_connection() is None  # nothing names a server: the embedded store
True
>>> server_connection(api_key="secret")
Traceback (most recent call last):
...
multivec.errors.ConfigurationError: api_key= needs a Qdrant server (url= or host=); the embedded store has no authentication
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from multivec._options import boolean, positive_int
from multivec.errors import CollectionNotFoundError, ConfigurationError

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient, QdrantClient

__all__ = ["ServerConnection", "mirrors_store_options", "require_store", "server_connection", "store_option_names"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ServerConnection:
    """How to reach a Qdrant server (or qdrant-client's local mode): the clients to use or the options to build them."""

    options: dict[str, Any] = field(default_factory=dict)
    client: QdrantClient | None = None
    aclient: AsyncQdrantClient | None = None

    @property
    def local(self) -> bool:
        """qdrant-client's in-process local mode (``location=":memory:"`` or a local-mode client)."""
        if self.client is not None:
            return bool(getattr(self.client, "_client", None).__class__.__name__ == "QdrantLocal")
        return self.options.get("location") == ":memory:"

    def sync_client(self) -> QdrantClient:
        """The client given, or a new one built from the options (then the store owns and closes it)."""
        if self.client is not None:
            return self.client
        from qdrant_client import QdrantClient

        return QdrantClient(**self.options)

    def async_client(self) -> AsyncQdrantClient:
        """The async client given, or a new one built from the options."""
        if self.aclient is not None:
            return self.aclient
        from qdrant_client import AsyncQdrantClient

        return AsyncQdrantClient(**self.options)

    @property
    def owns_clients(self) -> bool:
        """Whether the store built its clients (and so closes them)."""
        return self.client is None


def server_connection(
    *,
    url: str | None = None,
    api_key: str | None = None,
    location: str | None = None,
    client: QdrantClient | None = None,
    aclient: AsyncQdrantClient | None = None,
    host: str | None = None,
    port: int | None = None,
    grpc_port: int | None = None,
    https: bool | None = None,
    prefer_grpc: bool | None = None,
    prefix: str | None = None,
    timeout: int | None = None,
) -> ServerConnection | None:
    """The Qdrant server these arguments name, checked; ``None`` when none is named (the embedded store)."""
    for name, value in (("url", url), ("api_key", api_key), ("location", location), ("host", host), ("prefix", prefix)):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{name} must be a str, got {type(value).__name__}")
    for name, flag in (("https", https), ("prefer_grpc", prefer_grpc)):
        if flag is not None:
            boolean(flag, name)
    for name, number in (("port", port), ("grpc_port", grpc_port), ("timeout", timeout)):
        if number is not None:
            positive_int(number, name)
    if client is not None or aclient is not None:  # the caller built a client: qdrant_client is loaded already
        from qdrant_client import AsyncQdrantClient, QdrantClient

        if client is not None and not isinstance(client, QdrantClient):
            raise ConfigurationError(f"client must be a qdrant_client.QdrantClient, got {type(client).__name__}")
        if aclient is not None and not isinstance(aclient, AsyncQdrantClient):
            raise ConfigurationError(f"aclient must be a qdrant_client.AsyncQdrantClient, got {type(aclient).__name__}")
    places = [name for name, value in (("url", url), ("location", location), ("host", host)) if value is not None]
    if len(places) > 1:
        raise ConfigurationError(f"pass one of url=, host= or location=, not {' and '.join(places)}")
    options = {
        name: value
        for name, value in {
            "url": url,
            "location": location,
            "host": host,
            "port": port,
            "grpc_port": grpc_port,
            "https": https,
            "prefer_grpc": prefer_grpc,
            "prefix": prefix,
            "timeout": timeout,
            "api_key": api_key,
        }.items()
        if value is not None
    }
    if client is not None or aclient is not None:
        if client is None:
            raise ConfigurationError(
                "aclient= needs client= too: the store opens the collection and runs sync calls with the sync client"
            )
        if options:
            raise ConfigurationError(
                f"pass either client= or connection options ({', '.join(sorted(options))}), not both: the client "
                "already knows where its server is"
            )
        return ServerConnection(client=client, aclient=aclient)
    if not places:
        if api_key is not None:
            raise ConfigurationError(
                "api_key= needs a Qdrant server (url= or host=); the embedded store has no authentication"
            )
        if options:
            raise ConfigurationError(
                f"{', '.join(sorted(options))} need(s) a Qdrant server: pass url= or host= as well"
            )
        return None
    return ServerConnection(options=options)


def require_store(path: str | os.PathLike[str] | None, collection_name: str) -> None:
    """Refuse to open an embedded collection that does not exist when it must not be created."""
    from multivec.store.layout import META_FILE

    if path is None:
        raise CollectionNotFoundError(
            "create_collection=False needs path= (an existing embedded store) or a Qdrant server; without them the "
            "store is a new temporary one"
        )
    if not (Path(os.fspath(path)) / collection_name / META_FILE).is_file():
        raise CollectionNotFoundError(
            f"there is no collection {collection_name!r} in {os.fspath(path)!r}; create it first (the default, "
            "create_collection=True, or the adapters' from_texts/from_documents)"
        )


def store_option_names() -> list[str]:
    """The keyword options of :class:`~multivec.store.MultiVectorStore` (after ``embedding`` and ``collection_name``)."""
    return [p.name for p in _store_parameters() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _store_parameters() -> list[inspect.Parameter]:
    from multivec.store.store import MultiVectorStore

    return list(inspect.signature(MultiVectorStore.__init__).parameters.values())[1:]  # without self


def mirrors_store_options(*own: inspect.Parameter) -> Callable[[F], F]:
    """Give an adapter's ``__init__(self, embedding, collection_name=..., **options)`` the core's signature.

    ``own`` are the adapter's own keyword options, placed after the core's. The signature is what ``help()`` and
    ``inspect.signature`` show; the adapter passes ``options`` to the core, which checks them.

    >>> @mirrors_store_options(inspect.Parameter("extra", inspect.Parameter.KEYWORD_ONLY, default=1))
    ... def init(self, embedding, collection_name="multivec", **options): ...
    >>> params = inspect.signature(init).parameters
    >>> "prefetch_limit" in params and "client" in params and list(params)[-2:] == ["extra", "collection_options"]
    True
    """

    def decorate(fn: F) -> F:
        core = _store_parameters()
        head = [p for p in core if p.kind is not inspect.Parameter.VAR_KEYWORD and p.kind is not p.KEYWORD_ONLY]
        keywords = [p for p in core if p.kind is inspect.Parameter.KEYWORD_ONLY]
        tail = [p for p in core if p.kind is inspect.Parameter.VAR_KEYWORD]
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        fn.__signature__ = inspect.Signature([self_param, *head, *keywords, *own, *tail])  # type: ignore[attr-defined]
        return fn

    return decorate
