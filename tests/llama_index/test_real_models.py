"""The adapter on real model code: tiny offline ColPali (multi-vector) and BiPali (single-vector) checkpoints.

Their weights are random, so these tests check plumbing against the core, not retrieval quality: the LlamaIndex
store ranks text and image nodes exactly like the core store, the reranker like :func:`multivec.rerank.rerank`,
and the embedding gives the pooled (ColPali) or native (BiPali) vector.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import ImageNode, NodeWithScore, TextNode
from PIL import Image

from llama_index_multivec import MaxSimRerank, MaxSimRetriever, MultiVectorEmbedding
from multivec.embeddings.base import MultiVectorMultiModalEmbedding
from multivec.rerank import Modality, rerank
from multivec.scoring import pool
from multivec.store import MultiVectorStore
from tests.llama_index.conftest import open_store

TEXTS = ["wing flutter at transonic speed", "boundary layer transition", "heat transfer in slip flow"]
COLORS = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]


def load(kind: str, model_dir: Path) -> MultiVectorMultiModalEmbedding:
    from multivec.embeddings.colpali import BiPaliEmbeddings, ColPaliEmbeddings

    cls = ColPaliEmbeddings if kind == "colpali" else BiPaliEmbeddings
    return cls(str(model_dir), device="cpu")


@pytest.fixture(scope="module", params=["colpali", "bipali"])
def model(request: pytest.FixtureRequest) -> MultiVectorMultiModalEmbedding:
    return load(str(request.param), request.getfixturevalue(f"tiny_{request.param}_dir"))


def images(tmp_path: Path) -> list[str]:
    paths = []
    for i, color in enumerate(COLORS):
        path = tmp_path / f"page-{i}.png"
        Image.new("RGB", (64, 48), color).save(path)
        paths.append(str(path))
    return paths


def test_embedding_is_pooled_or_native(model: MultiVectorMultiModalEmbedding) -> None:
    embed_model = MultiVectorEmbedding(model)
    native = model.embed_query(TEXTS[0])
    expected = pool(native) if model.is_multi_vector else native
    assert np.allclose(embed_model.get_query_embedding(TEXTS[0]), expected, atol=1e-5)


@pytest.mark.slow
def test_text_and_image_ranking_equals_the_core_store(
    model: MultiVectorMultiModalEmbedding, backend: str, tmp_path: Path
) -> None:
    paths = images(tmp_path)
    core_location: dict[str, str] = {"path": str(tmp_path / "core")} if backend == "edge" else {"location": ":memory:"}
    with MultiVectorStore(model, **core_location) as core, open_store(backend, tmp_path, model) as store:  # type: ignore[arg-type]
        core.add_texts(TEXTS, ids=["t0", "t1", "t2"])
        core.add_images(paths, ids=["i0", "i1", "i2"])
        store.add([TextNode(id_=f"t{i}", text=t) for i, t in enumerate(TEXTS)])
        store.add([ImageNode(id_=f"i{i}", image_path=p) for i, p in enumerate(paths)])
        query = "flutter of a wing"
        expected = core.search(query, k=6)
        got = MaxSimRetriever(store, similarity_top_k=6).retrieve(query)
        assert [n.node.node_id for n in got] == [h.id for h in expected]
        assert [n.score for n in got] == pytest.approx([h.relevance for h in expected], abs=1e-4)
        assert {type(n.node).__name__ for n in got} == {"TextNode", "ImageNode"}


def test_rerank_equals_core_rerank(model: MultiVectorMultiModalEmbedding, tmp_path: Path) -> None:
    paths = images(tmp_path)
    nodes = [NodeWithScore(node=TextNode(text=t)) for t in TEXTS] + [
        NodeWithScore(node=ImageNode(image_path=p)) for p in paths
    ]
    out = MaxSimRerank(embedding=model, top_n=4).postprocess_nodes(nodes, query_str="slip flow")
    modalities: list[Modality] = ["text", "text", "text", "image", "image", "image"]
    ref = rerank(model, "slip flow", [*TEXTS, *paths], modalities=modalities, top_n=4)
    assert [n.node.node_id for n in out] == [nodes[r.index].node.node_id for r in ref]
    assert [n.score for n in out] == pytest.approx([r.relevance for r in ref], abs=1e-5)
