"""QdrantMultiVectorStore.explain: retrieved nodes go straight back in, and their breakdown adds up to the score."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import ImageNode, MetadataMode, TextNode

from llama_index_multivec import MultiVectorEmbedding, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import InvalidInputError
from tests.llama_index.conftest import open_store
from tests.unit.test_explain import checkerboard

RAW_SCORE_KEY = "maxsim_score"


@pytest.fixture
def fake() -> DeterministicFakeMultiVectorEmbedding:
    return DeterministicFakeMultiVectorEmbedding(dim=32, grid=4)


@pytest.fixture(params=["edge", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path, fake: DeterministicFakeMultiVectorEmbedding):
    with open_store(request.param, tmp_path, fake, text_metadata_mode=MetadataMode.NONE) as opened:
        yield opened


def test_retrieved_text_node_explains_its_raw_score(
    store: QdrantMultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    index = VectorStoreIndex.from_vector_store(store, embed_model=MultiVectorEmbedding(fake))
    index.insert_nodes([TextNode(text="pears and red apples", id_="fruit"), TextNode(text="blue cars", id_="cars")])
    [hit] = index.as_retriever(similarity_top_k=1).retrieve("red apples")
    ex = store.explain("red apples", hit)
    assert ex.record is not None and ex.record.id == hit.node.node_id == "fruit"
    assert ex.score == pytest.approx(hit.node.metadata[RAW_SCORE_KEY], abs=1e-4)
    assert ex.relevance == pytest.approx(hit.score, abs=1e-4)
    assert [m.document_label for m in ex.matches()] == ["red", "apples"]
    assert store.explain("red apples", hit.node).score == pytest.approx(store.explain("red apples", "fruit").score)


async def test_image_node_maps_over_its_image(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    checkerboard(64).save(path)
    node = ImageNode(image_path=str(path), id_="scan")
    await store.async_add([node])  # the store embeds the image itself, with its own (fake) model
    ex = await store.aexplain("red apples", "scan")
    assert ex.image is not None and ex.grid is not None and ex.heatmaps(ex.grid).shape == (2, 4, 4)
    assert ex.score == pytest.approx(store.explain("red apples", node).score)


def test_bad_node(store: QdrantMultiVectorStore) -> None:
    with pytest.raises(InvalidInputError, match="no record with id 'nope'"):
        store.explain("apples", "nope")
    with pytest.raises(InvalidInputError, match="pass a node"):
        store.explain("apples", 3.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["edge", "memory"])
async def test_text_node_embedded_with_its_metadata_keeps_its_word_labels(
    backend: str, tmp_path: Path, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    # the default text_metadata_mode embeds "topic: orchard\n\npears and red apples" but stores the bare text: the
    # explanation labels the matches with the words of what was embedded, as the LangChain store does
    with open_store(backend, tmp_path, fake) as store:
        node = TextNode(text="pears and red apples", id_="fruit", metadata={"topic": "orchard"})
        store.add([node])
        for ex in (store.explain("Red apples orchard", "fruit"), await store.aexplain("Red apples orchard", node)):
            assert ex.document_tokens is not None and "orchard" in ex.document_tokens
            assert [(w.text, w.document_words) for w in ex.words()] == [
                ("Red", ("red",)),
                ("apples", ("apples",)),
                ("orchard", ("orchard",)),
            ]
            assert ex.table().splitlines()[1].split()[1:3] in (
                ["Red", "red"],
                ["apples", "apples"],
                ["orchard", "orchard"],
            )
        with open_store(backend, tmp_path / "plain", fake, text_metadata_mode=MetadataMode.NONE) as other:
            other.add([node])  # bare text embedded: the content labels it
            assert [w.document_words for w in other.explain("red apples", "fruit").words()] == [("red",), ("apples",)]
