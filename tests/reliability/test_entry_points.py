"""Contract 7 beyond the core store: every public entry point raises a ``multivec.errors`` type for bad input.

Covered here: the LangChain and LlamaIndex adapters (constructor options → ``ConfigurationError``, call arguments →
``InvalidInputError``, never a pydantic ``ValidationError``, ``TypeError``, ``AttributeError``…), embedder
constructors, images (closed PIL images, decompression bombs refused from the header), PDF pages too large to render
(refused before rendering, with bounded memory), filters (nesting depth, keys, operators, operands) on both
backends, and the ``multivec`` command (one line on stderr, exit code 2 for usage and 1 for runtime errors).

Examples are generated with hypothesis, derandomized so that every run tries the same cases; every test uses the
real parts (embedded and in-memory stores, the deterministic fake embedder).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError, MultivecError
from multivec.store import MultiVectorStore
from multivec.store.filters import MAX_FILTER_DEPTH, to_qdrant_filter
from tests.support.pdfs import page_pdf_bytes

SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DIM = 16
TEXTS = ["red apples", "green apples", "blue cars", "red cars"]
METADATAS: list[dict[str, Any]] = [{"genre": "fruit"}, {"genre": "fruit"}, {}, {}]
IDS = [f"t{i}" for i in range(len(TEXTS))]

#: Values of every kind: wrong types, out-of-range and non-finite numbers, numpy scalars, containers, objects.
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.binary(max_size=3),
    st.lists(st.integers(-2, 2), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-2, 2), max_size=2),
    st.sampled_from(
        [
            object(),
            np.int64(2),
            np.float32(0.5),
            "similarity",
            "mmr",
            "text",
            "image",
            {"$bogus": 1},
            {"genre": "fruit"},
            [[1.0] * DIM],
            float("nan"),
            10**30,
        ]
    ),
)


def outcome(call: Callable[[], Any]) -> MultivecError | None:
    """``None`` when ``call`` succeeds, the multivec error it raised otherwise; anything else fails the test."""
    try:
        result = call()
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except MultivecError as err:
        return err
    except BaseException as err:  # the point of this suite: nothing else may escape
        pytest.fail(f"{type(err).__name__} escaped instead of a multivec error: {err}")
    return None


def expect(error: type[MultivecError], call: Callable[[], Any], *, naming: str | None = None) -> None:
    """``call`` raises ``error`` (its message naming ``naming`` when given)."""
    err = outcome(call)
    assert isinstance(err, error), f"expected {error.__name__}, got {err!r}"
    if naming is not None:
        assert naming in str(err), str(err)


def fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=DIM)


# -- LangChain --------------------------------------------------------------------------------------------------------

lc = pytest.importorskip("langchain_multivec")


@pytest.fixture(scope="module")
def lc_store() -> Iterator[Any]:
    from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore

    store = QdrantMultiVectorStore.from_texts(
        TEXTS, MultiVectorEmbeddings(fake()), METADATAS, ids=IDS, location=":memory:"
    )
    yield store
    store.close()


RETRIEVER_FIELDS = ["vectorstore", "k", "filter", "search_type", "score_threshold", "fetch_k", "lambda_mult", "exact"]
RETRIEVER_FIELDS += ["tags", "metadata", "name", "bogus"]


@SETTINGS
@given(st.dictionaries(st.sampled_from(RETRIEVER_FIELDS[1:]), junk, max_size=3))
def test_langchain_retriever_options_are_configuration_errors_or_work(lc_store: Any, options: dict[str, Any]) -> None:
    from langchain_multivec import MaxSimRetriever

    retriever: Any = None

    def build() -> None:
        nonlocal retriever
        retriever = MaxSimRetriever(vectorstore=lc_store, **options)

    err = outcome(build)
    if err is not None:
        assert isinstance(err, ConfigurationError), err
        return
    assert outcome(lambda: retriever.invoke("red apples")) is None  # what was accepted works


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["k", "filter", "score_threshold", "fetch_k", "lambda_mult", "exact", "x"]), junk)
)
def test_langchain_retriever_call_options_are_input_errors_or_work(lc_store: Any, options: dict[str, Any]) -> None:
    from langchain_multivec import MaxSimRetriever

    retriever = MaxSimRetriever(vectorstore=lc_store, search_type="mmr", k=2)
    err = outcome(lambda: retriever.invoke("red apples", **options))
    assert err is None or isinstance(err, InvalidInputError), err


@SETTINGS
@given(
    st.one_of(junk, st.sampled_from(["similarity", "mmr", "similarity_score_threshold"])),
    st.one_of(
        junk, st.dictionaries(st.sampled_from(["k", "filter", "score_threshold", "fetch_k", "exact", "x"]), junk)
    ),
)
def test_langchain_as_retriever_is_a_configuration_error_or_works(lc_store: Any, search_type: Any, kwargs: Any) -> None:
    retriever: Any = None

    def build() -> None:
        nonlocal retriever
        retriever = lc_store.as_retriever(search_type=search_type, search_kwargs=kwargs)

    err = outcome(build)
    if err is not None:
        assert isinstance(err, ConfigurationError), err
        return
    assert outcome(lambda: retriever.invoke("red apples")) is None


SEARCH_METHODS = [
    "similarity_search",
    "similarity_search_with_score",
    "similarity_search_with_relevance_scores",
    "max_marginal_relevance_search",
    "asimilarity_search",
    "amax_marginal_relevance_search",
]


@SETTINGS
@given(
    st.sampled_from(SEARCH_METHODS),
    st.one_of(st.just("red apples"), junk),
    st.one_of(st.just(2), junk),
    st.dictionaries(st.sampled_from(["filter", "exact", "prefetch_limit", "score_threshold", "fetch_k", "x"]), junk),
)
def test_langchain_searches_are_input_errors_or_work(
    lc_store: Any, method: str, query: Any, k: Any, kwargs: dict[str, Any]
) -> None:
    err = outcome(lambda: getattr(lc_store, method)(query, k, **kwargs))
    assert err is None or isinstance(err, InvalidInputError), err


@SETTINGS
@given(st.one_of(junk, st.lists(st.lists(st.floats(allow_nan=True, width=32), max_size=3), max_size=3)))
def test_langchain_searches_by_vector_are_input_errors_or_work(lc_store: Any, vectors: Any) -> None:
    for method in ("similarity_search_by_vector", "max_marginal_relevance_search_by_vector"):
        err = outcome(lambda method=method: getattr(lc_store, method)(vectors, 2))
        assert err is None or isinstance(err, InvalidInputError), err


@SETTINGS
@given(junk, st.one_of(junk, st.just(None)))
def test_langchain_reads_writes_and_deletes_are_input_errors(lc_store: Any, value: Any, ids: Any) -> None:
    for call in (
        lambda: lc_store.add_texts(value, ids=ids),
        lambda: lc_store.add_documents(value),
        lambda: lc_store.aadd_documents(value),
        lambda: lc_store.add_images(value),
        lambda: lc_store.add_pdfs(value),
        lambda: lc_store.get_by_ids(value),
        lambda: lc_store.aget_by_ids(value),
        lambda: lc_store.delete(ids=value) if value is not None else None,
        lambda: lc_store.delete(filter=value) if value is not None else None,
        lambda: lc_store.search("red", value),
        lambda: lc_store.explain("red", value),
    ):
        err = outcome(call)
        if err is not None:
            assert isinstance(err, InvalidInputError), err
    # a junk value may be a valid filter or id list, so a delete may have worked: put the records back (upsert);
    # nothing else may have been added
    lc_store.add_texts(TEXTS, METADATAS, ids=IDS)
    assert lc_store.store.count() == len(TEXTS)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["top_n", "pdf_dpi", "show_progress", "bogus"]), junk, max_size=3))
def test_langchain_reranker_options_are_configuration_errors_or_work(options: dict[str, Any]) -> None:
    from langchain_core.documents import Document

    from langchain_multivec import MaxSimReranker

    reranker: Any = None

    def build() -> None:
        nonlocal reranker
        reranker = MaxSimReranker(embedding=fake(), **options)

    err = outcome(build)
    if err is not None:
        assert isinstance(err, ConfigurationError), err
        return
    docs = [Document(page_content=t) for t in TEXTS]
    assert outcome(lambda: reranker.compress_documents(docs, "red apples")) is None
    for bad in (junk_documents := [None, "text", [3], [Document("x"), {"page_content": "y"}]]):
        expect(InvalidInputError, lambda bad=bad: reranker.compress_documents(bad, "red apples"))
    assert junk_documents


@pytest.mark.parametrize(
    ("options", "naming"),
    [
        ({"k": 0}, "k"),
        ({"k": "3"}, "k"),
        ({"k": True}, "k"),
        ({"k": 1.5}, "k"),
        ({"search_type": "hybrid"}, "search_type"),
        ({"search_type": None}, "search_type"),
        ({"lambda_mult": math.nan}, "lambda_mult"),
        ({"lambda_mult": 1.5}, "lambda_mult"),
        ({"fetch_k": -1}, "fetch_k"),
        ({"exact": "yes"}, "exact"),
        ({"filter": 3}, "filter"),
        ({"filter": {"year": {"$regex": "x"}}}, "$regex"),
        ({"search_type": "similarity_score_threshold"}, "score_threshold"),
        ({"search_type": "similarity_score_threshold", "score_threshold": 2}, "score_threshold"),
        ({"score_threshold": "high"}, "score_threshold"),
        ({"tags": 3}, "tags"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_langchain_retriever_names_the_bad_option(lc_store: Any, options: dict[str, Any], naming: str) -> None:
    from langchain_multivec import MaxSimRetriever

    expect(ConfigurationError, lambda: MaxSimRetriever(vectorstore=lc_store, **options), naming=naming)


def test_langchain_entry_points_known_bad_inputs(lc_store: Any) -> None:
    from langchain_core.documents import Document

    from langchain_multivec import MaxSimReranker, MaxSimRetriever, MultiVectorEmbeddings, QdrantMultiVectorStore

    expect(ConfigurationError, lambda: MaxSimRetriever(), naming="vectorstore")
    expect(ConfigurationError, lambda: MaxSimRetriever(vectorstore=3), naming="vectorstore")
    expect(ConfigurationError, lambda: MaxSimReranker(), naming="embedding")
    expect(ConfigurationError, lambda: MaxSimReranker(embedding=fake(), top_n=0), naming="top_n")
    expect(ConfigurationError, lambda: MaxSimReranker(embedding=fake(), pdf_dpi=math.nan), naming="pdf_dpi")
    expect(ConfigurationError, lambda: MultiVectorEmbeddings(fake(), show_progress="yes"), naming="show_progress")
    expect(ConfigurationError, lambda: MultiVectorEmbeddings.create("fake", bogus=1), naming="bogus")
    expect(ConfigurationError, lambda: lc_store.as_retriever(search_type="bogus"), naming="search_type")
    expect(ConfigurationError, lambda: lc_store.as_retriever(search_kwargs=3), naming="search_kwargs")
    expect(ConfigurationError, lambda: lc_store.as_retriever(search_kwargs={"fetch_k": 3}), naming="fetch_k")
    expect(ConfigurationError, lambda: lc_store.as_retriever(vectorstore=lc_store), naming="vectorstore")
    expect(InvalidInputError, lambda: lc_store.search("red", "bogus"), naming="search_type")
    expect(InvalidInputError, lambda: lc_store.asearch("red", "bogus"), naming="search_type")
    expect(InvalidInputError, lambda: lc_store.similarity_search_with_relevance_scores("red", score_threshold="a"))
    expect(InvalidInputError, lambda: lc_store.similarity_search_by_vector([[1.0, 2.0], [3.0]]))
    expect(InvalidInputError, lambda: lc_store.add_documents([Document("ok"), 3]), naming="documents[1]")
    expect(InvalidInputError, lambda: lc_store.get_by_ids("abc"), naming="ids")
    expect(InvalidInputError, lambda: MaxSimRetriever(vectorstore=lc_store).ainvoke("red", k=0), naming="k")
    expect(InvalidInputError, lambda: QdrantMultiVectorStore.from_texts("abc", fake(), location=":memory:"))
    assert lc_store.store.count() == len(TEXTS)


# -- LlamaIndex -------------------------------------------------------------------------------------------------------

li = pytest.importorskip("llama_index_multivec")


@pytest.fixture(scope="module")
def li_store() -> Iterator[Any]:
    from llama_index.core.schema import TextNode

    from llama_index_multivec import QdrantMultiVectorStore

    store = QdrantMultiVectorStore(fake(), location=":memory:")
    store.add([TextNode(text=t, id_=f"n{i}", metadata={"i": i}) for i, t in enumerate(TEXTS)])
    yield store
    store.close()


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            ["similarity_top_k", "filters", "modality", "mode", "mmr_threshold", "search_kwargs", "verbose"]
        ),
        st.one_of(
            junk,
            st.sampled_from(["default", "mmr", "hybrid"]),
            st.dictionaries(st.sampled_from(["exact", "fetch_k", "x"]), junk),
        ),
        max_size=3,
    )
)
def test_llama_index_retriever_options_are_configuration_errors_or_work(li_store: Any, options: dict[str, Any]) -> None:
    from llama_index_multivec import MaxSimRetriever

    retriever: Any = None

    def build() -> None:
        nonlocal retriever
        retriever = MaxSimRetriever(li_store, **options)

    err = outcome(build)
    if err is not None:
        assert isinstance(err, ConfigurationError), err
        return
    assert outcome(lambda: retriever.retrieve("red apples")) is None


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            ["query_str", "similarity_top_k", "mode", "mmr_threshold", "doc_ids", "node_ids", "query_embedding"]
        ),
        st.one_of(junk, st.sampled_from(["default", "mmr", "sparse"])),
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(["exact", "prefetch_limit", "score_threshold", "fetch_k", "modality", "x"]), junk),
)
def test_llama_index_queries_are_input_errors_or_work(
    li_store: Any, fields: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    from llama_index.core.vector_stores.types import VectorStoreQuery

    query = VectorStoreQuery(**{"query_str": "red apples", **fields})
    for call in (lambda: li_store.query(query, **kwargs), lambda: li_store.aquery(query, **kwargs)):
        err = outcome(call)
        assert err is None or isinstance(err, InvalidInputError), err


@SETTINGS
@given(junk)
def test_llama_index_calls_with_junk_are_input_errors(li_store: Any, value: Any) -> None:
    from llama_index_multivec import MaxSimRerank, MaxSimRetriever, MultiVectorEmbedding, to_store_filter

    embed_model = MultiVectorEmbedding(fake())
    for call in (
        lambda: li_store.add(value),
        lambda: li_store.async_add(value),
        lambda: li_store.add_pdfs(value),
        lambda: li_store.get_nodes(filters=value),
        lambda: li_store.delete_nodes(filters=value) if value is not None else None,
        lambda: li_store.query(value),
        lambda: li_store.explain("red", value),
        lambda: to_store_filter(value),
        lambda: MaxSimRetriever(li_store).retrieve(value),
        lambda: MaxSimRetriever(li_store).aretrieve(value),
        lambda: MaxSimRerank(embedding=fake()).postprocess_nodes(value, query_str="red"),
        lambda: embed_model.get_text_embedding_batch(value),
        lambda: embed_model.get_image_embedding_batch(value),
        lambda: embed_model(value),
    ):
        err = outcome(call)
        assert err is None or isinstance(err, InvalidInputError), err
    assert li_store.store.count() == len(TEXTS)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["top_n", "metadata_mode", "show_progress", "callback_manager", "bogus"]), junk, max_size=3
    ),
    st.dictionaries(
        st.sampled_from(["embed_batch_size", "num_workers", "callback_manager", "bogus"]), junk, max_size=2
    ),
)
def test_llama_index_postprocessor_and_embedding_options(
    rerank_options: dict[str, Any], embed_options: dict[str, Any]
) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_multivec import MaxSimRerank, MultiVectorEmbedding

    for build, use in (
        (
            lambda: MaxSimRerank(embedding=fake(), **rerank_options),
            lambda made: made.postprocess_nodes([NodeWithScore(node=TextNode(text=t)) for t in TEXTS], query_str="red"),
        ),
        (lambda: MultiVectorEmbedding(fake(), **embed_options), lambda made: made.get_text_embedding_batch(TEXTS)),
    ):
        made: list[Any] = []
        err = outcome(lambda build=build, made=made: made.append(build()))
        if err is not None:
            assert isinstance(err, ConfigurationError), err
            continue
        assert outcome(lambda use=use, made=made: use(made[0])) is None


def test_llama_index_entry_points_known_bad_inputs(li_store: Any) -> None:
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters, VectorStoreQuery

    from llama_index_multivec import MaxSimRerank, MaxSimRetriever, MultiVectorEmbedding, QdrantMultiVectorStore

    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, mode="sparse"), naming="sparse")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, mode="bogus"), naming="bogus")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, similarity_top_k=0), naming="similarity_top_k")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, mmr_threshold=1.5), naming="mmr_threshold")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, search_kwargs={"fetch_k": 2}), naming="fetch_k")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, search_kwargs=3), naming="dict")
    expect(ConfigurationError, lambda: MaxSimRetriever(li_store, filters={"genre": "x"}), naming="MetadataFilters")
    expect(ConfigurationError, lambda: MaxSimRerank(), naming="embedding")
    expect(ConfigurationError, lambda: MaxSimRerank(embedding=fake(), metadata_mode="bogus"), naming="metadata_mode")
    expect(ConfigurationError, lambda: MaxSimRerank(embedding=fake(), bogus=1), naming="bogus")
    expect(ConfigurationError, lambda: MultiVectorEmbedding(fake(), embed_batch_size=0), naming="embed_batch_size")
    expect(ConfigurationError, lambda: MultiVectorEmbedding(fake(), bogus=1), naming="bogus")
    expect(ConfigurationError, lambda: QdrantMultiVectorStore(fake(), text_metadata_mode="x", location=":memory:"))
    expect(ConfigurationError, lambda: QdrantMultiVectorStore(fake(), store=3), naming="store")
    expect(InvalidInputError, lambda: QdrantMultiVectorStore.from_store(3), naming="store")
    expect(InvalidInputError, lambda: li_store.query(VectorStoreQuery(query_str="red", mode="bogus")), naming="bogus")
    expect(InvalidInputError, lambda: li_store.query(VectorStoreQuery(query_str="red", doc_ids=3)), naming="doc_ids")
    expect(InvalidInputError, lambda: li_store.query(VectorStoreQuery(query_embedding=[[1.0, 2.0], [3.0]])))
    expect(InvalidInputError, lambda: MaxSimRetriever(li_store).retrieve(QueryBundle(query_str=3)))  # type: ignore[arg-type]
    nodes = [NodeWithScore(node=TextNode(text="red"))]
    expect(InvalidInputError, lambda: MaxSimRerank(embedding=fake()).postprocess_nodes(nodes, QueryBundle("a"), "b"))
    expect(
        InvalidInputError, lambda: MaxSimRerank(embedding=fake()).postprocess_nodes([TextNode(text="x")], query_str="a")
    )
    deep = MetadataFilters(filters=[MetadataFilter(key="i", value=1)])
    for _ in range(MAX_FILTER_DEPTH + 1):
        deep = MetadataFilters(filters=[deep])
    expect(InvalidInputError, lambda: li_store.get_nodes(filters=deep), naming="nested")
    assert li_store.store.count() == len(TEXTS)


# -- embedder constructors --------------------------------------------------------------------------------------------


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["dim", "grid", "embed_batch_size", "max_concurrency"]), junk, min_size=1, max_size=3
    ),
    st.booleans(),
)
def test_fake_embedder_options_are_configuration_errors_naming_them(options: dict[str, Any], unknown: bool) -> None:
    """The constructor's own options; the factory (which takes ``**options``) also refuses names it does not know.
    A plain class called with an unknown keyword raises Python's ``TypeError``, as any Python callable does."""
    from multivec.embeddings.factory import make_embedder

    factory_options = {**options, "bogus": 1} if unknown else options
    for build in (
        lambda: DeterministicFakeMultiVectorEmbedding(**options),
        lambda: make_embedder("fake", **factory_options),
    ):
        made: list[Any] = []
        err = outcome(lambda build=build, made=made: made.append(build()))
        if err is not None:
            assert isinstance(err, ConfigurationError), err
            named = str(err).split(";")[0]  # the message names the offending option before listing others
            assert any(name in named for name in (["bogus"] if "unknown" in named else options)), err
        else:
            assert made[0].embed_query("red apples").shape[1] == made[0].dim


