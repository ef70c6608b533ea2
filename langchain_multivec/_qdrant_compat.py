"""langchain-qdrant's keyword arguments, as users carry them over to :class:`~langchain_multivec.QdrantMultiVectorStore`.

The connection options (``url``, ``host``, ``port``, ``grpc_port``, ``https``, ``prefer_grpc``, ``prefix``,
``timeout``, ``api_key``, ``location``, ``path``) are the core store's own and pass straight through. The rest are
translated where they mean something here and refused, naming the alternative, where they do not: a store built
from them would not be what the user asked for. ``retrieval_mode`` is the LangChain store's own option
(:func:`retrieval_mode`): ``"hybrid"`` fuses BM25 with MaxSim, ``"dense"`` is MaxSim alone.

>>> retrieval_mode("hybrid"), retrieval_mode("dense")
('hybrid', 'maxsim')

>>> langchain_qdrant_options({"batch_size": 32, "url": "http://localhost:6333", "validate_embeddings": True})
{'url': 'http://localhost:6333', 'write_batch_size': 32}
>>> langchain_qdrant_options({"distance": "Cosine"})
Traceback (most recent call last):
...
multivec.errors.ConfigurationError: distance= is not an option of QdrantMultiVectorStore: MaxSim scores are fixed (the best cosine of each query token, summed); use similarity_search_with_relevance_scores for [0, 1] scores
"""

from __future__ import annotations

from typing import Any

from multivec.errors import ConfigurationError

__all__ = ["RETRIEVAL_MODES", "langchain_qdrant_options", "retrieval_mode"]

#: What ``retrieval_mode=`` takes (or a ``RetrievalMode`` of langchain_multivec or langchain-qdrant).
RETRIEVAL_MODES = ("maxsim", "hybrid")

_REFUSED = {
    "distance": "MaxSim scores are fixed (the best cosine of each query token, summed); use "
    "similarity_search_with_relevance_scores for [0, 1] scores",
    "content_payload_key": "the payload layout is fixed (the text is stored as `content`, your metadata as "
    "`metadata`); Documents round-trip unchanged",
    "metadata_payload_key": "the payload layout is fixed (your metadata is stored under `metadata`); filter on "
    "your own keys with filter={...}",
    "vector_name": "the vector names are fixed (`dense` for the first stage, `multivector` for MaxSim)",
    "sparse_vector_name": "there is no sparse vector: the lexical side of retrieval_mode='hybrid' is BM25 over the "
    "stored text, built in",
    "sparse_embedding": "there is no sparse vector: the lexical side of retrieval_mode='hybrid' is BM25 over the "
    "stored text, built in",
    "vector_params": "the vectors' parameters come from the embedder; use multivector_datatype= and collection "
    "options such as on_disk=",
    "sparse_vector_params": "there is no sparse vector: the lexical side of retrieval_mode='hybrid' is BM25 over "
    "the stored text, built in",
    "force_recreate": "it would delete the collection and its data; use another collection_name, or empty the "
    "collection with store.store.clear()",
}
#: Checks langchain-qdrant makes optionally; multivec always makes them.
_ALWAYS_ON = ("validate_embeddings", "validate_collection_config")


def retrieval_mode(value: Any, error: type[Exception] = ConfigurationError) -> str:
    """The search mode a ``retrieval_mode`` names: ``"maxsim"`` (also langchain-qdrant's ``"dense"``) or
    ``"hybrid"``; langchain-qdrant's ``"sparse"`` (lexical only) has no counterpart and raises ``error``."""
    name = getattr(value, "value", value)
    if name == "dense":
        return "maxsim"
    if name == "sparse":
        raise error(
            "retrieval_mode='sparse' is not supported: retrieval is late interaction (MaxSim); use "
            "retrieval_mode='hybrid' (BM25 fused with MaxSim; a high hybrid_weight leans on BM25)"
        )
    if not isinstance(name, str) or name not in RETRIEVAL_MODES:
        raise error(f"retrieval_mode must be 'maxsim' or 'hybrid' (or a RetrievalMode), got {value!r}")
    return name


def langchain_qdrant_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with langchain-qdrant's arguments translated to the core store's, or a ``ConfigurationError``."""
    out = dict(options)
    for name, why in _REFUSED.items():
        if name in out:
            value = out.pop(name)
            if name == "force_recreate" and value is False:
                continue
            raise ConfigurationError(f"{name}= is not an option of QdrantMultiVectorStore: {why}")
    for name in _ALWAYS_ON:
        if name in out and out.pop(name) is not True:
            raise ConfigurationError(
                f"{name}=False is not supported: multivec always checks embeddings and the collection's "
                "configuration (a mismatch raises a typed error instead of storing wrong data)"
            )
    if "batch_size" in out:
        if "write_batch_size" in out:
            raise ConfigurationError("pass batch_size= or write_batch_size= (the same option), not both")
        out["write_batch_size"] = out.pop("batch_size")
    create_options = out.pop("collection_create_options", None)
    if create_options is not None:
        if not isinstance(create_options, dict):
            raise ConfigurationError(f"collection_create_options must be a dict, got {type(create_options).__name__}")
        clashes = sorted(set(create_options) & set(out))
        if clashes:
            raise ConfigurationError(
                f"{', '.join(clashes)} given twice (as an option and in collection_create_options)"
            )
        out.update(create_options)
    return out
