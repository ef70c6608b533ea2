"""The LangChain store takes the core's options from the core (no list of its own), an injected Qdrant client, and
the keyword arguments langchain-qdrant users carry over: translated where they mean something, refused otherwise."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from llama_index_multivec import QdrantMultiVectorStore as LlamaStore
from multivec.errors import CollectionNotFoundError, ConfigurationError
from multivec.store import MultiVectorStore
from multivec.store.options import store_option_names


@pytest.mark.parametrize("adapter", [QdrantMultiVectorStore, LlamaStore])
def test_adapters_show_every_core_option_with_the_core_default(adapter: type) -> None:
    core = inspect.signature(MultiVectorStore.__init__).parameters
    mirrored = inspect.signature(adapter.__init__).parameters
    for name in store_option_names():
        assert mirrored[name].default == core[name].default, name
    assert mirrored["collection_options"].kind is inspect.Parameter.VAR_KEYWORD


def test_core_options_pass_through_unchanged(tmp_path: Path) -> None:
    store = QdrantMultiVectorStore(
        MultiVectorEmbeddings.fake(dim=16), path=tmp_path, token_pooling=2, pooled_limit=7, prefetch_limit=9
    )
    assert (store.store.token_pooling, store.store.pooled_limit, store.store.prefetch_limit) == (2, 7, 9)
    store.close()


def test_langchain_qdrant_arguments_are_translated(tmp_path: Path) -> None:
    store = QdrantMultiVectorStore.from_texts(
        ["red apples", "blue cars"],
        MultiVectorEmbeddings.fake(dim=16),
        path=tmp_path,
        collection_name="docs",
        batch_size=1,
        force_recreate=False,
        validate_embeddings=True,
        collection_create_options={"on_disk": True},
    )
    assert store.store.write_batch_size == 1
    assert [d.page_content for d in store.similarity_search("blue cars", k=1)] == ["blue cars"]
    store.close()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"distance": "Dot"}, "distance= is not an option"),
        ({"force_recreate": True}, "use another collection_name"),
        ({"vector_name": "v"}, "vector names are fixed"),
        ({"retrieval_mode": "sparse"}, "late interaction"),
        ({"validate_collection_config": False}, "always checks"),
        ({"batch_size": 8, "write_batch_size": 8}, "not both"),
        ({"collection_create_options": {"on_disk": True}, "on_disk": False}, "given twice"),
    ],
)
def test_langchain_qdrant_arguments_without_a_meaning_here_are_refused(
    tmp_path: Path, option: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        QdrantMultiVectorStore(MultiVectorEmbeddings.fake(dim=16), path=tmp_path, **option)
    assert list(tmp_path.iterdir()) == []


def test_from_existing_collection_needs_the_collection(tmp_path: Path) -> None:
    fake = MultiVectorEmbeddings.fake(dim=16)
    with pytest.raises(CollectionNotFoundError):
        QdrantMultiVectorStore.from_existing_collection("docs", fake, path=tmp_path)
    QdrantMultiVectorStore.from_texts(["red apples"], fake, path=tmp_path, collection_name="docs").close()
    with QdrantMultiVectorStore.from_existing_collection("docs", fake, path=tmp_path) as store:
        assert store.similarity_search("apples", k=1)[0].page_content == "red apples"


def test_both_adapters_share_an_injected_client() -> None:
    client = QdrantClient(":memory:")
    fake = MultiVectorEmbeddings.fake(dim=16)
    lc = QdrantMultiVectorStore(fake, "docs", client=client)
    lc.add_texts(["red apples"], ids=["a"])
    li = LlamaStore(fake.embedder, "docs", client=client, create_collection=False)
    assert [n.node_id for n in li.get_nodes(node_ids=["a"])] == ["a"]
    lc.close()
    li.close()
    assert client.count("docs").count == 1  # neither store closed the caller's client
    client.close()


def test_llama_index_store_refuses_options_beside_a_built_store() -> None:
    core = MultiVectorStore(MultiVectorEmbeddings.fake(dim=16).embedder, location=":memory:")
    with pytest.raises(ConfigurationError, match="prefetch_limit to it when you build it"):
        LlamaStore(core.embedding, store=core, prefetch_limit=5)
    core.close()
