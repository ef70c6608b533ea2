"""MultiVectorEmbedding: pooled vectors for LlamaIndex, multi-vectors on demand, native async, image nodes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import ImageNode, TextNode
from PIL import Image

from llama_index_multivec import MultiVectorEmbedding
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import pool
from tests.llama_index.test_vector_store import TextOnly


@pytest.fixture
def embed_model(fake: DeterministicFakeMultiVectorEmbedding) -> MultiVectorEmbedding:
    return MultiVectorEmbedding(fake)


def png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.new("RGB", (16, 16), color).save(path)
    return path


def test_single_vectors_are_the_pooled_multivectors(
    embed_model: MultiVectorEmbedding, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    query = embed_model.get_query_embedding("red apples")
    assert isinstance(query, list) and all(isinstance(x, float) for x in query)
    assert np.allclose(query, pool(fake.embed_query("red apples")), atol=1e-6)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    batch = embed_model.get_text_embedding_batch(["red apples", "blue cars", "pears"])
    assert np.allclose(batch[1], embed_model.get_text_embedding("blue cars"))
    assert embed_model.model_name == "deterministic-fake"
    assert embed_model.embed_batch_size == fake.embed_batch_size
    assert embed_model.dim == 32


def test_multivector_methods(embed_model: MultiVectorEmbedding, tmp_path: Path) -> None:
    assert embed_model.get_query_multivector("red apples").shape == (2, 32)
    texts = embed_model.get_text_multivector_batch(["one two three", "four"])
    assert [t.shape for t in texts] == [(3, 32), (1, 32)]
    images = embed_model.get_image_multivector_batch([png(tmp_path / "x.png", (1, 2, 3))])
    assert images[0].shape == (16, 32)  # a 4x4 patch grid


async def test_async_twins_match_sync(embed_model: MultiVectorEmbedding, tmp_path: Path) -> None:
    assert np.allclose(await embed_model.aget_query_embedding("q w"), embed_model.get_query_embedding("q w"))
    assert np.allclose(
        await embed_model.aget_text_embedding_batch(["a b", "c"]), embed_model.get_text_embedding_batch(["a b", "c"])
    )
    image = str(png(tmp_path / "i.png", (200, 10, 10)))
    assert np.allclose(await embed_model.aget_image_embedding(image), embed_model.get_image_embedding(image))
    assert np.allclose(
        (await embed_model.aget_image_multivector_batch([image]))[0],
        embed_model.get_image_multivector_batch([image])[0],
    )
    assert np.allclose(await embed_model.aget_query_multivector("q"), embed_model.get_query_multivector("q"))
    assert np.allclose(
        (await embed_model.aget_text_multivector_batch(["t"]))[0], embed_model.get_text_multivector_batch(["t"])[0]
    )


def test_image_embeddings_from_path_and_bytesio(embed_model: MultiVectorEmbedding, tmp_path: Path) -> None:
    path = png(tmp_path / "p.png", (0, 128, 255))
    from_path = embed_model.get_image_embedding(str(path))
    from_bytes = embed_model.get_image_embedding(io.BytesIO(path.read_bytes()))
    assert np.allclose(from_path, from_bytes)
    assert len(embed_model.get_image_embedding_batch([str(path), str(path)])) == 2


def test_works_as_settings_embed_model_with_llama_index_default_store(embed_model: MultiVectorEmbedding) -> None:
    Settings.embed_model = embed_model
    index = VectorStoreIndex([TextNode(text="red apples"), TextNode(text="blue cars"), TextNode(text="green pears")])
    [hit] = index.as_retriever(similarity_top_k=1).retrieve("blue cars")
    assert hit.node.get_content() == "blue cars"


def test_as_pipeline_transformation_embeds_image_nodes_from_their_image(
    embed_model: MultiVectorEmbedding, tmp_path: Path
) -> None:
    path = str(png(tmp_path / "p.png", (0, 128, 255)))
    nodes = [TextNode(text="plain text"), ImageNode(image_path=path)]
    out = IngestionPipeline(transformations=[embed_model]).run(nodes=nodes)
    assert np.allclose(out[0].embedding or [], embed_model.get_text_embedding("plain text"))
    assert np.allclose(out[1].embedding or [], embed_model.get_image_embedding(path))


async def test_async_transformation(embed_model: MultiVectorEmbedding, tmp_path: Path) -> None:
    path = str(png(tmp_path / "p.png", (5, 5, 5)))
    out = await embed_model.acall([ImageNode(image_path=path), TextNode(text="x y")])
    assert np.allclose(out[0].embedding or [], embed_model.get_image_embedding(path))
    assert np.allclose(out[1].embedding or [], embed_model.get_text_embedding("x y"))


def test_errors(tmp_path: Path) -> None:
    text_only = MultiVectorEmbedding(TextOnly())
    assert len(text_only.get_query_embedding("fine")) == 32
    with pytest.raises(InvalidInputError, match="embeds text only"):
        text_only.get_image_embedding(str(png(tmp_path / "p.png", (1, 1, 1))))
    with pytest.raises(InvalidInputError, match="embeds text only"):
        text_only([ImageNode(image_path=str(tmp_path / "p.png"))])
    with pytest.raises(InvalidInputError, match="empty"):
        MultiVectorEmbedding(DeterministicFakeMultiVectorEmbedding()).get_text_embedding("  ")
    with pytest.raises(ConfigurationError):
        MultiVectorEmbedding(object())  # type: ignore[arg-type]