BAD_COMMON = [
    ("embed_batch_size", 0),
    ("embed_batch_size", True),
    ("embed_batch_size", 2.0),
    ("max_concurrency", "4"),
    ("max_concurrency", math.nan),
    ("batch_size", -1),
    ("batch_size", None),
    ("device", 3),
    ("device", "bogus"),
    ("device", "meta"),
    ("device", "cuda:99"),
    ("torch_dtype", "int8"),
]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *BAD_COMMON,
        ("mode", "both"),
        ("mode", ["auto"]),
        ("query_length", 2),
        ("query_length", True),
        ("document_length", math.inf),
        ("model_name", 3),
    ],
)
def test_colbert_options_are_refused_before_the_model_is_loaded(option: str, value: Any) -> None:
    pytest.importorskip("transformers")
    from multivec.embeddings import ColBERTEmbeddings

    options = {"model_name": "/nonexistent/model", "device": "cpu", option: value}
    expect(ConfigurationError, lambda: ColBERTEmbeddings(**options), naming=option)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *BAD_COMMON,
        ("allow_urls", "yes"),
        ("max_image_pixels", math.nan),
        ("max_image_pixels", "1e6"),
        ("max_image_pixels", 0),
        ("model_class", 3),
        ("processor_class", ["ColPaliProcessor"]),
        ("model_name", 3),
    ],
)
def test_colpali_options_are_refused_before_the_model_is_loaded(option: str, value: Any) -> None:
    pytest.importorskip("colpali_engine")
    from multivec.embeddings import BiPaliEmbeddings, ColPaliEmbeddings

    for cls in (ColPaliEmbeddings, BiPaliEmbeddings):
        options = {"model_name": "/nonexistent/model", "device": "cpu", option: value}
        expect(ConfigurationError, lambda cls=cls, options=options: cls(**options), naming=option)


