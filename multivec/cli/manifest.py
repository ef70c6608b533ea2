"""The store directory's memory of which embedder built each collection (``<store>/multivec-cli.json``).

``multivec index`` writes it; ``multivec search``/``index`` read it, so later commands need no embedder flags, and
refuse flags that name another embedder or model (vectors of two models are not comparable)::

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> save(root, "docs", EmbedderSpec("fake", None, None))
    >>> resolve(root, "docs", embedder=None, model=None, url=None)
    EmbedderSpec(embedder='fake', model=None, url=None)
    >>> resolve(root, "docs", embedder="colbert", model=None, url=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    multivec.errors.ConfigurationError: the store ... was built with embedder 'fake' (its default model)...
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multivec.errors import ConfigurationError, StoreError

__all__ = ["MANIFEST", "EmbedderSpec", "collections", "load", "resolve", "save"]

MANIFEST = "multivec-cli.json"
_VERSION = 1
DEFAULT_EMBEDDER = "colbert"


@dataclass(frozen=True)
class EmbedderSpec:
    """Which embedder a collection was built with: ``embedder`` (a :data:`multivec.embeddings.factory.EMBEDDERS`
    name), ``model`` (hub id, local directory or served name; ``None`` = the embedder's default) and, for Infinity,
    the ``url`` last used (not part of the identity: a server may move)."""

    embedder: str
    model: str | None
    url: str | None

    def describe(self) -> str:
        model = f"model {self.model!r}" if self.model else "its default model"
        return f"embedder {self.embedder!r} ({model})"

    def flags(self) -> str:
        """The command-line flags that select this embedder."""
        return f"--embedder {self.embedder}" + (f" --model {self.model}" if self.model else "")


def normalise_model(model: str | None) -> str | None:
    """A model as it is compared and stored: local directories as absolute paths, hub ids unchanged."""
    if model is None:
        return None
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def _read(store: str | Path) -> dict[str, Any]:
    file = Path(store) / MANIFEST
    if not file.is_file():
        return {"multivec_cli": _VERSION, "collections": {}}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StoreError(f"{file} is unreadable ({err}); delete it and re-index, or restore it") from None
    if not isinstance(data, dict) or not isinstance(data.get("collections"), dict):
        raise StoreError(f"{file} is not a multivec manifest; delete it and re-index")
    return data


def collections(store: str | Path) -> list[str]:
    """Names of the collections the manifest knows, sorted."""
    return sorted(_read(store)["collections"])


def load(store: str | Path, collection: str) -> EmbedderSpec | None:
    """The spec recorded for ``collection``, or ``None``."""
    entry = _read(store)["collections"].get(collection)
    if not isinstance(entry, dict):
        return None
    return EmbedderSpec(str(entry.get("embedder")), entry.get("model"), entry.get("url"))


def save(store: str | Path, collection: str, spec: EmbedderSpec) -> None:
    """Record ``spec`` for ``collection`` (atomically replaces the manifest)."""
    root = Path(store)
    root.mkdir(parents=True, exist_ok=True)
    data = _read(root)
    data["collections"][collection] = asdict(spec)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, root / MANIFEST)


def resolve(
    store: str | Path, collection: str, *, embedder: str | None, model: str | None, url: str | None
) -> EmbedderSpec:
    """The embedder to use on ``collection``: the recorded one (flags may repeat it, and ``url`` may change), or
    for a new collection the flags' (default: the offline ColBERT). Raises :class:`ConfigurationError` when the
    flags name another embedder or model than the one that built the collection."""
    wanted_model = normalise_model(model)
    stored = load(store, collection)
    if stored is None:
        return EmbedderSpec(embedder or DEFAULT_EMBEDDER, wanted_model, url)
    if (embedder is not None and embedder != stored.embedder) or (
        wanted_model is not None and wanted_model != stored.model
    ):
        asked = EmbedderSpec(embedder or stored.embedder, wanted_model, url)
        raise ConfigurationError(
            f"the store {str(store)!r} (collection {collection!r}) was built with {stored.describe()}, not "
            f"{asked.describe()}; vectors of different models cannot be compared. Leave out --embedder/--model "
            f"(or pass {stored.flags()}), or use another --store or --collection"
        )
    return EmbedderSpec(stored.embedder, stored.model, url or stored.url)
