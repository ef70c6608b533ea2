"""QdrantMultiVectorStore on its own: add/get round trips (text and image nodes), deletes, query modes, errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import (
    Document,
    ImageNode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from PIL import Image

from llama_index_multivec import RAW_SCORE_KEY, MultiVectorEmbedding, QdrantMultiVectorStore
from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.scoring import maxsim, relevance


class TextOnly(MultiVectorBaseEmbedding):
    """A text-only embedder (the fake's text vectors), to check image nodes are refused."""

    def __init__(self) -> None:
        super().__init__(model_name="text-only")
        self._fake = DeterministicFakeMultiVectorEmbedding(dim=32)

    @property
    def dim(self) -> int:
        return 32

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        return self._fake._embed_texts(texts, is_query=is_query)


def text_nodes() -> list[TextNode]:
    doc_rel = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-1")}
    return [
        TextNode(id_="a", text="red apples are sweet", metadata={"genre": "fruit"}, relationships=doc_rel),
        TextNode(id_="b", text="blue cars drive fast", metadata={"genre": "auto"}, relationships=doc_rel),
        TextNode(
            id_="c",
            text="green pears",
            metadata={"genre": "fruit"},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-2")},
        ),
    ]


def png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.new("RGB", (16, 16), color).save(path)
    return path


def png_b64(color: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_nodes_round_trip_with_metadata_and_relationships(store: QdrantMultiVectorStore) -> None:
    nodes = text_nodes()
    nodes[0].excluded_llm_metadata_keys = ["genre"]
    assert store.add(nodes) == ["a", "b", "c"]
    got = store.get_nodes(["c", "a", "missing"])
    assert [n.node_id for n in got] == ["c", "a"]
    a = got[1]
    assert isinstance(a, TextNode)
    assert a.text == "red apples are sweet"
    assert a.metadata == {"genre": "fruit"}
    assert a.ref_doc_id == "doc-1"
    assert a.excluded_llm_metadata_keys == ["genre"]
    assert a.hash == nodes[0].hash
    assert {n.node_id for n in store.get_nodes()} == {"a", "b", "c"}


def test_stores_text_and_embeds_its_own_query(store: QdrantMultiVectorStore) -> None:
    assert store.stores_text is True
    assert store.is_embedding_query is False
    assert store.client is store.store


def test_query_scores_are_relevance_with_raw_maxsim_in_metadata(
    store: QdrantMultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding
) -> None:
    store.add(text_nodes())
    result = store.query(VectorStoreQuery(query_str="sweet apples", similarity_top_k=2))
    assert result.ids is not None and result.nodes is not None and result.similarities is not None
    assert result.ids[0] == "a"
    assert len(result.ids) == 2
    q = fake.embed_query("sweet apples")
    expected_raw = maxsim(q, fake.embed_text("red apples are sweet"))
    top = result.nodes[0]
    assert top.metadata[RAW_SCORE_KEY] == pytest.approx(expected_raw, abs=1e-2)
    assert result.similarities[0] == pytest.approx(relevance(expected_raw, len(q)), abs=1e-2)
    assert all(0.0 <= s <= 1.0 for s in result.similarities)
    assert result.similarities == sorted(result.similarities, reverse=True)
    # The raw score is hidden from the LLM and from embedders.
    assert RAW_SCORE_KEY not in top.get_content(metadata_mode="llm")  # type: ignore[arg-type]


def test_text_metadata_mode_decides_what_is_embedded(backend: str, tmp_path: Path) -> None:
    from llama_index.core.schema import MetadataMode

    from tests.llama_index.conftest import open_store

    node = TextNode(id_="n", text="plain words", metadata={"topic": "zebra"})
    with open_store(backend, tmp_path / "embed", text_metadata_mode=MetadataMode.EMBED) as with_meta:
        with_meta.add([node])
        hit = with_meta.query(VectorStoreQuery(query_str="zebra", similarity_top_k=1)).nodes
        assert hit is not None and hit[0].metadata[RAW_SCORE_KEY] == pytest.approx(1.0, abs=1e-2)
    with open_store(backend, tmp_path / "none", text_metadata_mode=MetadataMode.NONE) as bare:
        bare.add([node])
        hit = bare.query(VectorStoreQuery(query_str="zebra", similarity_top_k=1)).nodes
        assert hit is not None and hit[0].metadata[RAW_SCORE_KEY] < 0.9


def test_readding_a_node_id_overwrites_it(store: QdrantMultiVectorStore) -> None:
    store.add([TextNode(id_="x", text="first version")])
    store.add([TextNode(id_="x", text="second version")])
    [node] = store.get_nodes()
    assert node.get_content() == "second version"


def test_delete_by_ref_doc_id(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    store.delete("doc-1")
    assert [n.node_id for n in store.get_nodes()] == ["c"]


def test_delete_nodes_by_ids_filters_and_both(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    fruit = MetadataFilters(filters=[MetadataFilter(key="genre", value="fruit")])
    store.delete_nodes(node_ids=["b", "c"], filters=fruit)  # only c is both
    assert {n.node_id for n in store.get_nodes()} == {"a", "b"}
    store.delete_nodes(filters=fruit)
    assert {n.node_id for n in store.get_nodes()} == {"b"}
    store.delete_nodes(node_ids=[])
    assert len(store.get_nodes()) == 1
    store.delete_nodes(node_ids=["b"])
    assert store.get_nodes() == []
    with pytest.raises(InvalidInputError, match="clear"):
        store.delete_nodes()


def test_get_nodes_by_ids_and_filters(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    fruit = MetadataFilters(filters=[MetadataFilter(key="genre", value="fruit")])
    assert {n.node_id for n in store.get_nodes(node_ids=["a", "b"], filters=fruit)} == {"a"}
    assert len(store.get_nodes(node_ids=[])) == 3  # as in LlamaIndex's stores: empty means no restriction


def test_clear(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    store.clear()
    assert store.get_nodes() == []
    store.add(text_nodes()[:1])
    assert len(store.get_nodes()) == 1


def test_query_restricted_to_node_ids_and_doc_ids(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    by_node = store.query(VectorStoreQuery(query_str="red apples", similarity_top_k=3, node_ids=["b", "c"]))
    assert set(by_node.ids or []) == {"b", "c"}
    by_doc = store.query(VectorStoreQuery(query_str="red apples", similarity_top_k=3, doc_ids=["doc-2"]))
    assert by_doc.ids == ["c"]
    # VectorStoreIndex passes node_ids=[] for stores that keep their own nodes: no restriction.
    unrestricted = store.query(VectorStoreQuery(query_str="red apples", similarity_top_k=3, node_ids=[]))
    assert len(unrestricted.ids or []) == 3


def test_similarity_top_k_is_honoured(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    for k in (1, 2, 3):
        assert len(store.query(VectorStoreQuery(query_str="fruit", similarity_top_k=k)).ids or []) == k


def test_mmr_mode_and_unsupported_modes(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    mmr = store.query(
        VectorStoreQuery(query_str="red apples", similarity_top_k=2, mode=VectorStoreQueryMode.MMR), fetch_k=3
    )
    assert mmr.ids is not None and mmr.ids[0] == "a" and len(mmr.ids) == 2
    for mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.TEXT_SEARCH):
        with pytest.raises(InvalidInputError, match="not supported"):
            store.query(VectorStoreQuery(query_str="red", similarity_top_k=1, mode=mode))
    with pytest.raises(InvalidInputError, match=r"unknown option\(s\) \['alpha'\]"):
        store.query(VectorStoreQuery(query_str="red", similarity_top_k=1), alpha=0.3)


def test_query_needs_text_or_token_vectors(store: QdrantMultiVectorStore) -> None:
    store.add(text_nodes())
    with pytest.raises(InvalidInputError, match="pooled vector cannot be scored"):
        store.query(VectorStoreQuery(query_embedding=[0.1] * 32, similarity_top_k=1))


def test_image_nodes_round_trip_and_are_found_by_their_vectors(
    store: QdrantMultiVectorStore, fake: DeterministicFakeMultiVectorEmbedding, tmp_path: Path
) -> None:
    red = png(tmp_path / "red.png", (255, 0, 0))
    blue = png_b64((0, 0, 255))
    nodes = [
        ImageNode(id_="img-path", image_path=str(red), text="a red square", metadata={"kind": "figure"}),
        ImageNode(id_="img-b64", image=blue, image_mimetype="image/png"),
        TextNode(id_="txt", text="red apples"),
    ]
    store.add(nodes)
    by_path, by_b64 = store.get_nodes(["img-path", "img-b64"])
    assert isinstance(by_path, ImageNode) and isinstance(by_b64, ImageNode)
    assert by_path.image_path == str(red) and by_path.text == "a red square"
    assert by_path.metadata == {"kind": "figure"}
    assert by_b64.image == blue and by_b64.image_mimetype == "image/png"
    # Precomputed query token vectors (here: the blue image's own) are accepted in place of query_str.
    query = fake.embed_image(io.BytesIO(base64.b64decode(blue)))
    result = store.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=1))
    assert result.ids == ["img-b64"]
    assert isinstance((result.nodes or [])[0], ImageNode)
    # Text queries reach image nodes too; modality restricts the results.
    images = store.query(VectorStoreQuery(query_str="red", similarity_top_k=3), modality="image")
    assert set(images.ids or []) == {"img-path", "img-b64"}
    texts = store.query(VectorStoreQuery(query_str="red", similarity_top_k=3), modality="text")
    assert texts.ids == ["txt"]


def test_invalid_nodes_raise_before_anything_is_written(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    good = TextNode(id_="ok", text="fine")
    with pytest.raises(InvalidInputError, match=r"nodes\[1\].*no image"):
        store.add([good, ImageNode(id_="no-image")])
    with pytest.raises(InvalidInputError, match=r"nodes\[1\].*no text"):
        store.add([good, TextNode(id_="empty", text="  ")])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match=r"nodes\[2\].*not a readable image") as err:
        store.add(
            [good, ImageNode(id_="fine", image=png_b64((1, 2, 3))), ImageNode(image_path=str(tmp_path / "broken.png"))]
        )
    assert err.value.index == 2
    with pytest.raises(InvalidInputError, match="single node"):
        store.add(good)  # type: ignore[arg-type]
    assert store.get_nodes() == []


def test_text_only_embedder_refuses_image_nodes(backend: str, tmp_path: Path) -> None:
    from tests.llama_index.conftest import open_store

    with open_store(backend, tmp_path, TextOnly()) as s:
        with pytest.raises(InvalidInputError, match="embeds text only"):
            s.add([TextNode(text="fine"), ImageNode(image=png_b64((9, 9, 9)))])
        assert s.get_nodes() == []


def test_constructor_accepts_the_llama_index_wrapper_and_an_existing_store(
    fake: DeterministicFakeMultiVectorEmbedding,
) -> None:
    with QdrantMultiVectorStore(MultiVectorEmbedding(fake), "wrapped", location=":memory:") as wrapped:
        assert wrapped.embedder.embedder is fake  # type: ignore[attr-defined]  # behind the shared cache
        assert wrapped.collection_name == "wrapped"
        wrapped.add([TextNode(id_="n", text="shared store")])
        other = QdrantMultiVectorStore.from_store(wrapped.store)
        assert [n.node_id for n in other.get_nodes()] == ["n"]


def test_records_written_by_the_core_store_read_as_nodes(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    from multivec.testing import write_text_pdf

    store.store.add_texts(["core text"], metadatas=[{"genre": "core"}], ids=["core-1"])
    red = png(tmp_path / "red.png", (255, 0, 0))
    store.store.add_images([red], ids=["core-img"])
    pdf = write_text_pdf(tmp_path / "doc.pdf", ["Wing flutter"])
    [page_id] = store.store.add_pdfs([pdf], dpi=20)
    text, image, page = store.get_nodes(["core-1", "core-img", page_id])
    assert isinstance(text, TextNode) and not isinstance(text, ImageNode)
    assert text.text == "core text" and text.metadata == {"genre": "core"}
    assert isinstance(image, ImageNode) and image.image_path == str(red)
    assert isinstance(page, ImageNode) and page.image_path is None
    assert page.metadata["file_path"] == str(pdf) and page.metadata["page_label"] == "1"


def test_wrong_collaborators_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        MultiVectorEmbedding("not an embedder")  # type: ignore[arg-type]


async def test_async_twins(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    red = png(tmp_path / "red.png", (255, 0, 0))
    nodes = [*text_nodes(), ImageNode(id_="img", image_path=str(red))]
    assert await store.async_add(nodes) == ["a", "b", "c", "img"]
    got = await store.aget_nodes(["img", "a"])
    assert [n.node_id for n in got] == ["img", "a"] and isinstance(got[0], ImageNode)
    result = await store.aquery(VectorStoreQuery(query_str="sweet apples", similarity_top_k=1))
    assert result.ids == ["a"]
    sync_result = store.query(VectorStoreQuery(query_str="sweet apples", similarity_top_k=1))
    assert result.similarities == pytest.approx(sync_result.similarities)
    await store.adelete("doc-1")
    assert {n.node_id for n in await store.aget_nodes()} == {"c", "img"}
    await store.adelete_nodes(node_ids=["img"])
    assert [n.node_id for n in await store.aget_nodes()] == ["c"]
    await store.aclear()
    assert await store.aget_nodes() == []


def test_document_nodes_keep_their_type(store: QdrantMultiVectorStore) -> None:
    store.add([Document(id_="doc", text="a whole document")])
    [node] = store.get_nodes(["doc"])
    assert type(node).__name__ in ("Document", "TextNode")
    assert node.get_content() == "a whole document"


async def test_pdfs_become_page_image_nodes(store: QdrantMultiVectorStore, tmp_path: Path) -> None:
    from llama_index.core.schema import ImageNode

    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "wings.pdf", ["Wing flutter", "Shock waves"])
    ids = store.add_pdfs([pdf], dpi=40, metadatas=[{"topic": "aero"}])
    pages = store.get_nodes(ids)
    assert [type(n) for n in pages] == [ImageNode, ImageNode]
    assert [(n.metadata["file_path"], n.metadata["page_label"]) for n in pages] == [(str(pdf), "1"), (str(pdf), "2")]
    assert [n.metadata["page_text"].strip() for n in pages] == ["Wing flutter", "Shock waves"]
    assert all(n.metadata["topic"] == "aero" for n in pages)
    assert await store.aadd_pdfs([str(pdf)], dpi=40) == ids  # same file: same page ids, replaced
    assert len(store.get_nodes()) == 2