@pytest.mark.parametrize("kind", ["colbert", "colpali", "bipali", "infinity", "fake"])
def test_factory_refuses_options_the_embedder_does_not_take(kind: str) -> None:
    from multivec.embeddings.factory import make_embedder

    expect(
        ConfigurationError,
        lambda: make_embedder(kind, None, "http://127.0.0.1:9" if kind == "infinity" else None, bogus=1),
        naming="bogus",
    )
    expect(ConfigurationError, lambda: make_embedder(kind, 3), naming="model")
    expect(ConfigurationError, lambda: make_embedder([kind]), naming="unknown embedder")


# -- images -----------------------------------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels but which holds (almost) no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_closed_and_broken_pil_images_are_input_errors() -> None:
    from multivec.images import load_image

    closed = Image.new("RGB", (8, 8))
    closed.close()
    encoded = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(encoded, "PNG")
    truncated = Image.open(io.BytesIO(encoded.getvalue()[:60]))  # lazily opened: decodes (and fails) on use
    embedder = fake()
    expect(InvalidInputError, lambda: load_image(closed), naming="closed")
    expect(InvalidInputError, lambda: embedder.embed_image(closed), naming="closed")
    expect(InvalidInputError, lambda: embedder.embed_images([Image.new("RGB", (4, 4)), closed]), naming="images[1]")
    expect(InvalidInputError, lambda: load_image(truncated), naming="truncated")
    with MultiVectorStore(embedder, location=":memory:") as store:
        expect(InvalidInputError, lambda: store.add_images([closed], ids=["x"]), naming="closed")
        assert store.count() == 0


