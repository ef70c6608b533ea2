"""The store inside LlamaIndex's own machinery: indexes, ingestion pipelines, query engines, ref-doc deletes.

Each test runs on both backends with the deterministic fake and with ColBERT on the offline MiniLM model.
"""

from __future__ import annotations

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import Document, TextNode
from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

from llama_index_multivec import RAW_SCORE_KEY, MultiVectorEmbedding, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.types import Embedding

DOCS = [
    Document(id_="fruit", text="Red apples and green pears grow in the orchard.", metadata={"topic": "fruit"}),
    Document(id_="cars", text="Fast blue cars race on the motorway.", metadata={"topic": "cars"}),
    Document(id_="space", text="Rockets carry satellites into orbit around the earth.", metadata={"topic": "space"}),
]


def top_ids(nodes: list) -> list[str]:
    return [n.node.ref_doc_id or n.node.node_id for n in nodes]


def test_from_vector_store_retriever(any_store: QdrantMultiVectorStore) -> None:
    any_store.add([TextNode(id_=d.id_, text=d.text, metadata=d.metadata) for d in DOCS])
    retriever = VectorStoreIndex.from_vector_store(any_store).as_retriever(similarity_top_k=2)
    hits = retriever.retrieve("rockets and satellites in orbit")
    assert len(hits) == 2
    assert hits[0].node.node_id == "space"
    assert hits[0].node.get_content() == DOCS[2].text
    assert hits[0].score is not None and 0.0 <= hits[0].score <= 1.0
    assert hits[0].score >= (hits[1].score or 0.0)
    assert RAW_SCORE_KEY in hits[0].node.metadata


def test_from_documents_then_delete_ref_doc(any_store: QdrantMultiVectorStore) -> None:
    storage_context = StorageContext.from_defaults(vector_store=any_store)
    index = VectorStoreIndex.from_documents(DOCS, storage_context=storage_context)
    retriever = index.as_retriever(similarity_top_k=1)
    assert top_ids(retriever.retrieve("blue cars on the motorway")) == ["cars"]
    index.delete_ref_doc("cars")
    assert "cars" not in {n.ref_doc_id for n in any_store.get_nodes()}
    assert top_ids(retriever.retrieve("blue cars on the motorway")) != ["cars"]


def test_retriever_with_filters(any_store: QdrantMultiVectorStore) -> None:
    VectorStoreIndex.from_documents(DOCS, storage_context=StorageContext.from_defaults(vector_store=any_store))
    filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="cars")])
    retriever = VectorStoreIndex.from_vector_store(any_store).as_retriever(similarity_top_k=3, filters=filters)
    assert top_ids(retriever.retrieve("apples in the orchard")) == ["cars"]


def test_ingestion_pipeline_into_the_store(any_store: QdrantMultiVectorStore) -> None:
    embed_model = MultiVectorEmbedding(any_store.embedder)
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed_model], vector_store=any_store
    )
    nodes = pipeline.run(documents=DOCS)
    assert len(nodes) == 3
    assert {n.ref_doc_id for n in any_store.get_nodes()} == {"fruit", "cars", "space"}
    retriever = VectorStoreIndex.from_vector_store(any_store).as_retriever(similarity_top_k=1)
    assert top_ids(retriever.retrieve("pears from the orchard")) == ["fruit"]


def test_query_engine_answers_with_the_right_source_nodes(any_store: QdrantMultiVectorStore) -> None:
    index = VectorStoreIndex.from_documents(DOCS, storage_context=StorageContext.from_defaults(vector_store=any_store))
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)
    response = engine.query("Which rockets carry satellites?")
    assert top_ids(response.source_nodes) == ["space"]
    assert str(response)  # the mock LLM produced an answer from the retrieved context


async def test_async_index_paths(any_store: QdrantMultiVectorStore) -> None:
    storage_context = StorageContext.from_defaults(vector_store=any_store)
    index = VectorStoreIndex.from_documents(DOCS, storage_context=storage_context, use_async=True)
    assert top_ids(await index.as_retriever(similarity_top_k=1).aretrieve("blue cars")) == ["cars"]
    response = await index.as_query_engine(llm=MockLLM(), similarity_top_k=1).aquery("rockets in orbit")
    assert top_ids(response.source_nodes) == ["space"]
    await index.adelete_ref_doc("space")
    assert "space" not in {n.ref_doc_id for n in await any_store.aget_nodes()}
    pipeline = IngestionPipeline(transformations=[MultiVectorEmbedding(any_store.embedder)], vector_store=any_store)
    await pipeline.arun(documents=[Document(id_="sea", text="Whales swim in the deep ocean.")])
    assert top_ids(await index.as_retriever(similarity_top_k=1).aretrieve("whales in the ocean")) == ["sea"]


def test_index_retriever_passes_mode_and_store_options(any_store: QdrantMultiVectorStore) -> None:
    any_store.add([TextNode(id_=d.id_, text=d.text, metadata=d.metadata) for d in DOCS])
    index = VectorStoreIndex.from_vector_store(any_store)
    mmr = index.as_retriever(similarity_top_k=2, vector_store_query_mode="mmr", vector_store_kwargs={"fetch_k": 3})
    assert len(mmr.retrieve("blue cars")) == 2
    exact = index.as_retriever(similarity_top_k=3, vector_store_kwargs={"exact": True, "modality": "text"})
    assert top_ids(exact.retrieve("blue cars"))[0] == "cars"


class _Counting(DeterministicFakeMultiVectorEmbedding):
    """The fake embedder, counting how often each text reaches the encoder."""

    def __init__(self) -> None:
        super().__init__(dim=16)
        self.encoded: list[str] = []

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        self.encoded.extend(texts)
        return super()._embed_texts(texts, is_query=is_query)


def test_from_documents_and_pipelines_encode_each_node_once() -> None:
    core = _Counting()
    embed_model = MultiVectorEmbedding(core)
    with QdrantMultiVectorStore(embed_model, location=":memory:") as store:
        VectorStoreIndex.from_documents(
            DOCS, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
        )
        assert len(core.encoded) == len(DOCS) and len(set(core.encoded)) == len(DOCS)
        core.encoded.clear()
        pipeline = IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed_model], vector_store=store
        )
        assert len(pipeline.run(documents=DOCS)) == len(DOCS)
        assert core.encoded == []  # the same chunks again: the cache answers both the pooled and the token vectors
    uncached = _Counting()
    with QdrantMultiVectorStore(MultiVectorEmbedding(uncached, cache=False), location=":memory:") as store:
        VectorStoreIndex.from_documents(
            DOCS,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=MultiVectorEmbedding(uncached, cache=False),
        )
        assert len(uncached.encoded) == 2 * len(DOCS)  # what the cache saves
