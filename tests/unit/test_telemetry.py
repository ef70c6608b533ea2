"""OpenTelemetry spans and metrics, exported through the SDK's in-memory exporter and reader.

Store writes and searches on both backends (sync and async), embedder calls (with the cache, with Infinity's
retries against a fault server), a LangChain retriever ``invoke`` and a LlamaIndex query engine, each through its
own machinery: the spans nest under the caller's, carry the documented attributes, and nothing exported holds
content, vectors, ids, metadata, filters or secrets. Errors are recorded by type, never by message.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from multivec import telemetry
from multivec.embeddings import CachedEmbeddings, DeterministicFakeMultiVectorEmbedding
from multivec.errors import EmbeddingError, InvalidInputError
from multivec.store import MultiVectorStore
from multivec.types import Embedding
from tests.support.fault_server import FaultServer, Reply

#: Strings that must never reach an exporter: content, ids, metadata and filter values, a key.
SECRETS = ("zebra-content", "quokka-query", "id-private-7", "owner-private", "sk-private-key")
TEXTS = ["zebra-content one red apples", "zebra-content two blue cars", "zebra-content three green pears"]
IDS = ["id-private-7", "id-private-8", "id-private-9"]
METADATA = [{"owner": "owner-private", "n": i} for i in range(3)]


@dataclass
class Otel:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        (span,) = self.spans(name)
        return span

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                found += [p for m in scope.metrics if m.name == metric for p in m.data.data_points]
        return found

    def total(self, metric: str, **labels: Any) -> float:
        wanted = {f"multivec.{k}": v for k, v in labels.items()}
        points = [p for p in self.points(metric) if wanted.items() <= dict(p.attributes).items()]
        return float(sum(p.count if hasattr(p, "count") else p.value for p in points))  # histograms: calls

    def exported(self) -> str:
        """Everything exported so far, as text (spans with their events and status, then the metrics)."""
        spans = "\n".join(s.to_json() for s in self.spans())
        data = self.reader.get_metrics_data()
        return spans + "\n" + (data.to_json() if data else "")


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.configure(tracer_provider, meter_provider)
    yield Otel(exporter, reader, tracer_provider)
    telemetry.configure()
    tracer_provider.shutdown()
    meter_provider.shutdown()


def open_store(backend: str, tmp_path: Path, embedding: Any = None) -> MultiVectorStore:
    embedding = embedding or DeterministicFakeMultiVectorEmbedding(dim=16)
    if backend == "edge":
        return MultiVectorStore(embedding, "docs", path=tmp_path / "db")
    return MultiVectorStore(embedding, "docs", location=":memory:")


def assert_clean(otel: Otel) -> None:
    """No secret string in anything exported, and every attribute a scalar (no vector, no list)."""
    text = otel.exported()
    for secret in SECRETS:
        assert secret not in text
    for span in otel.spans():
        for key, value in dict(span.attributes or {}).items():
            assert isinstance(value, str | int | float | bool), (span.name, key, value)
        assert not span.events  # no exception events (their messages may quote content)
        assert span.status.description is None


# -- the store ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_a_write_and_a_search_make_nested_spans_and_metrics_without_content(
    otel: Otel, backend: str, tmp_path: Path
) -> None:
    with open_store(backend, tmp_path) as store:
        store.add_texts(TEXTS, metadatas=METADATA, ids=IDS)
        hits = store.search("quokka-query red apples", k=2, filter={"owner": "owner-private"})
        store.search(np.ones((3, 16), np.float32), k=1)
    assert len(hits) == 2

    add = otel.span("multivec.store.add_texts")
    attributes = dict(add.attributes or {})
    assert attributes["multivec.component"] == "store" and attributes["multivec.operation"] == "add_texts"
    assert attributes["multivec.backend"] == backend and attributes["db.collection.name"] == "docs"
    assert attributes["db.system.name"] == "qdrant"
    tokens = sum(len(DeterministicFakeMultiVectorEmbedding._tokens(t)) for t in TEXTS)  # one vector per word
    assert (attributes["multivec.items"], attributes["multivec.tokens"]) == (3, tokens)
    assert attributes["multivec.bytes"] == (tokens + 3) * 16 * 4  # token vectors plus one pooled vector each
    embed = otel.span("multivec.embed.documents")
    upsert = otel.span("multivec.engine.upsert")
    for child in (embed, upsert):
        assert child.parent is not None and child.parent.span_id == add.context.span_id
    assert dict(embed.attributes or {})["multivec.embedder"] == "DeterministicFakeMultiVectorEmbedding"
    assert dict(embed.attributes or {})["multivec.items"] == 3
    assert dict(upsert.attributes or {})["db.operation.name"] == "upsert"

    first, second = otel.spans("multivec.store.search")
    assert dict(first.attributes or {})["multivec.items"] == 2
    assert dict(first.attributes or {})["multivec.tokens"] == 4  # the query's words (quokka, query, red, apples)
    assert dict(second.attributes or {})["multivec.tokens"] == 3  # a precomputed (3, 16) query
    (query_embed,) = otel.spans("multivec.embed.query")  # the array query needed no model
    assert query_embed.parent is not None and query_embed.parent.span_id == first.context.span_id
    engine = [s for s in otel.spans("multivec.engine.query") if s.parent and s.parent.span_id == first.context.span_id]
    (engine_query,) = engine
    query_attributes = dict(engine_query.attributes or {})
    assert query_attributes["multivec.search.limit"] == 2
    assert query_attributes["multivec.search.prefetch_limit"] == store.prefetch_limit
    assert query_attributes["multivec.search.filtered"] is True and query_attributes["multivec.search.exact"] is False

    assert otel.total("multivec.operation.duration", component="store", operation="search", backend=backend) == 2
    assert otel.total("multivec.operation.items", component="store", operation="add_texts") == 3
    assert otel.total("multivec.operation.tokens", component="embed", operation="documents") == tokens
    assert otel.total("multivec.operation.duration", component="engine", operation="query") == 2
    assert_clean(otel)


def test_async_calls_take_the_same_path(otel: Otel, tmp_path: Path) -> None:
    async def main() -> None:
        async with open_store("edge", tmp_path) as store:
            await store.aadd_texts(TEXTS, ids=IDS)
            await store.asearch("quokka-query blue cars", k=1)

    asyncio.run(main())
    search = otel.span("multivec.store.search")
    for name in ("multivec.embed.query", "multivec.engine.query"):
        child = otel.span(name)
        assert child.parent is not None and child.parent.span_id == search.context.span_id
    assert dict(otel.span("multivec.store.add_texts").attributes or {})["multivec.items"] == 3
    assert_clean(otel)


class Choking(DeterministicFakeMultiVectorEmbedding):
    """Fails on queries with a message that quotes the query (as real model errors may)."""

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        if is_query:
            raise EmbeddingError(f"the model choked on {texts[0]!r}")
        return super()._embed_texts(texts, is_query=is_query)


def test_errors_are_recorded_by_type_never_by_message(otel: Otel, tmp_path: Path) -> None:
    with open_store("edge", tmp_path, Choking(dim=16)) as store:
        store.add_texts(TEXTS, ids=IDS)
        with pytest.raises(EmbeddingError, match="quokka-query"):
            store.search("quokka-query", k=1)
        with pytest.raises(InvalidInputError):
            store.search(np.ones((1, 16), np.float32), k=0)
        stats = store.stats().operations["search"]
    assert (stats.calls, stats.errors) == (2, 2)
    assert stats.errors_by_type == {"EmbeddingError": 1, "InvalidInputError": 1}

    embed = otel.span("multivec.embed.query")
    assert embed.status.status_code is StatusCode.ERROR
    assert dict(embed.attributes or {})["error.type"] == "EmbeddingError"
    failed = otel.spans("multivec.store.search")
    assert [dict(s.attributes or {})["error.type"] for s in failed] == ["EmbeddingError", "InvalidInputError"]
    assert all(s.status.status_code is StatusCode.ERROR for s in failed)
    assert otel.total("multivec.operation.errors", component="store", operation="search") == 2
    assert otel.total("multivec.operation.errors", component="embed", operation="query") == 1
    assert_clean(otel)


# -- embedders ---------------------------------------------------------------------------------------------------


def test_a_cached_embedder_counts_its_calls_and_hits(otel: Otel) -> None:
    emb = CachedEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=8))
    emb.embed_documents(TEXTS)
    emb.embed_documents(TEXTS[:2])
    stats = emb.stats()
    assert (stats.calls, stats.items, stats.embedder) == (2, 5, "CachedMultiModalEmbeddings")  # the fake is multimodal
    assert stats.cache is not None and (stats.cache.hits, stats.cache.misses) == (2, 3)
    spans = otel.spans("multivec.embed.documents")
    assert [dict(s.attributes or {})["multivec.items"] for s in spans] == [3, 2]
    assert_clean(otel)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_infinity_retries_are_counted_on_the_call_that_made_them(otel: Otel, mode: str) -> None:
    from multivec.embeddings.infinity import InfinityEmbeddings

    with FaultServer(dim=8) as server:
        address = server.url.split("//")[1]
        server.script("/embeddings", Reply(503, b"upstream unavailable"))
        emb = InfinityEmbeddings(
            url=server.url,
            model_name="fake-model",
            api_key="sk-private-key",
            hidden_dim=8,
            check_model=False,
            backoff_initial=0.01,
            backoff_max=0.02,
        )
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("app"):
            if mode == "sync":
                emb.embed_documents(["zebra-content"])
            else:
                asyncio.run(emb.aembed_documents(["zebra-content"]))
        emb.close()
        assert server.count("/embeddings") == 2
    span = otel.span("multivec.embed.documents")
    assert dict(span.attributes or {})["multivec.retries"] == 1
    assert span.parent is not None and span.parent.span_id == otel.span("app").context.span_id
    assert emb.stats().retries == 1 and emb.stats().operations["documents"].retries == 1
    assert otel.total("multivec.operation.retries", component="embed", operation="documents") == 1
    assert address not in otel.exported()  # no URL either
    assert_clean(otel)


# -- through the frameworks' own machinery ---------------------------------------------------------------------


def test_a_langchain_retriever_invoke_is_traced_under_the_callers_span(otel: Otel, tmp_path: Path) -> None:
    from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore

    embeddings = MultiVectorEmbeddings(DeterministicFakeMultiVectorEmbedding(dim=16))
    with QdrantMultiVectorStore(embeddings, path=str(tmp_path / "lc")) as store:
        store.add_texts(TEXTS, metadatas=METADATA, ids=IDS)
        retriever = store.as_retriever(search_kwargs={"k": 2})
        with otel.tracer_provider.get_tracer("app").start_as_current_span("rag"):
            documents = retriever.invoke("quokka-query blue cars")
    assert len(documents) == 2 and "blue cars" in documents[0].page_content
    rag = otel.span("rag")
    search = otel.span("multivec.store.search")
    assert search.parent is not None and search.parent.span_id == rag.context.span_id
    assert search.context.trace_id == rag.context.trace_id
    assert dict(search.attributes or {})["multivec.items"] == 2
    embed = otel.span("multivec.embed.query")
    assert embed.parent is not None and embed.parent.span_id == search.context.span_id
    assert_clean(otel)


def test_a_llama_index_query_is_traced_under_the_callers_span(otel: Otel) -> None:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import Document

    from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore

    fake = DeterministicFakeMultiVectorEmbedding(dim=16)
    vector_store = QdrantMultiVectorStore(fake, location=":memory:")
    documents = [Document(id_=i, text=t, metadata=m) for i, t, m in zip(IDS, TEXTS, METADATA, strict=True)]
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=MultiVectorEmbedding(fake),
    )
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)
    with otel.tracer_provider.get_tracer("app").start_as_current_span("question"):
        response = engine.query("quokka-query green pears")
    vector_store.close()
    assert "green pears" in response.source_nodes[0].node.get_content()
    question = otel.span("question")
    (search,) = [s for s in otel.spans("multivec.store.search") if s.context.trace_id == question.context.trace_id]
    assert dict(search.attributes or {})["multivec.backend"] == "memory"
    assert dict(search.attributes or {})["multivec.items"] == 1
    assert otel.spans("multivec.store.add_items")
    assert_clean(otel)


# -- nothing listening -------------------------------------------------------------------------------------------


def test_without_a_provider_nothing_is_sent_and_stats_still_count(tmp_path: Path) -> None:
    assert not telemetry.is_listening()
    exporter = InMemorySpanExporter()  # made but never configured: it must stay empty
    with open_store("edge", tmp_path) as store:
        store.add_texts(TEXTS)
        store.search("red apples", k=1)
        assert store.stats().operations["search"].calls == 1
    assert exporter.get_finished_spans() == ()


def test_a_global_provider_is_picked_up_and_until_then_nothing_is_traced(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, time
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from multivec import telemetry
        from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
        from multivec.store import MultiVectorStore

        store = MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path={str(tmp_path)!r})
        store.add_texts(["before the provider"])
        before = telemetry.is_listening()
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        time.sleep(telemetry._CHECK_INTERVAL)  # a provider set after the first call is looked for again
        store.search("red", k=1)
        store.close()
        names = sorted(s.name for s in exporter.get_finished_spans())
        print(json.dumps({{"before": before, "after": telemetry.is_listening(), "names": names}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] is False and result["after"] is True
    assert result["names"] == ["multivec.embed.query", "multivec.engine.query", "multivec.store.search"]


# -- the recorder ------------------------------------------------------------------------------------------------


def test_recorder_percentiles_window_and_copies() -> None:
    recorder = telemetry.Recorder(window=100)
    for ms in range(1, 201):  # only the last 100 (101..200 ms) stay in the window
        recorder.record("search", ms / 1000, items=2, tokens=3, nbytes=4)
    recorder.record("search", 0.5, error="StoreError")
    stats = recorder.snapshot()["search"]
    assert (stats.calls, stats.items, stats.tokens, stats.bytes, stats.errors) == (201, 400, 600, 800, 1)
    assert stats.window == 100 and stats.errors_by_type == {"StoreError": 1}
    assert stats.p50_ms == pytest.approx(151) and stats.p95_ms == pytest.approx(196)
    assert stats.max_ms == pytest.approx(500)
    assert json.loads(json.dumps(stats.as_dict()))["p50_ms"] == pytest.approx(151)
    clone = copy.deepcopy(recorder)  # copies (and pickles) of stores and embedders start afresh
    assert clone.snapshot() == {} and clone.window == 100


def test_embedder_stats_count_calls_items_and_tokens_per_operation() -> None:
    emb = DeterministicFakeMultiVectorEmbedding(dim=8, grid=2, embed_batch_size=2)
    emb.embed_documents_batch(TEXTS)  # two chunks: two model calls
    emb.embed_query("red apples")
    from PIL import Image

    emb.embed_images([Image.new("RGB", (8, 8))])
    stats = emb.stats()
    assert stats.operations["documents"].calls == 2 and stats.operations["documents"].items == 3
    assert stats.operations["query"].tokens == 2
    assert stats.operations["images"].tokens == 4  # a 2x2 patch grid
    assert (stats.calls, stats.items, stats.errors, stats.cache) == (4, 5, 0, None)
    assert all(op.p50_ms is not None and op.p95_ms is not None for op in stats.operations.values())