@pytest.mark.parametrize(("width", "height", "limit"), [(60_000, 60_000, None), (9_000, 9_000, 1_000_000)])
def test_huge_images_are_refused_from_their_header(width: int, height: int, limit: int | None) -> None:
    """A few hundred bytes claiming billions of pixels (past Pillow's own limit), or a size past the embedder's
    ``max_image_pixels``: refused before any pixel is decoded."""
    from multivec.images import load_image

    data = _png_header(width, height)
    assert len(data) < 200
    options = {} if limit is None else {"max_pixels": limit}
    expect(InvalidInputError, lambda: load_image(data, **options), naming="too large" if limit is None else "limit")


@SETTINGS
@given(st.one_of(st.binary(max_size=64), st.builds(lambda b: b"\x89PNG\r\n\x1a\n" + b, st.binary(max_size=64)), junk))
def test_junk_images_are_input_errors(data: Any) -> None:
    err = outcome(lambda: fake().embed_images([data]))
    assert err is None or isinstance(err, InvalidInputError), err


# -- PDF pages too large to render -------------------------------------------------------------------------------------


_CHILD = """
import json, sys
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from multivec.pdf import read_pdf, render_page
from multivec.store import MultiVectorStore

good, huge, store_dir = sys.argv[1:4]
errors = []
for call in (
    lambda: read_pdf(huge),
    lambda: render_page(huge, 1, dpi=150),
    lambda: store.add_pdfs([good, huge]),
):
    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=8), path=store_dir) as store:
        try:
            call()
            errors.append(None)
        except InvalidInputError as err:
            errors.append(str(err))
        count = store.count()
# VmHWM is this process's own peak: ru_maxrss keeps the parent's peak across fork and exec
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"errors": errors, "count": count, "max_rss_mb": peak_kb / 1024}))
"""


