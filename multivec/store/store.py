"""MultiVectorStore: late-interaction (MaxSim) retrieval on Qdrant, embedded by default, a Qdrant server by URL.

Backends (chosen by the constructor arguments):

- no ``url``/``location``: the embedded engine (qdrant-edge-py, :mod:`multivec.store.edge`), persistent under
  ``path`` or in a temporary directory removed on :meth:`~MultiVectorStore.close`;
- ``url=`` (+ ``api_key=``): a Qdrant server or cluster (:mod:`multivec.store.server`), collection options such as
  ``shard_number``/``replication_factor`` passed through;
- ``location=":memory:"``: qdrant-client's in-process local mode, for tests (always brute force).

Search is one Qdrant query: the pooled vector (mean of the L2-normalised token vectors, re-normalised) finds
``prefetch_limit`` candidates with HNSW, MaxSim over the token vectors reranks them (``exact=True`` runs MaxSim over
every item). With ``token_pooling=g`` a middle stage sits between the two: MaxSim over the means of every ``g``
consecutive token vectors keeps ``pooled_limit`` candidates for the full MaxSim (Qdrant's row pooling for ColPali
pages with ``g=32``; several times less work per query on long multi-vectors). Scores: ``score`` is the raw MaxSim (sum over query tokens of the best cosine with any document token,
so within ``±n_query_tokens``); ``relevance = (score / n_query_tokens + 1) / 2`` clipped to [0, 1]. Single-vector
embedders (``is_multi_vector = False``, e.g. BiPali) get a dense-only cosine collection with the same API and
``relevance = (cosine + 1) / 2``.

Vectors are L2-normalised row by row before they are stored and before they are queried.

>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
...     store.add_texts(["red apples", "blue cars"], ids=["a", "b"], metadatas=[{"n": 1}, {"n": 2}])
...     hit = store.search("red apples", k=1)[0]
...     hit.id, hit.score, hit.relevance, store.count({"n": {"$gte": 2}})
['a', 'b']
('a', 2.0, 1.0, 1)
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from multivec import pdf, telemetry
from multivec._closing import Closing
from multivec._flow import Blocking, Flow, run_async, run_sync
from multivec._options import boolean, number
from multivec.embeddings.base import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.embeddings.requests import EmbedImageQuery, EmbedQuery, EmbedRequest, aembed, embed
from multivec.errors import ConfigurationError, InvalidInputError, StoreError
from multivec.items import Item, check_items, embed_items, uses_images
from multivec.pooling import pool_tokens
from multivec.scoring import normalize_rows, pool_groups, relevance
from multivec.store.backend import (
    DENSE,
    MULTIVECTOR,
    Backend,
    Clear,
    CollectionSpec,
    Count,
    Delete,
    PointData,
    Query,
    Retrieve,
    RetrieveVectors,
    ScoredPayload,
    Scroll,
    check_spec,
)
from multivec.store.backend import LEXICAL as _LEXICAL
from multivec.store.filters import FilterLike, compile_filter
from multivec.store.hybrid import HybridSettings, check_mode, hybrid_flow, lexical_text
from multivec.store.integrity import VerifyReport
from multivec.store.mmr import mmr_select
from multivec.store.options import require_store, server_connection
from multivec.store.records import Hit, Record
from multivec.store.stats import StoreStats
from multivec.store.transactions import Scope, Transactions
from multivec.store.tuning import (
    DEFAULT_TARGET_RECALL,
    TuningResult,
    load_tuning,
    resolve_limits,
    save_tuning,
    tune_flow,
)
from multivec.types import ImageInput
from multivec.validation import (
    MAX_NAME_LENGTH,
    check_ids,
    check_metadatas,
    check_optional_list,
    check_payloads,
    check_record,
    check_text,
    check_vector,
    check_vectors,
    point_id,
    positive_int,
)

if TYPE_CHECKING:
    from qdrant_client import AsyncQdrantClient, QdrantClient

__all__ = ["DEFAULT_MULTIVECTOR_DATATYPE", "DEFAULT_PREFETCH_LIMIT", "MultiVectorStore"]

#: First-stage candidates reranked by MaxSim (at least ``k``). Measured on Cranfield with MiniLM token vectors
#: (benchmarks/store.py), recall@10 of two-stage against exact MaxSim is 0.94 at 50, 0.98 at 100, 0.99 at 200 and
#: 0.999 at 400, while the rerank cost grows linearly: 100 clears the 0.95 target with margin at half the cost of 200.
DEFAULT_PREFETCH_LIMIT = 100
#: Candidates the pooled-token middle stage (``token_pooling``) passes on to the full MaxSim.
DEFAULT_POOLED_LIMIT = 30
#: Storage type of the token vectors. float16 gave the same top-10 as float32 but exact scans and reranks ran about
#: 2x slower on the engine (conversion on the fly); it only saves RAM/disk (token vectors halved), so it is opt-in.
DEFAULT_MULTIVECTOR_DATATYPE = "float32"

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
QueryLike = str | ImageInput | np.ndarray


def _record(payload: dict[str, Any]) -> Record:
    return Record(
        id=str(payload.get("id")),
        content=payload.get("content"),
        metadata=dict(payload.get("metadata") or {}),
        modality=payload.get("modality", "text"),
        source=payload.get("source"),
        page=payload.get("page"),
    )


class Atomic:
    """The context manager of :meth:`MultiVectorStore.atomic` (sync and async)."""

    def __init__(self, store: MultiVectorStore) -> None:
        self._store = store
        self._scope: Scope | None = None

    def __enter__(self) -> MultiVectorStore:
        self._store._check_open()
        self._scope = self._store._tx.begin()
        return self._store

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        assert self._scope is not None
        self._store._run(self._store._tx.end(self._scope, exc))

    async def __aenter__(self) -> MultiVectorStore:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        assert self._scope is not None
        await self._store._arun(self._store._tx.end(self._scope, exc))


class MultiVectorStore(Closing):
    """A late-interaction vector store on Qdrant (see the module docstring for backends and scoring).

    Args:
        embedding: any multivec embedder; its ``dim`` and ``model_name`` are recorded in the collection, and
            reopening a collection with another ``dim`` raises :class:`~multivec.errors.DimensionMismatchError`
            (a different model name is allowed; compare with :attr:`stored_model_name`).
        collection_name: the collection (embedded: a sub-directory of ``path``).
        path: directory of the embedded store (created if missing); ``None`` = temporary directory.
        url, api_key: a Qdrant server; ``location=":memory:"``: qdrant-client local mode (tests).
        client, aclient: a ``QdrantClient`` (and optionally an ``AsyncQdrantClient`` for native async calls) you
            built yourself, instead of ``url``/``host``; the store uses them and never closes them.
        host, port, grpc_port, https, prefer_grpc, prefix, timeout: qdrant-client's connection options, as in
            langchain-qdrant and the LlamaIndex Qdrant store (``host`` instead of ``url``; TLS and gRPC pass through).
        create_collection: ``False`` to open only an existing collection: a missing one raises
            :class:`~multivec.errors.CollectionNotFoundError` instead of starting an empty store.
        prefetch_limit: first-stage candidates reranked by MaxSim (at least ``k`` are always kept); raise it for
            recall, lower it for speed. ``None`` (default): the value :meth:`tune` chose and saved with the store,
            else :data:`DEFAULT_PREFETCH_LIMIT`; a value given here wins over the tuned one.
        multivector_datatype: storage of the token vectors: ``"float32"`` (a new collection's default),
            ``"float16"`` (half the bytes, same top-10, MaxSim about 2x slower) or ``"turbo8"`` (Qdrant's 8-bit
            TurboQuant: ``dim + 4`` bytes a token, about 0.26x float32 at 128-d; embedded store and Qdrant server,
            refused in ``:memory:`` local mode). Fixed when the collection is created: left out (``None``), an
            existing collection keeps its own; a value that differs from the stored one raises
            :class:`~multivec.errors.ConfigurationError`. Quality and cost per datatype: ``docs/scaling.md``.
        filterable_fields: ``{"metadata key": "keyword"|"integer"|"float"|"bool"|"text"|"datetime"}``: payload
            indexes for fast filtered search. Filters work on any metadata key without this.
        token_pooling: ``None`` (default) or ``g`` >= 2: also store the means of every ``g`` consecutive token
            vectors and search in three stages (pooled vector → pooled tokens → all tokens). ``32`` on ColPali
            pages pools each patch row; see benchmarks/store.py for the latency and recall it buys. Fixed when the
            collection is created (an existing collection keeps its own); needs a multi-vector embedder.
        pool_factor: ``None`` (default: no pooling) or ``k`` >= 2: store about ``n / k`` token vectors per
            document instead of ``n``, the means of clusters of its own similar tokens (hierarchical token pooling,
            :mod:`multivec.pooling`), so the store is about ``k`` times smaller and MaxSim scores ``k`` times fewer
            pairs; queries are never pooled, and the first-stage vector stays the mean of all the tokens. Fixed
            when the collection is created: left out, an existing collection keeps its own; a value that differs
            from the stored one raises :class:`~multivec.errors.ConfigurationError`. Needs a multi-vector
            embedder. Quality and cost per factor: ``docs/pooling.md``.
        pooled_limit: candidates the pooled-token stage keeps for the full MaxSim (at least ``k``). ``None``
            (default): the tuned value if any (:meth:`tune`), else :data:`DEFAULT_POOLED_LIMIT`.
        hybrid_fusion, hybrid_weight, hybrid_limit: defaults of hybrid search (``search(..., mode="hybrid")``,
            :mod:`multivec.store.hybrid`): how the BM25 and MaxSim rankings are fused (``"rrf"``, ``"dbsf"`` or
            ``"rerank"``), the lexical weight (MaxSim weighs 1) and the candidates of each branch. A new collection
            records them (and gets its lexical index); ``None``: the collection's recorded value, else the default
            (``"dbsf"``, ``0.3``, ``30``). See ``docs/hybrid.md``.
        write_batch_size: points per write request.
        show_progress: tqdm progress bars for embedding and writing.
        collection_options: backend options. Embedded: ``on_disk``, ``max_search_threads``, ``search_pool_core``,
            ``optimize_threshold``, ``segment_mb``, ``hnsw_ef`` (see :mod:`multivec.store.edge`; they apply to each
            open, of a new store or an existing one, and one left out has its default). Server: ``on_disk``,
            ``hnsw_ef`` (the first stage's search-time HNSW ``ef``, default 128) plus every
            ``QdrantClient.create_collection`` option (``shard_number``, ``replication_factor``, ...). Unknown
            options raise :class:`~multivec.errors.ConfigurationError`.

    One process at a time owns an embedded ``path``/collection: opening it from another process raises
    :class:`~multivec.errors.StoreLockedError` and leaves its files untouched. Opening it again in the same process
    closes the earlier store first (its later calls raise :class:`~multivec.errors.StoreError`; a write it had in
    flight is taken back), so a re-run notebook cell just works; a store garbage-collected without :meth:`close`
    releases the directory too. Damaged files raise :class:`~multivec.errors.StoreCorruptedError`; :meth:`verify`
    checks the whole store. Use it as a context manager or call :meth:`close`.

    Data safety (README, "Reliability"; tested in ``tests/reliability``):

    - **A write call that raises leaves the store as it was**, for the ids it added and the ones it would have
      overwritten, whatever its size and whichever adapter it came through; one that returns is durable.
      :meth:`atomic` makes several calls one transaction.
    - **A process killed mid-call** keeps every call that returned and nothing of the interrupted one (embedded
      store): a call of one write request (up to ``write_batch_size`` items) is in the engine's write-ahead log
      whole or not at all, and a larger one (or an :meth:`atomic` block) is taken back from its undo log
      (:mod:`multivec.store.undo`) when the store is next opened. On a Qdrant server a client killed mid-call may
      leave the batches the server had acknowledged.
    - **Input is checked before anything is written**: ids, texts, metadata (plain JSON, at most
      :data:`~multivec.validation.MAX_METADATA_DEPTH` levels deep, 64-bit integers, valid Unicode) and
      vectors (finite, non-zero, the store's dimension); anything else raises
      :class:`~multivec.errors.InvalidInputError` naming the item and field. What is stored reads back equal.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), location=":memory:")
    >>> store.add_texts(["hello world"], ids=[1])
    ['1']
    >>> [r.content for r in store.get(["1"])]
    ['hello world']
    >>> store.close()
    """

    def __init__(
        self,
        embedding: MultiVectorBaseEmbedding,
        collection_name: str = "multivec",
        *,
        path: str | os.PathLike[str] | None = None,
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
        create_collection: bool = True,
        prefetch_limit: int | None = None,
        multivector_datatype: str | None = None,
        filterable_fields: dict[str, str] | None = None,
        token_pooling: int | None = None,
        pool_factor: int | None = None,
        pooled_limit: int | None = None,
        hybrid_fusion: str | None = None,
        hybrid_weight: float | None = None,
        hybrid_limit: int | None = None,
        write_batch_size: int = 64,
        show_progress: bool = False,
        **collection_options: Any,
    ) -> None:
        if not isinstance(embedding, MultiVectorBaseEmbedding):
            raise ConfigurationError(
                f"embedding must be a multivec embedder (MultiVectorBaseEmbedding), got {type(embedding).__name__}"
            )
        if (
            not isinstance(collection_name, str)
            or not _NAME.match(collection_name)
            or len(collection_name) > MAX_NAME_LENGTH
        ):
            raise ConfigurationError(
                f"collection_name must be 1 to {MAX_NAME_LENGTH} letters, digits, '_', '-', '.' (not starting with "
                f"'.' or '-'), got {collection_name!r:.80}"
            )
        if path is not None and not isinstance(path, str | os.PathLike):
            raise ConfigurationError(f"path must be a directory path (str or os.PathLike), got {type(path).__name__}")
        connection = server_connection(
            url=url,
            api_key=api_key,
            location=location,
            client=client,
            aclient=aclient,
            host=host,
            port=port,
            grpc_port=grpc_port,
            https=https,
            prefer_grpc=prefer_grpc,
            prefix=prefix,
            timeout=timeout,
        )
        if path is not None and connection is not None:
            raise ConfigurationError(
                "pass either path= (embedded store) or a Qdrant server/client (url=, host=, location=, client=), "
                "not both"
            )
        create_collection = boolean(create_collection, "create_collection")
        self.embedding = embedding
        self.collection_name = collection_name
        self.prefetch_limit, self.pooled_limit = resolve_limits(None, prefetch_limit, pooled_limit)  # checked early
        if token_pooling is not None and (
            positive_int(token_pooling, "token_pooling") < 2 or not embedding.is_multi_vector
        ):
            raise ConfigurationError(
                f"token_pooling must be None or an int >= 2 with a multi-vector embedder, got {token_pooling!r}"
            )
        if pool_factor is not None:
            if positive_int(pool_factor, "pool_factor") < 2 or not embedding.is_multi_vector:
                raise ConfigurationError(
                    f"pool_factor must be None or an int >= 2 with a multi-vector embedder, got {pool_factor!r}"
                )
            pool_factor = int(pool_factor)
        self.write_batch_size = positive_int(write_batch_size, "write_batch_size")
        self.show_progress = bool(show_progress)
        self.is_multi_vector = bool(embedding.is_multi_vector)
        self.dim = int(embedding.dim)
        spec = CollectionSpec(
            name=collection_name,
            dim=self.dim,
            multi_vector=self.is_multi_vector,
            model_name=embedding.model_name,
            datatype=multivector_datatype,
            filterable_fields=dict(filterable_fields or {}),
            options=dict(collection_options),
            token_pooling=token_pooling,
            pool_factor=pool_factor,
            hybrid=HybridSettings.resolve(
                None, fusion=hybrid_fusion, weight=hybrid_weight, limit=hybrid_limit
            ).as_dict(),
        )
        check_spec(spec)
        self._hybrid_options: dict[str, Any] = {"fusion": hybrid_fusion, "weight": hybrid_weight, "limit": hybrid_limit}
        self._backend: Backend
        if connection is not None:
            from multivec.store.server import ServerBackend

            self._backend = ServerBackend(spec, connection, create=create_collection)
            self.backend_name = "memory" if connection.local else "server"
            self.path: Path | None = None
        else:
            from multivec.store.edge import EdgeBackend

            if not create_collection:
                require_store(path, collection_name)

            edge = EdgeBackend(spec, path)
            self._backend = edge
            self.backend_name = "edge"
            self.path = edge.directory if path is not None else None
        self._closed = False
        self._tx = Transactions(self.path, self.write_batch_size)
        self._backend.on_close(self._tx.hand_over)
        try:
            self._tuning = load_tuning(self._backend)
            self.prefetch_limit, self.pooled_limit = resolve_limits(self._tuning, prefetch_limit, pooled_limit)
            if self._tx.unfinished:  # a process was killed mid-write: take that write back before anything else
                self._run(self._tx.settle())
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return (
            f"MultiVectorStore(collection_name={self.collection_name!r}, backend={self.backend_name!r}, "
            f"model={self.stored_model_name!r}, dim={self.dim})"
        )

    # -- properties ---------------------------------------------------------------------------------------------

    @property
    def stored_model_name(self) -> str | None:
        """The embedder model name recorded when the collection was created."""
        return self._backend.metadata.get("model_name")

    @property
    def token_pooling(self) -> int | None:
        """Group size of the pooled-token middle stage of this collection, or ``None`` (fixed at creation)."""
        value = self._backend.metadata.get("token_pooling")
        return int(value) if value else None

    @property
    def pool_factor(self) -> int | None:
        """Ingest-time token pooling of this collection (see :mod:`multivec.pooling`), or ``None`` (fixed at creation)."""
        value = self._backend.metadata.get("pool_factor")
        return int(value) if value else None

    @property
    def multivector_datatype(self) -> str:
        """Storage type of the token vectors in this collection (fixed at creation)."""
        return str(self._backend.metadata.get("datatype", DEFAULT_MULTIVECTOR_DATATYPE))

    @property
    def hybrid(self) -> HybridSettings | None:
        """The defaults of ``search(..., mode="hybrid")`` (constructor options over the collection's recorded ones),
        or ``None`` for a collection without a lexical index (see :meth:`enable_hybrid`)."""
        from multivec.store.hybrid import HybridNotEnabledError, stored_settings

        try:
            return stored_settings(self)
        except HybridNotEnabledError:
            return None

    def enable_hybrid(self, *, fusion: str | None = None, weight: float | None = None, limit: int | None = None) -> int:
        """Give a collection made before hybrid search its lexical index, from the text it already stores.

        Writes the lexical text of every stored item that lacks it (a text's content, an image page's PDF text
        layer), creates the BM25 index and records the hybrid defaults (``fusion``, ``weight``, ``limit``; left out:
        the current ones, else the defaults) with the collection, so later opens keep them. Returns the number of
        items whose text was written. Running it again is harmless (it completes an interrupted run, or only
        records new defaults). New collections have the index from the start.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_texts(["red apples", "blue cars"])
        ...     store.enable_hybrid(weight=0.5), store.hybrid.weight
        (0, 0.5)
        """
        from multivec.store.hybrid import enable_hybrid_flow

        current = self.hybrid
        settings = HybridSettings.resolve(
            None if current is None else current.as_dict(), fusion=fusion, weight=weight, limit=limit
        )
        written = int(self._run(enable_hybrid_flow(self, settings)))
        self._hybrid_options = {"fusion": fusion, "weight": weight, "limit": limit}
        return written

    async def aenable_hybrid(
        self, *, fusion: str | None = None, weight: float | None = None, limit: int | None = None
    ) -> int:
        """Async twin of :meth:`enable_hybrid`."""
        from multivec.store.hybrid import enable_hybrid_flow

        current = self.hybrid
        settings = HybridSettings.resolve(
            None if current is None else current.as_dict(), fusion=fusion, weight=weight, limit=limit
        )
        written = int(await self._arun(enable_hybrid_flow(self, settings)))
        self._hybrid_options = {"fusion": fusion, "weight": weight, "limit": limit}
        return written

    @property
    def tuning(self) -> TuningResult | None:
        """What the last :meth:`tune` chose and measured (saved with the store), or ``None`` if it was never tuned."""
        return self._tuning

    # -- drivers ------------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this MultiVectorStore is closed; open a new one")

    # every store method is one observed flow, every engine request one observed call (see multivec.telemetry)

    @functools.cached_property
    def _telemetry_attributes(self) -> dict[str, Any]:
        return {
            telemetry.BACKEND: self.backend_name,
            telemetry.DB_SYSTEM: "qdrant",
            telemetry.DB_COLLECTION: self.collection_name,
        }

    def _observe(self, flow: Flow[Any]) -> telemetry.Observation:
        operation = telemetry.flow_operation(flow)
        return telemetry.Observation(telemetry.recorder_of(self), "store", operation, self._telemetry_attributes)

    def _send(self, request: Any) -> Any:
        if isinstance(request, EmbedRequest):
            return embed(self.embedding, request)
        with telemetry.engine_call(request, self._telemetry_attributes) as call:
            return call.result(self._backend.execute(request))

    async def _asend(self, request: Any) -> Any:
        if isinstance(request, EmbedRequest):
            return await aembed(self.embedding, request)
        with telemetry.engine_call(request, self._telemetry_attributes) as call:
            return call.result(await self._backend.aexecute(request))

    def _run(self, flow: Flow[Any]) -> Any:
        self._check_open()
        with self._observe(flow) as operation:
            return operation.result(run_sync(flow, self._send))

    async def _arun(self, flow: Flow[Any]) -> Any:
        self._check_open()
        with self._observe(flow) as operation:
            return operation.result(await run_async(flow, self._asend))

    # -- writes -------------------------------------------------------------------------------------------------

    def _point(self, vector: np.ndarray, row: dict[str, Any], item_id: str) -> PointData:
        payload = {"id": item_id, **row}
        text = lexical_text(row)
        if text is not None:  # the lexical side of hybrid search (indexed in hybrid collections)
            payload[_LEXICAL] = text
        if not self.is_multi_vector:
            return PointData(point_id(item_id), normalize_rows(vector), None, payload)
        tokens = normalize_rows(vector)
        pooled = normalize_rows(tokens.mean(axis=0))
        if not np.any(pooled):  # the token vectors cancel out; any token is a usable first-stage key
            pooled = tokens[0]
        factor = self.pool_factor  # after the first-stage vector: that one stays the mean of all the tokens
        if factor:
            tokens = pool_tokens(tokens, factor)
        groups = self.token_pooling
        pooled_tokens = pool_groups(tokens, groups) if groups else None
        return PointData(point_id(item_id), pooled, tokens, payload, pooled_tokens)

    def _write_flow(self, vectors: Sequence[Any], rows: list[dict[str, Any]], ids: list[str], name: str) -> Flow[Any]:
        arrays = check_vectors(vectors, self.dim, self.is_multi_vector, name)
        if len(arrays) != len(ids):
            raise InvalidInputError(f"got {len(arrays)} {name} for {len(ids)} items")
        for i, row in enumerate(rows):
            check_record(row, i)
        points = [self._point(a, r, i) for a, r, i in zip(arrays, rows, ids, strict=True)]
        yield from self._tx.write(points, show_progress=self.show_progress)
        return ids

    def _add_items_flow(self, items: Sequence[Item], show_progress: bool | None = None) -> Flow[list[str]]:
        """The one ingestion flow: check every item, embed them by modality, write them at once."""
        checked = check_items(items, self.embedding)
        if not checked:
            return []
        show = self.show_progress if show_progress is None else boolean(show_progress, "show_progress")
        vectors = yield from embed_items(checked, show_progress=show)
        rows = [item.row() for item in checked]
        return (yield from self._write_flow(vectors, rows, [str(item.id) for item in checked], "embeddings"))

    def _add_texts_flow(
        self, texts: Sequence[str], metadatas: Sequence[dict[str, Any] | None] | None, ids: Sequence[str | int] | None
    ) -> Flow[list[str]]:
        if texts is None or isinstance(texts, str):
            raise InvalidInputError("texts must be a list of strings (wrap a single text in a list)")
        texts = list(texts)
        item_ids = check_ids(ids, len(texts))
        metas = check_metadatas(metadatas, len(texts))
        items = [
            Item.text(text, id=i, metadata=m, label=f"texts[{n}]")
            for n, (text, i, m) in enumerate(zip(texts, item_ids, metas, strict=True))
        ]
        return (yield from self._add_items_flow(items))

    def _add_images_flow(
        self,
        images: Sequence[ImageInput],
        metadatas: Sequence[dict[str, Any] | None] | None,
        ids: Sequence[str | int] | None,
        sources: Sequence[str | None] | None,
        pages: Sequence[int | None] | None,
    ) -> Flow[list[str]]:
        if not isinstance(self.embedding, MultiVectorMultiModalEmbedding):
            raise InvalidInputError(f"{self.embedding!r} embeds text only; use a multimodal embedder for images")
        if images is None or isinstance(images, str | bytes | Path | BytesIO | Image.Image):
            raise InvalidInputError("images must be a list (wrap a single image in a list)")
        images = list(images)
        n = len(images)
        item_ids = check_ids(ids, n)
        metas = check_metadatas(metadatas, n)
        srcs = check_optional_list(sources, n, "sources", str)
        page_numbers = check_optional_list(pages, n, "pages", int)
        items = [
            Item.image(
                images[i], id=item_ids[i], metadata=metas[i], source=srcs[i], page=page_numbers[i], label=f"images[{i}]"
            )
            for i in range(n)
        ]
        return (yield from self._add_items_flow(items))

    def _add_pdfs_flow(
        self, paths: Sequence[str | os.PathLike[str]], dpi: float, metadatas: Sequence[dict[str, Any] | None] | None
    ) -> Flow[list[str]]:
        # off the event loop: a remote embedder may ask its server whether it takes images
        with_images = yield Blocking(functools.partial(uses_images, self.embedding))
        files = yield Blocking(functools.partial(pdf.check_pdfs, paths, metadatas, dpi=dpi, with_images=with_images))
        ids: list[str] = []
        scope = self._tx.begin()  # all PDFs or none; one file's pages in memory at a time
        try:
            for file in files:
                items = yield Blocking(file.items)
                ids.extend((yield from self._add_items_flow(items)))
        except BaseException as err:
            yield from self._tx.end(scope, err)
            raise
        yield from self._tx.end(scope, None)
        return ids

    def _add_embeddings_flow(
        self, embeddings: Sequence[np.ndarray], payloads: Sequence[dict[str, Any] | None] | None, ids: Any
    ) -> Flow[list[str]]:
        if embeddings is None or isinstance(embeddings, str):
            raise InvalidInputError("embeddings must be a list of arrays")
        embeddings = list(embeddings)
        item_ids = check_ids(ids, len(embeddings))
        rows = check_payloads(payloads, len(embeddings))
        if not embeddings:
            return []
        return (yield from self._write_flow(embeddings, rows, item_ids, "embeddings"))

    def atomic(self) -> Atomic:
        """A block whose writes are all kept or all taken back: ``with store.atomic():`` / ``async with``.

        Every write call is atomic on its own (a call that raises leaves the store as it was); inside the block,
        the calls are one transaction: if the block raises, everything written in it is taken back, and the
        writes are durable once the block exits. A call that raises inside the block is taken back on its own, so
        the block may catch its error and go on. Blocks nest (an inner block is a savepoint). Writes from other
        threads or tasks are not part of the block.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     try:
        ...         with store.atomic():
        ...             _ = store.add_texts(["one"], ids=["1"])
        ...             raise KeyboardInterrupt
        ...     except KeyboardInterrupt:
        ...         pass
        ...     store.count()
        0
        """
        return Atomic(self)

    def add_items(self, items: Sequence[Item], *, show_progress: bool | None = None) -> list[str]:
        """Embed and store :class:`~multivec.items.Item` objects (texts and images, in any order); returns their ids.

        The path every other ``add_*`` method, the LangChain and LlamaIndex stores and ``multivec index`` take:
        every item is checked, then embedded by modality, then all are written at once; a call that raises
        (a bad item, an image the embedder cannot read) stores nothing and names the item. ``show_progress``:
        progress bars for this call (default: the store's ``show_progress``).

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     store.add_items([Item.text("Wing flutter", id="a", metadata={"year": 1952})])
        ['a']
        """
        return self._run(self._add_items_flow(items, show_progress))

    async def aadd_items(self, items: Sequence[Item], *, show_progress: bool | None = None) -> list[str]:
        """Async twin of :meth:`add_items` (texts and images are embedded concurrently)."""
        return await self._arun(self._add_items_flow(items, show_progress))

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[str]:
        """Embed and store texts; returns their ids (as ``str``; new uuid4 strings when ``ids`` is None).

        Upsert: an existing id is replaced. Everything (texts, ids, metadata, the embeddings) is validated before
        the first write, so a failing call stores nothing. Metadata must be plain JSON (dict with str keys).

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     store.add_texts(["a text"], metadatas=[{"lang": "en"}], ids=["t1"])
        ['t1']
        """
        return self._run(self._add_texts_flow(texts, metadatas, ids))

    async def aadd_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_texts`."""
        return await self._arun(self._add_texts_flow(texts, metadatas, ids))

    def add_images(
        self,
        images: Sequence[ImageInput],
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
        sources: Sequence[str | None] | None = None,
        pages: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Embed and store images (needs a multimodal embedder); returns their ids.

        Pixels are not stored: ``source`` is ``sources[i]``, else the image's file path (``str``/``Path`` input, or
        a PIL image opened from a file), else ``None``; ``content`` is the source, else the id. ``pages`` records
        page numbers (PDF pages).

        >>> from PIL import Image
        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     ids = store.add_images([Image.new("RGB", (8, 8), "red")], ids=["img"], sources=["red.png"])
        ...     store.get(ids)[0].source
        'red.png'
        """
        return self._run(self._add_images_flow(images, metadatas, ids, sources, pages))

    async def aadd_images(
        self,
        images: Sequence[ImageInput],
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
        sources: Sequence[str | None] | None = None,
        pages: Sequence[int | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_images`."""
        return await self._arun(self._add_images_flow(images, metadatas, ids, sources, pages))

    def add_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        dpi: float = 150,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add every page of every PDF as one document; returns the page ids, in order.

        Multimodal embedders index each page rendered at ``dpi`` (pypdfium2; ``modality="image"``, ``content`` =
        the file path, the text layer kept in ``metadata["page_text"]``, the resolution in ``metadata["page_dpi"]``
        so that explanations and rerankers re-render the page as it was embedded); text-only embedders index each
        page's text layer (``modality="text"``; pages without text are skipped with a warning). Every record has
        ``source`` (the path) and ``page`` (1-based). ``metadatas`` gives one dict per PDF, copied to each of its
        pages. Ids are content-derived (:func:`multivec.pdf.page_id`): adding the same file again replaces its
        pages.

        Every file is opened and checked first: an encrypted, corrupt or missing file (or, for a text-only
        embedder, one without any text layer) raises :class:`~multivec.errors.InvalidInputError` naming it, and
        nothing is written. Files are then rendered, embedded and written one at a time (memory holds one file's
        pages) in one transaction: if a later file fails, the pages of the earlier ones are taken back too.
        Needs the ``pdf`` extra.

        >>> import tempfile, pathlib
        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> from multivec.testing import write_text_pdf
        >>> path = write_text_pdf(pathlib.Path(tempfile.mkdtemp()) / "a.pdf", ["Wing flutter", "Shock waves"])
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
        ...     ids = store.add_pdfs([path], dpi=50)
        ...     sorted((hit.source == str(path), hit.page) for hit in store.search("anything", k=2))
        [(True, 1), (True, 2)]
        """
        return self._run(self._add_pdfs_flow(paths, dpi, metadatas))

    async def aadd_pdfs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        dpi: float = 150,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_pdfs`: files are read and rendered in a worker thread."""
        return await self._arun(self._add_pdfs_flow(paths, dpi, metadatas))

    def add_embeddings(
        self,
        embeddings: Sequence[np.ndarray],
        payloads: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[str]:
        """Store precomputed embeddings: ``(n_tokens, dim)`` arrays (``(dim,)`` for single-vector stores).

        ``payloads[i]`` may hold ``content``, ``metadata``, ``modality`` (``"text"`` default, or ``"image"``),
        ``source`` and ``page``; other keys raise :class:`~multivec.errors.InvalidInputError`.

        >>> import numpy as np
        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=4)) as store:
        ...     store.add_embeddings([np.eye(2, 4, dtype=np.float32)], [{"content": "x"}], ids=["v"])
        ['v']
        """
        return self._run(self._add_embeddings_flow(embeddings, payloads, ids))

    async def aadd_embeddings(
        self,
        embeddings: Sequence[np.ndarray],
        payloads: Sequence[dict[str, Any] | None] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[str]:
        """Async twin of :meth:`add_embeddings`."""
        return await self._arun(self._add_embeddings_flow(embeddings, payloads, ids))

    # -- search -------------------------------------------------------------------------------------------------

    def _query_vectors(self, query: QueryLike) -> Flow[np.ndarray]:
        if isinstance(query, np.ndarray):
            vectors = query
            if self.is_multi_vector and query.ndim == 1:
                vectors = query.reshape(1, -1)
        elif isinstance(query, str):
            if not query.strip():
                raise InvalidInputError("query is an empty string; pass text, an image or a query multi-vector")
            vectors = yield EmbedQuery(query)
        elif isinstance(query, Path | bytes | BytesIO | Image.Image):
            if not isinstance(self.embedding, MultiVectorMultiModalEmbedding):
                raise InvalidInputError(f"{self.embedding!r} embeds text only; image queries need a multimodal one")
            vectors = yield EmbedImageQuery(query)
        else:
            raise InvalidInputError(
                f"query is {type(query).__name__}; pass a str (text), an image (Path, bytes, BytesIO, PIL image) "
                "or a numpy array (precomputed query vectors)"
            )
        return normalize_rows(check_vector(vectors, self.dim, self.is_multi_vector, "query", None))

    def _search_flow(
        self,
        query: QueryLike,
        k: int,
        filter: FilterLike,
        exact: bool,
        prefetch_limit: int | None,
        score_threshold: float | None,
        with_dense: bool = False,
        pooled_keep: int | None = None,
    ) -> Flow[tuple[list[ScoredPayload], int]]:
        op, n_query_tokens = yield from self._search_op(
            query, k, filter, exact, prefetch_limit, score_threshold, with_dense, pooled_keep
        )
        results = yield op
        return results, n_query_tokens

    def _search_op(
        self,
        query: QueryLike,
        k: int,
        filter: FilterLike,
        exact: bool,
        prefetch_limit: int | None,
        score_threshold: float | None,
        with_dense: bool = False,
        pooled_keep: int | None = None,
    ) -> Flow[tuple[Query, int]]:
        positive_int(k, "k", InvalidInputError)
        limit = self.prefetch_limit if prefetch_limit is None else positive_int(prefetch_limit, "prefetch_limit")
        if score_threshold is not None:
            score_threshold = number(score_threshold, "score_threshold", error=InvalidInputError)
        boolean(exact, "exact", InvalidInputError)
        compiled = compile_filter(filter)
        vectors = yield from self._query_vectors(query)
        if self.is_multi_vector:
            n_query_tokens = int(vectors.shape[0])
            pooled = normalize_rows(vectors.mean(axis=0))
            keep = self.pooled_limit if pooled_keep is None else pooled_keep
            pooled_limit = max(keep, k) if self.token_pooling and not exact else None
            op = Query(
                dense=pooled if np.any(pooled) else vectors[0],
                multivector=vectors,
                limit=k,
                prefetch_limit=None if exact else max(limit, k, pooled_limit or 0),
                filter=compiled,
                score_threshold=score_threshold,
                exact=exact,
                with_dense=with_dense,
                pooled_limit=pooled_limit,
            )
        else:
            n_query_tokens = 1
            op = Query(vectors, None, k, None, compiled, score_threshold, exact, with_dense)
        return op, n_query_tokens

    @staticmethod
    def _hit(result: ScoredPayload, n_query_tokens: int) -> Hit:
        record = _record(result.payload)
        return Hit(**record.__dict__, score=result.score, relevance=relevance(result.score, n_query_tokens))

    def _hits_flow(self, *args: Any, mode: str = "maxsim", **hybrid: Any) -> Flow[list[Hit]]:
        if check_mode(mode) == "hybrid":
            return (yield from hybrid_flow(self, *args, **hybrid))
        if any(value is not None for value in hybrid.values()):
            named = ", ".join(f"{name}=" for name, value in hybrid.items() if value is not None)
            raise InvalidInputError(f"{named} apply to mode='hybrid' only (this search is mode='maxsim')")
        results, n = yield from self._search_flow(*args)
        return [self._hit(r, n) for r in results]

    def search(
        self,
        query: QueryLike,
        k: int = 4,
        *,
        filter: FilterLike = None,
        exact: bool = False,
        prefetch_limit: int | None = None,
        score_threshold: float | None = None,
        mode: str = "maxsim",
        lexical_query: str | None = None,
        hybrid_fusion: str | None = None,
        hybrid_weight: float | None = None,
        hybrid_limit: int | None = None,
    ) -> list[Hit]:
        """The ``k`` best items for ``query``, best first.

        ``query``: a ``str`` (embedded with ``embed_query``), an image (``Path``, ``bytes``, ``BytesIO``, PIL image;
        multimodal embedders) or a numpy array of query vectors ``(n_tokens, dim)``. ``filter``: the dict language
        of :mod:`multivec.store.filters` or a ``qdrant_client.models.Filter``; it applies to both stages.
        ``exact=True`` scores every (matching) item by MaxSim instead of reranking ``prefetch_limit`` pooled-vector
        candidates. ``k`` larger than the collection returns everything; ``k <= 0`` raises
        :class:`~multivec.errors.InvalidInputError`. ``score_threshold`` drops hits whose raw score is lower.

        ``mode="hybrid"`` fuses a BM25 ranking of the stored text with the MaxSim ranking in one engine request
        (:mod:`multivec.store.hybrid`, ``docs/hybrid.md``): ``lexical_query`` is the text for the lexical side (default:
        ``query`` when it is a ``str``; needed for image and array queries), ``hybrid_fusion``, ``hybrid_weight``
        and ``hybrid_limit`` override the store's defaults for this call, the filter applies to both sides, and
        each hit's ``hybrid`` holds the parts of its score (``score`` is the fused one, ``score_threshold`` applies
        to it). A collection without a lexical index raises :class:`~multivec.store.hybrid.HybridNotEnabledError`
        naming :meth:`enable_hybrid`. Image pages take part through their PDF text layer; items without text are
        found by MaxSim only.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16)) as store:
        ...     _ = store.add_texts(["red apples", "blue cars", "red cars"], metadatas=[{"c": "r"}, {}, {"c": "r"}])
        ...     [h.content for h in store.search("cars", k=1, filter={"c": "r"}, exact=True)]
        ['red cars']
        """
        return self._run(
            self._hits_flow(
                query,
                k,
                filter,
                exact,
                prefetch_limit,
                score_threshold,
                mode=mode,
                lexical_query=lexical_query,
                hybrid_fusion=hybrid_fusion,
                hybrid_weight=hybrid_weight,
                hybrid_limit=hybrid_limit,
            )
        )

    async def asearch(
        self,
        query: QueryLike,
        k: int = 4,
        *,
        filter: FilterLike = None,
        exact: bool = False,
        prefetch_limit: int | None = None,
        score_threshold: float | None = None,
        mode: str = "maxsim",
        lexical_query: str | None = None,
        hybrid_fusion: str | None = None,
        hybrid_weight: float | None = None,
        hybrid_limit: int | None = None,
    ) -> list[Hit]:
        """Async twin of :meth:`search`."""
        return await self._arun(
            self._hits_flow(
                query,
                k,
                filter,
                exact,
                prefetch_limit,
                score_threshold,
                mode=mode,
                lexical_query=lexical_query,
                hybrid_fusion=hybrid_fusion,
                hybrid_weight=hybrid_weight,
                hybrid_limit=hybrid_limit,
            )
        )

    def _mmr_flow(self, query: QueryLike, k: int, fetch_k: int, lambda_mult: float, filter: FilterLike) -> Flow[Any]:
        positive_int(k, "k", InvalidInputError)
        positive_int(fetch_k, "fetch_k", InvalidInputError)
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, int | float) or not 0 <= lambda_mult <= 1:
            raise InvalidInputError(f"lambda_mult must be a number in [0, 1], got {lambda_mult!r}")
        results, n = yield from self._search_flow(query, max(fetch_k, k), filter, False, None, None, True)
        if not results:
            return []
        rel = np.array([r.score / n for r in results])
        vectors = normalize_rows(np.stack([r.dense for r in results if r.dense is not None]))
        return [self._hit(results[i], n) for i in mmr_select(rel, vectors, k, float(lambda_mult))]

    def mmr_search(
        self,
        query: QueryLike,
        k: int = 4,
        *,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: FilterLike = None,
    ) -> list[Hit]:
        """``k`` hits chosen for relevance and diversity (maximal marginal relevance).

        The ``fetch_k`` best items by MaxSim (two-stage search) are the candidates; each step picks the one
        maximising ``lambda_mult * relevance - (1 - lambda_mult) * redundancy`` where relevance is the mean best
        cosine per query token and redundancy the highest cosine between its pooled vector and those already
        picked (see :mod:`multivec.store.mmr`). ``lambda_mult=1`` is plain relevance order.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=32)) as store:
        ...     _ = store.add_texts(["red apples", "red apples", "red cars"])
        ...     [h.content for h in store.mmr_search("red apples", k=2, lambda_mult=0.3)]
        ['red apples', 'red cars']
        """
        return self._run(self._mmr_flow(query, k, fetch_k, lambda_mult, filter))

    async def ammr_search(
        self,
        query: QueryLike,
        k: int = 4,
        *,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: FilterLike = None,
    ) -> list[Hit]:
        """Async twin of :meth:`mmr_search`."""
        return await self._arun(self._mmr_flow(query, k, fetch_k, lambda_mult, filter))

    # -- reads and deletes ----------------------------------------------------------------------------------------

    @staticmethod
    def _check_lookup_ids(ids: Any) -> list[str]:
        if ids is None or isinstance(ids, str | bytes | int | dict) or not isinstance(ids, Iterable):
            raise InvalidInputError("ids must be a list of str/int ids (wrap a single id in a list)")
        out = []
        for i, item in enumerate(ids):
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise InvalidInputError(f"ids[{i}] is {type(item).__name__}; ids are str or int", index=i)
            out.append(check_text(str(item), f"ids[{i}]", i))
        return out

    def _get_flow(self, ids: Sequence[str | int]) -> Flow[list[Record]]:
        wanted = self._check_lookup_ids(ids)
        if not wanted:
            return []
        payloads = yield Retrieve(sorted({point_id(i) for i in wanted}))
        found = {str(p.get("id")): _record(p) for p in payloads}
        return [found[i] for i in wanted if i in found]

    def get(self, ids: Sequence[str | int]) -> list[Record]:
        """The records with these ids, in the order given; missing ids are skipped.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_texts(["one", "two"], ids=["1", "2"])
        ...     [r.content for r in store.get(["2", "missing", "1"])]
        ['two', 'one']
        """
        return self._run(self._get_flow(ids))

    async def aget(self, ids: Sequence[str | int]) -> list[Record]:
        """Async twin of :meth:`get`."""
        return await self._arun(self._get_flow(ids))

    def _get_vectors_flow(self, ids: Sequence[str | int]) -> Flow[list[np.ndarray]]:
        wanted = self._check_lookup_ids(ids)
        if not wanted:
            return []
        using = MULTIVECTOR if self.is_multi_vector else DENSE
        points = yield RetrieveVectors(sorted({point_id(i) for i in wanted}), using)
        found = {str(payload.get("id")): vector for payload, vector in points}
        return [found[i] for i in wanted if i in found]

    def get_vectors(self, ids: Sequence[str | int]) -> list[np.ndarray]:
        """The stored vectors of these ids, in the order given; missing ids are skipped.

        Multi-vector stores return each item's token vectors ``(n_tokens, dim)`` as stored (L2-normalised rows;
        rounded to float16 precision in a float16 collection), single-vector stores its ``(dim,)`` vector. MaxSim
        of a query against them is the score :meth:`search` reports (see :func:`multivec.explain.explain`).

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_texts(["red apples", "cars"], ids=["1", "2"])
        ...     [v.shape for v in store.get_vectors(["2", "missing", "1"])]
        [(1, 8), (2, 8)]
        """
        return self._run(self._get_vectors_flow(ids))

    async def aget_vectors(self, ids: Sequence[str | int]) -> list[np.ndarray]:
        """Async twin of :meth:`get_vectors`."""
        return await self._arun(self._get_vectors_flow(ids))

    def _scroll_flow(self, filter: FilterLike, limit: int | None) -> Flow[list[Record]]:
        if limit is not None:
            positive_int(limit, "limit", InvalidInputError)
        payloads = yield Scroll(compile_filter(filter), limit)
        return [_record(p) for p in payloads]

    def scroll(self, filter: FilterLike = None, limit: int | None = None) -> list[Record]:
        """Every record matching ``filter`` (at most ``limit``), in storage order (by point id, not insertion)."""
        return self._run(self._scroll_flow(filter, limit))

    async def ascroll(self, filter: FilterLike = None, limit: int | None = None) -> list[Record]:
        """Async twin of :meth:`scroll`."""
        return await self._arun(self._scroll_flow(filter, limit))

    def _delete_flow(self, ids: Sequence[str | int] | None, filter: FilterLike) -> Flow[None]:
        if ids is None and filter is None:
            raise InvalidInputError("delete() needs ids= and/or filter=; use clear() to delete everything")
        point_ids = None if ids is None else [point_id(i) for i in self._check_lookup_ids(ids)]
        compiled = compile_filter(filter)
        if point_ids is not None and not point_ids:
            return None
        if point_ids is None and compiled is None:
            raise InvalidInputError("delete() got an empty filter; use clear() to delete everything")
        yield from self._tx.change(Delete(point_ids, compiled))
        return None

    def delete(self, ids: Sequence[str | int] | None = None, filter: FilterLike = None) -> None:
        """Delete by ids, by filter, or both (the given ids that match the filter). Missing ids are ignored."""
        self._run(self._delete_flow(ids, filter))

    async def adelete(self, ids: Sequence[str | int] | None = None, filter: FilterLike = None) -> None:
        """Async twin of :meth:`delete`."""
        await self._arun(self._delete_flow(ids, filter))

    def clear(self) -> None:
        """Delete every item; the collection, its settings and payload indexes stay."""
        self._run(self._tx.change(Clear()))

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await self._arun(self._tx.change(Clear()))

    def _count_flow(self, filter: FilterLike) -> Flow[int]:
        return (yield Count(compile_filter(filter)))

    def count(self, filter: FilterLike = None) -> int:
        """Number of items (matching ``filter``)."""
        return self._run(self._count_flow(filter))

    async def acount(self, filter: FilterLike = None) -> int:
        """Async twin of :meth:`count`."""
        return await self._arun(self._count_flow(filter))

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def optimize(self) -> None:
        """Merge segments and build the first-stage index now (embedded store; a no-op on qdrant-client).

        The embedded store also does this on its own after ``optimize_threshold`` new points, and seals its write
        segment every ``segment_mb`` MB of vectors so that searches run on all search threads. Call it after a bulk
        load to index the last, partly filled segment.
        """
        self._check_open()
        self._backend.optimize()

    def close(self) -> None:
        """Flush and release the store (an embedded temporary store is deleted). Idempotent."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if not self._closed:
            self._closed = True
            await self._backend.aclose()

    # -- tuning -------------------------------------------------------------------------------------------------

    def _apply_tuning(self, result: TuningResult) -> TuningResult:
        save_tuning(self._backend, result)
        self._tuning = result
        self.prefetch_limit = result.prefetch_limit
        if result.pooled_limit is not None:
            self.pooled_limit = result.pooled_limit
        return result

    def tune(
        self,
        target_recall: float = DEFAULT_TARGET_RECALL,
        queries: Sequence[QueryLike] | None = None,
        sample: int = 200,
        k: int = 10,
        *,
        seed: int = 0,
    ) -> TuningResult:
        """Set the smallest ``prefetch_limit`` (and ``pooled_limit`` with ``token_pooling``) whose search keeps
        ``target_recall`` of the exact top ``k``, and save it with the store.

        Recall@k of the default (staged) search against ``exact=True`` is measured on ``queries`` (texts, images
        or query arrays) or, when ``None``, on pseudo-queries made of 8-32 token vectors of up to ``sample``
        stored documents (seeded by ``seed``: the same store gives the same result). The limits apply to this
        store at once and to later opens that do not pass their own; :attr:`tuning` holds the result. How it
        searches: :mod:`multivec.store.tuning`; the command line has it as ``multivec tune --store DIR``.

        Raises :class:`~multivec.errors.InvalidInputError` for bad arguments or an empty store and
        :class:`~multivec.errors.ConfigurationError` for a single-vector store (it has no prefetch stage).

        >>> import numpy as np
        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> rng = np.random.default_rng(0)
        >>> docs = [rng.standard_normal((6, 8)).astype(np.float32) for _ in range(100)]
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_embeddings(docs)
        ...     result = store.tune(target_recall=0.9, sample=20, k=5)
        ...     result.met, store.prefetch_limit == result.prefetch_limit == store.tuning.prefetch_limit
        (True, True)
        """
        result = self._run(tune_flow(self, target_recall, queries, sample, k, seed))
        return self._apply_tuning(result)

    async def atune(
        self,
        target_recall: float = DEFAULT_TARGET_RECALL,
        queries: Sequence[QueryLike] | None = None,
        sample: int = 200,
        k: int = 10,
        *,
        seed: int = 0,
    ) -> TuningResult:
        """Async twin of :meth:`tune` (the settings are saved on a worker thread)."""
        import asyncio

        result = await self._arun(tune_flow(self, target_recall, queries, sample, k, seed))
        return await asyncio.to_thread(self._apply_tuning, result)

    # -- verification -------------------------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check the store end to end and report what is wrong; ``report.ok`` is True when nothing is.

        Reads every record back: its id and point id, each of its vectors (readable, the collection's dimension,
        finite, normalised), and on the embedded store the store's own files (``multivec.json`` unchanged, the
        record count the last acknowledged write left). Run it while nothing writes to the store. The command line
        has it as ``multivec verify --store DIR``. See :mod:`multivec.store.integrity`.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_texts(["one", "two"])
        ...     report = store.verify()
        ...     report.ok, report.records, report.problems
        (True, 2, [])
        """
        from multivec.store.integrity import verify

        self._check_open()
        return verify(self._backend)

    async def averify(self) -> VerifyReport:
        """Async twin of :meth:`verify` (it runs on a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.verify)

    # -- statistics ---------------------------------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """What the store holds, how it is set up and how its operations went: a :class:`~multivec.store.stats.StoreStats`.

        Records, segments, disk bytes by component and a RAM estimate (embedded store), datatype, pooling and
        search limits (tuned ones included), the embedding cache's hits and misses, and per method the calls,
        items, errors by type and p50/p95 latency of the last calls (see :mod:`multivec.telemetry`). The command
        line has it as ``multivec stats --store DIR``; ``.as_dict()`` gives it as JSON-ready data.

        >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        >>> with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8)) as store:
        ...     _ = store.add_texts(["one", "two"])
        ...     s = store.stats()
        >>> s.records, s.operations["add_texts"].items, s.prefetch_limit
        (2, 2, 100)
        """
        from multivec.store.stats import store_stats

        self._check_open()
        return store_stats(self)

    async def astats(self) -> StoreStats:
        """Async twin of :meth:`stats` (it runs on a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.stats)
