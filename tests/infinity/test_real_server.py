"""InfinityEmbeddings against a real Infinity server, compared with the same models run directly in this process."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from multivec.embeddings.infinity import InfinityEmbeddings
from multivec.errors import InfinityError
from multivec.images import load_image
from multivec.types import ImageInput
from tests.infinity._helpers import MODES, call
from tests.infinity._reference import assert_same, col_images, col_queries, colbert_tokens
from tests.infinity.conftest import API_KEY

pytestmark = pytest.mark.infinity

COL_MODELS = {"tiny-colpali": "ColPali", "tiny-colqwen2": "ColQwen2"}
TEXTS = [
    "hello",
    "What is the boundary layer thickness on a flat plate at supersonic speed?",
    "late interaction",
]


@pytest.fixture(params=list(COL_MODELS))
def col_model(request: pytest.FixtureRequest, tiny_colpali_dir: Path, tiny_colqwen2_dir: Path) -> tuple[str, Path, str]:
    name = request.param
    directory = {"tiny-colpali": tiny_colpali_dir, "tiny-colqwen2": tiny_colqwen2_dir}[name]
    return name, directory, COL_MODELS[name]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(64, 48), (200, 100), (40, 90), (33, 33)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def test_health_and_models(make_infinity: Callable[..., InfinityEmbeddings]) -> None:
    emb = make_infinity("tiny-colpali")
    assert emb.health()
    capabilities = {m.id: m.supports_images for m in emb.models()}
    assert capabilities == {"tiny-colpali": True, "tiny-colqwen2": True, "minilm-colbert": False}


def test_the_server_pads_and_the_client_strips(
    infinity_url: str, make_infinity: Callable[..., InfinityEmbeddings]
) -> None:
    body = {"model": "tiny-colpali", "input": TEXTS[:2], "encoding_format": "float"}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    raw = httpx.post(f"{infinity_url}/embeddings", json=body, headers=headers, timeout=60).json()["data"]
    rows = [np.asarray(item["embedding"], np.float32) for item in raw]
    assert len(rows[0]) == len(rows[1]) and not rows[0][-1].any()  # "hello" came back with zero padding rows
    out = make_infinity("tiny-colpali").embed_documents(TEXTS[:2])
    assert len(out[0]) < len(rows[0])
    np.testing.assert_array_equal(out[0], rows[0][: len(out[0])])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_text_matches_the_model(
    make_infinity: Callable[..., InfinityEmbeddings], col_model: tuple[str, Path, str], encoding: str, mode: str
) -> None:
    name, directory, architecture = col_model
    expected = col_queries(directory, architecture, TEXTS)
    emb = make_infinity(name, encoding=encoding)
    assert_same([call(mode, emb, "embed_query", TEXTS[0])], expected[:1])
    assert_same(call(mode, emb, "embed_documents", TEXTS), expected)
    # Infinity encodes every text of a Col* model as a query: embed_text is the same as embed_query
    assert_same([call(mode, emb, "embed_text", TEXTS[1])], expected[1:2])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_images_match_the_model(
    make_infinity: Callable[..., InfinityEmbeddings],
    col_model: tuple[str, Path, str],
    encoding: str,
    mode: str,
    tmp_path: Path,
) -> None:
    name, directory, architecture = col_model
    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(_jpeg_bytes())
    inputs: list[ImageInput] = [*_images(), jpeg]
    expected = col_images(directory, architecture, [load_image(x) for x in inputs])
    emb = make_infinity(name, encoding=encoding)
    assert_same([call(mode, emb, "embed_image", inputs[0])], expected[:1])
    assert_same(call(mode, emb, "embed_images", inputs), expected)


@pytest.mark.parametrize("mode", MODES)
def test_batch_methods(make_infinity: Callable[..., InfinityEmbeddings], tiny_colqwen2_dir: Path, mode: str) -> None:
    emb = make_infinity("tiny-colqwen2", embed_batch_size=2, max_concurrency=3)
    assert_same(call(mode, emb, "embed_documents_batch", TEXTS), col_queries(tiny_colqwen2_dir, "ColQwen2", TEXTS))
    imgs = _images()
    assert_same(call(mode, emb, "embed_images_batch", imgs), col_images(tiny_colqwen2_dir, "ColQwen2", imgs))


def _many_texts() -> list[str]:
    return [("word " * (1 + i % 7)).strip() + f" {i}" for i in range(16)]


async def test_concurrent_async_calls_leak_no_padding(
    make_infinity: Callable[..., InfinityEmbeddings], col_model: tuple[str, Path, str]
) -> None:
    name, directory, architecture = col_model
    texts, imgs = _many_texts(), _images()
    async with make_infinity(name) as emb:
        text_out, image_out = await asyncio.gather(
            asyncio.gather(*(emb.aembed_query(t) for t in texts)),
            asyncio.gather(*(emb.aembed_image(i) for i in imgs)),
        )
    assert_same(list(text_out), col_queries(directory, architecture, texts))
    assert_same(list(image_out), col_images(directory, architecture, imgs))


def test_concurrent_threads_leak_no_padding(
    make_infinity: Callable[..., InfinityEmbeddings], tiny_colqwen2_dir: Path
) -> None:
    texts = _many_texts()
    with make_infinity("tiny-colqwen2") as emb, ThreadPoolExecutor(8) as pool:
        out = list(pool.map(emb.embed_query, texts))
    assert_same(out, col_queries(tiny_colqwen2_dir, "ColQwen2", texts))


@pytest.mark.parametrize("mode", MODES)
def test_forty_images_in_one_call(
    make_infinity: Callable[..., InfinityEmbeddings], tiny_colpali_dir: Path, mode: str
) -> None:
    rng = np.random.default_rng(2)
    imgs = [Image.fromarray(rng.integers(0, 256, (8 + i % 4, 8 + i % 3, 3), dtype=np.uint8)) for i in range(40)]
    emb = make_infinity("tiny-colpali")
    assert_same(call(mode, emb, "embed_images", imgs), col_images(tiny_colpali_dir, "ColPali", imgs))


def test_large_image(make_infinity: Callable[..., InfinityEmbeddings], tiny_colqwen2_dir: Path) -> None:
    big = Image.fromarray(np.random.default_rng(3).integers(0, 256, (1200, 1600, 3), dtype=np.uint8))
    emb = make_infinity("tiny-colqwen2")
    assert_same([emb.embed_image(big)], col_images(tiny_colqwen2_dir, "ColQwen2", [big]))


# -- ColBERT mode ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_colbert_mode_auto_dim_and_normalisation(
    make_infinity: Callable[..., InfinityEmbeddings], minilm_colbert_dir: Path, encoding: str, mode: str
) -> None:
    raw = colbert_tokens(minilm_colbert_dir, TEXTS)
    options = {"model_name": "minilm-colbert", "hidden_dim": "auto", "encoding": encoding}
    unnormalised = make_infinity(**options, normalize=False)
    assert_same(call(mode, unnormalised, "embed_documents", TEXTS), raw, atol=2e-4)
    assert unnormalised.dim == 384
    normalised = make_infinity(**options)
    out = call(mode, normalised, "embed_documents", TEXTS)
    assert_same(out, [r / np.linalg.norm(r, axis=1, keepdims=True) for r in raw], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out[1], axis=1), 1.0, atol=1e-5)
    # no [Q]/[D] markers in Infinity's ColBERT mode: queries and documents are encoded alike
    assert_same([normalised.embed_query(TEXTS[1])], out[1:2], atol=1e-6)


def test_colbert_wrong_hidden_dim_never_returns_vectors(make_infinity: Callable[..., InfinityEmbeddings]) -> None:
    # 384-wide rows: a flat buffer of 3x384 floats divides by 128 and would reshape silently into garbage
    emb = make_infinity("minilm-colbert", hidden_dim=128)
    with pytest.raises(InfinityError, match=r"hidden_dim mismatch.*size 384.*hidden_dim=128"):
        emb.embed_query("hello")


def test_text_only_model_and_images(make_infinity: Callable[..., InfinityEmbeddings]) -> None:
    tiny = Image.new("RGB", (8, 8))
    with pytest.raises(InfinityError, match="cannot embed images"):
        make_infinity("minilm-colbert", hidden_dim=384).embed_image(tiny)
    unchecked = make_infinity("minilm-colbert", hidden_dim=384, check_model=False)
    with pytest.raises(InfinityError, match=r"HTTP 400.*does not support") as info:
        unchecked.embed_image(tiny)
    assert info.value.status_code == 400


def test_supports_images_follows_the_served_capabilities(
    make_infinity: Callable[..., InfinityEmbeddings], tmp_path: Path
) -> None:
    from multivec.store import MultiVectorStore
    from multivec.testing import write_text_pdf

    assert make_infinity("tiny-colpali").supports_images
    colbert = make_infinity("minilm-colbert", hidden_dim=384)
    assert not colbert.supports_images
    pdf = write_text_pdf(tmp_path / "notes.pdf", ["Swept wings stall at the tips first.", "Laminar flow."])
    with MultiVectorStore(colbert) as store:  # a text-only served model indexes PDF pages by their text layer
        records = store.get(store.add_pdfs([pdf]))
    assert [(r.modality, r.page) for r in records] == [("text", 1), ("text", 2)]
    assert "Swept wings" in (records[0].content or "")


async def test_async_pdf_indexing_asks_the_server_what_the_model_takes(
    make_infinity: Callable[..., InfinityEmbeddings], tmp_path: Path
) -> None:
    from multivec.store import MultiVectorStore
    from multivec.testing import write_text_pdf

    pdf = write_text_pdf(tmp_path / "notes.pdf", ["Swept wings stall at the tips first."])
    colbert = make_infinity("minilm-colbert", hidden_dim=384)  # capabilities not asked yet
    async with MultiVectorStore(colbert) as store:
        records = await store.aget(await store.aadd_pdfs([pdf]))
    assert [(r.modality, r.page) for r in records] == [("text", 1)]
    colpali = make_infinity("tiny-colpali")
    async with MultiVectorStore(colpali) as store:
        records = await store.aget(await store.aadd_pdfs([pdf], dpi=30))
    assert [(r.modality, r.page, r.metadata["page_dpi"]) for r in records] == [("image", 1, 30)]


# -- errors from the real server ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_unknown_model(make_infinity: Callable[..., InfinityEmbeddings], mode: str) -> None:
    with pytest.raises(InfinityError, match=r"'nope' is not served.*tiny-colpali"):
        call(mode, make_infinity("nope"), "embed_query", "hello")
    unchecked = make_infinity("nope", check_model=False)
    with pytest.raises(InfinityError, match=r"HTTP 400.*Invalid model") as info:
        call(mode, unchecked, "embed_query", "hello")
    assert info.value.status_code == 400 and "tiny-colpali" in (info.value.server_message or "")


def test_server_side_image_rejection_is_not_retried(make_infinity: Callable[..., InfinityEmbeddings]) -> None:
    emb = make_infinity("tiny-colpali", max_retries=3)
    emb.min_image_size = (1, 1)  # let a 2x2 image through to the server, which needs 3x3
    with pytest.raises(InfinityError, match=r"HTTP 400 for .*3x3") as info:
        emb.embed_image(Image.new("RGB", (2, 2)))
    assert "after" not in str(info.value)  # one attempt


def test_too_many_images_for_one_request_is_a_422(make_infinity: Callable[..., InfinityEmbeddings]) -> None:
    emb = make_infinity("tiny-colpali", max_images_per_request=33)
    with pytest.raises(InfinityError, match=r"HTTP 422.*32") as info:
        emb.embed_images([Image.new("RGB", (4, 4))] * 33)
    assert info.value.status_code == 422


# -- API key (the session server requires one) ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_api_key(
    infinity_url: str, make_infinity: Callable[..., InfinityEmbeddings], tiny_colpali_dir: Path, mode: str
) -> None:
    without = InfinityEmbeddings(url=infinity_url, model_name="tiny-colpali")
    assert call(mode, without, "health")  # /health needs no key
    with pytest.raises(InfinityError, match=r"HTTP 401.*api_key") as info:
        call(mode, without, "embed_query", "hello")
    assert info.value.status_code == 401
    keyed = make_infinity("tiny-colpali")
    assert_same([call(mode, keyed, "embed_query", "hello")], col_queries(tiny_colpali_dir, "ColPali", ["hello"]))
    assert API_KEY not in repr(keyed)