def test_huge_pdf_page_is_refused_before_rendering_with_bounded_memory(tmp_path: Path) -> None:
    """A 14,400 pt square page (200 inches) at 150 dpi is 30,000 x 30,000 pixels: rendering it would take several
    GB (bitmap, PIL copy, RGB conversion). It must be refused from its size, naming the file and the page, with the
    child process staying far below that, and ``add_pdfs`` must write nothing (not even the good file's pages)."""
    pytest.importorskip("pypdfium2")
    from multivec.testing import write_text_pdf

    good = write_text_pdf(tmp_path / "good.pdf", ["a normal page"])
    huge = tmp_path / "huge.pdf"
    huge.write_bytes(page_pdf_bytes(14_400, 14_400))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(good), str(huge), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert all(e is not None and str(huge) in e and "page 1" in e and "pixels" in e for e in report["errors"]), report
    assert report["count"] == 0
    assert report["max_rss_mb"] < 1024, report


def test_page_limit_is_an_option(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2")
    from multivec.pdf import MAX_PAGE_PIXELS, read_pdf, render_page

    path = tmp_path / "wide.pdf"
    path.write_bytes(page_pdf_bytes(720, 72))  # 10 x 1 inches: 1000 x 100 pixels at 100 dpi
    assert render_page(path, 1, dpi=100).size == (1000, 100)
    expect(InvalidInputError, lambda: render_page(path, 1, dpi=100, max_pixels=99_999), naming="99,999")
    expect(InvalidInputError, lambda: read_pdf(path, dpi=100, max_pixels=50_000), naming="page 1")
    assert read_pdf(path, dpi=100, render=False, max_pixels=1)[0].image is None  # no rendering, no limit
    expect(ConfigurationError, lambda: read_pdf(path, max_pixels=0), naming="max_pixels")
    expect(ConfigurationError, lambda: read_pdf(path, dpi=math.nan), naming="dpi")
    assert MAX_PAGE_PIXELS > 1275 * 1650  # a US Letter page at the default 150 dpi fits


# -- filters ----------------------------------------------------------------------------------------------------------

filter_keys = st.sampled_from(
    ["genre", "year", "a.b", "$id", "$modality", "$page", "$and", "$or", "$not", "$x", "", "a\ud800"]
)
filter_ops = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$text", "$regex"])
filter_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.sampled_from(["2020-01-01T00:00:00", "2020-13-01", "fruit", "\ud800"]),
        st.just(object()),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(filter_ops, children, max_size=2),
        st.dictionaries(filter_keys, children, max_size=2),
        st.dictionaries(st.integers(), children, max_size=1),
    ),
    max_leaves=10,
)


@pytest.fixture(params=["edge", "memory"])
def filter_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MultiVectorStore]:
    location = {"path": str(tmp_path / "store")} if request.param == "edge" else {"location": ":memory:"}
    with MultiVectorStore(fake(), **location) as store:
        store.add_texts(
            TEXTS, [{"genre": "fruit", "year": 2001}, {"genre": "fruit"}, {"year": 1999}, {}], ids=list("abcd")
        )
        yield store


@SETTINGS
@given(st.one_of(st.dictionaries(filter_keys, filter_values, min_size=1, max_size=3), filter_values))
def test_junk_filters_are_input_errors_or_work_on_both_backends(filter_store: MultiVectorStore, value: Any) -> None:
    for call in (
        lambda: filter_store.search("red apples", k=4, filter=value),
        lambda: filter_store.count(filter=value),
        lambda: filter_store.scroll(filter=value),
    ):
        err = outcome(call)
        assert err is None or isinstance(err, InvalidInputError), err
    assert filter_store.count() == len(TEXTS)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"genre": "fruit"}
    for level in range(depth - 1):
        value = {"$not": value} if level % 2 else {"$and": [value, {"year": {"$gte": 0}}]}
    return value


def test_filter_nesting_is_limited(filter_store: MultiVectorStore) -> None:
    assert filter_store.count(filter=_nested(MAX_FILTER_DEPTH)) in range(len(TEXTS) + 1)
    expect(InvalidInputError, lambda: filter_store.search("red", filter=_nested(MAX_FILTER_DEPTH + 1)), naming="nested")
    expect(InvalidInputError, lambda: to_qdrant_filter(_nested(50_000)), naming="nested")  # no RecursionError
    looped: dict[str, Any] = {}
    looped["$not"] = looped
    expect(InvalidInputError, lambda: to_qdrant_filter(looped), naming="nested")


@pytest.mark.parametrize(
    ("value", "naming"),
    [
        ({1: "fruit"}, "non-empty strings"),
        ({"genre": {"$regex": "f.*"}}, "$regex"),
        ({"$nor": []}, "$nor"),
        ({"year": {"$gt": [1]}}, "range"),
        ({"year": {"$gt": math.inf}}, "finite"),
        ({"year": {"$gt": 10**400}}, "too large"),
        ({"year": 2**64}, "64-bit"),
        ({"genre": {"$in": []}}, "non-empty list"),
        ({"genre": {"$in": "fruit"}}, "list"),
        ({"genre": math.nan}, "finite"),
        ({"genre": "\ud800"}, "Unicode"),
        ({"genre": {"$text": 3}}, "$text"),
        ({"genre": {"a": 1}}, "unknown operator"),
        ({"$and": {"genre": "fruit"}}, "$and"),
        ({"$modality": "video"}, "modality"),
        ({"year": {"$gte": "yesterday"}}, "ISO 8601"),
    ],
)
def test_bad_filters_name_what_is_wrong(value: dict[Any, Any], naming: str) -> None:
    expect(InvalidInputError, lambda: to_qdrant_filter(value), naming=naming)


# -- the command line -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "notes.md").write_text("Pour-over coffee tastes best at 93 C.")
    (root / "file.txt").write_text("not a store")
    (root / "unrelated").mkdir()
    (root / "unrelated" / "data.bin").write_bytes(b"\x00" * 16)
    from multivec.cli import main

    assert main(["index", str(root / "notes.md"), "--store", str(root / "store"), "--embedder", "fake", "--quiet"]) == 0
    return root


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    from multivec.cli import main

    capsys.readouterr()
    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().err


USAGE, RUNTIME = 2, 1
CLI_CASES: list[tuple[str, list[str], int, str]] = [
    ("no command", [], USAGE, "COMMAND"),
    ("unknown command", ["bogus"], USAGE, "invalid choice"),
    ("missing store", ["search", "coffee"], USAGE, "--store"),
    ("k not an int", ["search", "coffee", "--store", "{store}", "-k", "abc"], USAGE, "-k"),
    ("k zero", ["search", "coffee", "--store", "{store}", "-k", "0"], USAGE, "-k"),
    ("filter not JSON", ["search", "coffee", "--store", "{store}", "--filter", "{bad"], USAGE, "--filter"),
    ("filter not an object", ["search", "coffee", "--store", "{store}", "--filter", "[1]"], USAGE, "--filter"),
    ("filter operator", ["search", "coffee", "--store", "{store}", "--filter", '{"a": {"$x": 1}}'], USAGE, "$x"),
    (
        "filter too deep to parse",
        ["search", "coffee", "--store", "{store}", "--filter", "[" * 5000 + "]" * 5000],
        USAGE,
        "nested",
    ),
    ("filter nested", ["search", "coffee", "--store", "{store}", "--filter", json.dumps(_nested(40))], USAGE, "nested"),
    (
        "filter huge int",
        ["search", "coffee", "--store", "{store}", "--filter", '{"a": 123456789012345678901234567890}'],
        USAGE,
        "64-bit",
    ),
    (
        "filter infinite bound",
        ["search", "coffee", "--store", "{store}", "--filter", '{"a": {"$gt": 1e999}}'],
        USAGE,
        "finite",
    ),
    ("empty query", ["search", " ", "--store", "{store}"], USAGE, "empty"),
    ("store missing", ["search", "coffee", "--store", "{root}/nowhere"], USAGE, "no collection"),
    ("store is a file", ["search", "coffee", "--store", "{root}/file.txt"], USAGE, "is a file"),
    ("dir that is not a store", ["search", "coffee", "--store", "{root}/unrelated"], USAGE, "no collection"),
    ("unknown collection", ["search", "coffee", "--store", "{store}", "--collection", "a/b"], USAGE, "no collection"),
    ("other embedder", ["search", "coffee", "--store", "{store}", "--embedder", "colbert"], USAGE, "was built with"),
    (
        "index into a file",
        ["index", "{root}/notes.md", "--store", "{root}/file.txt", "--embedder", "fake"],
        USAGE,
        "is a file",
    ),
    (
        "index bad dpi",
        ["index", "{root}/notes.md", "--store", "{root}/s2", "--embedder", "fake", "--dpi", "nan"],
        USAGE,
        "--dpi",
    ),
    (
        "index bad chunk",
        ["index", "{root}/notes.md", "--store", "{root}/s2", "--embedder", "fake", "--chunk-words", "-1"],
        USAGE,
        "--chunk-words",
    ),
    (
        "index bad collection",
        ["index", "{root}/notes.md", "--store", "{root}/s3", "--embedder", "fake", "--collection", "a/b"],
        USAGE,
        "collection_name",
    ),
    (
        "nothing to index",
        ["index", "{root}/nowhere.md", "--store", "{root}/s4", "--embedder", "fake"],
        RUNTIME,
        "nothing could be indexed",
    ),
    (
        "missing model",
        ["index", "{root}/notes.md", "--store", "{root}/s5", "--embedder", "colbert", "--model", "/nonexistent/m"],
        RUNTIME,
        "/nonexistent/m",
    ),
    ("explain unknown id", ["explain", "coffee", "--store", "{store}", "--id", "nope"], USAGE, "nope"),
    ("explain bad dpi", ["explain", "coffee", "--store", "{store}", "--id", "x", "--dpi", "0"], USAGE, "--dpi"),
    ("eval no dataset", ["eval", "{root}/nowhere", "--embedder", "fake"], USAGE, "not a folder"),
    ("eval bad max", ["eval", "{root}/unrelated", "--embedder", "fake", "--max-queries", "0"], USAGE, "--max-queries"),
    ("demo keep a file", ["demo", "--embedder", "fake", "--keep", "{root}/file.txt"], RUNTIME, "file.txt"),
]


@pytest.mark.parametrize(("case", "args", "code", "naming"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_errors_are_one_line_with_the_right_exit_code(
    capsys: pytest.CaptureFixture[str], cli_store: Path, case: str, args: list[str], code: int, naming: str
) -> None:
    filled = [a.replace("{store}", str(cli_store / "store")).replace("{root}", str(cli_store)) for a in args]
    got, err = _run(capsys, *filled)
    assert got == code, (case, got, err)
    if case == "nothing to index":  # the run's report (which files were skipped, and why) comes first
        err = err.splitlines(keepends=True)[-1]
    assert err.count("\n") == 1 and err.startswith("multivec"), (case, err)
    assert "Traceback" not in err and naming in err, (case, err)


def test_cli_damaged_manifest_and_console_script(cli_store: Path, tmp_path: Path) -> None:
    """Runtime failures exit 1 with one line; the real console script never prints a traceback."""
    import shutil

    damaged = tmp_path / "store"
    shutil.copytree(cli_store / "store", damaged)
    (damaged / "multivec-cli.json").write_text("{truncated")
    script = Path(sys.executable).parent / "multivec"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "multivec"]
    for args, code in ((["search", "coffee", "--store", str(damaged)], RUNTIME), (["search", "-k", "x"], USAGE)):
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == code, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
