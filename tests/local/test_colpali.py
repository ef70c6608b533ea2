"""ColPaliEmbeddings / BiPaliEmbeddings on tiny random ColPali, ColQwen2 and BiPali checkpoints (real model code)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from multivec.errors import ConfigurationError, InvalidInputError, ModelLoadError
from tests.local.conftest import png_bytes

MULTI = ["colpali", "colqwen2"]
ALL = [*MULTI, "bipali"]
TEXTS = ["hello", "a much longer text about supersonic flow over a flat plate and its boundary layer", "wing"]


def _emb(request: pytest.FixtureRequest, name: str) -> Any:
    return request.getfixturevalue(name)


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", MULTI)
def test_multi_vector_shapes_dtype_and_unit_rows(request: pytest.FixtureRequest, name: str) -> None:
    emb = _emb(request, name)
    assert emb.dim == 128 and emb.is_multi_vector
    query = emb.embed_query("hello")
    image = emb.embed_image(png_bytes())
    for out in (query, image):
        assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 128 and out.flags.c_contiguous
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)  # no zero (padding) rows
    assert len(emb.embed_query(TEXTS[1])) > len(query)


@pytest.mark.parametrize("name", ALL)
def test_vectors_do_not_depend_on_batch_mates(request: pytest.FixtureRequest, name: str) -> None:
    emb = _emb(request, name)
    alone = [emb.embed_text(t) for t in TEXTS]
    _assert_same(emb.embed_documents(TEXTS), alone)
    _assert_same(emb.embed_documents(list(reversed(TEXTS)))[::-1], alone)
    emb.batch_size = 2  # several forward passes over length-sorted batches; results still in input order
    try:
        _assert_same(emb.embed_documents([*TEXTS, *TEXTS]), [*alone, *alone])
    finally:
        emb.batch_size = 8
    images = [png_bytes((64, 48)), png_bytes((200, 100), "blue"), png_bytes((56, 90), "green")]
    alone_images = [emb.embed_image(i) for i in images]
    _assert_same(emb.embed_images(images), alone_images)
    if name == "colqwen2":  # dynamic resolution: different sizes give different lengths, padded on the left
        assert len({len(v) for v in alone_images}) > 1


def test_padding_rows_are_dropped_by_mask_not_by_value(colpali: Any) -> None:
    short, long = colpali.embed_documents(["hi", TEXTS[1]])
    # The ColPali query ends with 10 augmentation <pad> tokens: real rows although their token is the pad token.
    assert len(short) == len(colpali.embed_text("hi")) >= 10 + 1
    assert len(long) > len(short)


@pytest.mark.parametrize("name", ALL)
def test_documents_are_encoded_like_queries_everywhere(request: pytest.FixtureRequest, name: str) -> None:
    emb = _emb(request, name)
    text = "lift distribution of a swept wing"
    query = emb.embed_query(text)
    np.testing.assert_array_equal(emb.embed_text(text), query)
    np.testing.assert_array_equal(emb.embed_documents([text])[0], query)
    np.testing.assert_array_equal(emb.embed_documents_batch([text, "x"])[0], query)
    assert not np.array_equal(emb.embed_query("another text"), query)


def test_query_path_matches_colpali_engine_directly(colpali: Any, tiny_colpali_dir: Path) -> None:
    import torch
    from colpali_engine.models import ColPali, ColPaliProcessor

    model = ColPali.from_pretrained(tiny_colpali_dir).eval()
    processor = ColPaliProcessor.from_pretrained(tiny_colpali_dir)
    with torch.inference_mode():
        expected = model(**processor.process_queries(["hello"]))[0].numpy()
        image = Image.open(io.BytesIO(png_bytes())).convert("RGB")
        expected_image = model(**processor.process_images([image]))[0].numpy()
    np.testing.assert_allclose(colpali.embed_query("hello"), expected, atol=1e-6)
    np.testing.assert_allclose(colpali.embed_image(image), expected_image, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_every_image_input_type_gives_the_same_vectors(
    request: pytest.FixtureRequest, name: str, tmp_path: Path
) -> None:
    emb = _emb(request, name)
    data = png_bytes((80, 60), "purple")
    path = tmp_path / "page.png"
    path.write_bytes(data)
    inputs = [
        str(path),
        path,
        data,
        io.BytesIO(data),
        Image.open(io.BytesIO(data)),
        Image.open(io.BytesIO(data)).convert("RGBA"),
        "data:image/png;base64," + base64.b64encode(data).decode(),
    ]
    reference = emb.embed_image(path)
    for out in emb.embed_images(inputs):
        np.testing.assert_allclose(out, reference, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
async def test_async_twins_equal_sync(request: pytest.FixtureRequest, name: str) -> None:
    emb = _emb(request, name)
    images = [png_bytes(), png_bytes((90, 70), "blue")]
    np.testing.assert_array_equal(await emb.aembed_query("hello"), emb.embed_query("hello"))
    np.testing.assert_array_equal(await emb.aembed_text("hello"), emb.embed_text("hello"))
    _assert_same(await emb.aembed_documents(TEXTS), emb.embed_documents(TEXTS))
    _assert_same(await emb.aembed_documents_batch(TEXTS), emb.embed_documents_batch(TEXTS))
    np.testing.assert_array_equal(await emb.aembed_image(images[0]), emb.embed_image(images[0]))
    _assert_same(await emb.aembed_images(images), emb.embed_images(images))
    _assert_same(await emb.aembed_images_batch(images), emb.embed_images_batch(images))


async def test_concurrent_async_calls_are_serialised_off_the_event_loop(colqwen2: Any) -> None:
    model = colqwen2._model
    active, peak, threads = 0, 0, set()
    guard = threading.Lock()
    original = model.forward

    def counting_forward(*args: Any, **kwargs: Any) -> Any:
        nonlocal active, peak
        with guard:
            active += 1
            peak = max(peak, active)
        threads.add(threading.current_thread().name)
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                active -= 1

    model.forward = counting_forward
    try:
        texts = [f"query number {i}" for i in range(6)]
        results = await asyncio.gather(
            *(colqwen2.aembed_query(t) for t in texts), colqwen2.aembed_images([png_bytes(), png_bytes((40, 80))])
        )
    finally:
        del model.forward
    assert peak == 1
    assert threading.main_thread().name not in threads
    for text, out in zip(texts, results, strict=False):
        np.testing.assert_allclose(out, colqwen2.embed_query(text), atol=1e-5)


def test_bipali_gives_one_unit_vector(bipali: Any) -> None:
    assert bipali.is_multi_vector is False and bipali.dim == 32
    for out in (bipali.embed_query("hello"), bipali.embed_image(png_bytes()), *bipali.embed_documents(TEXTS)):
        assert out.shape == (32,) and out.dtype == np.float32
        assert abs(float(np.linalg.norm(out)) - 1.0) < 1e-5
    assert not np.allclose(bipali.embed_query("hello"), bipali.embed_image(png_bytes()))


def test_bad_inputs_raise_typed_errors_naming_the_position(colqwen2: Any) -> None:
    with pytest.raises(InvalidInputError) as err:
        colqwen2.embed_documents(["fine", "   "])
    assert err.value.index == 1
    with pytest.raises(InvalidInputError) as err:
        colqwen2.embed_documents(["fine", 3])
    assert err.value.index == 1
    with pytest.raises(InvalidInputError) as err:
        colqwen2.embed_images([png_bytes(), b"not an image"])
    assert err.value.index == 1
    with pytest.raises(InvalidInputError, match="28x28") as err:
        colqwen2.embed_images_batch([png_bytes(), png_bytes(), png_bytes((20, 40))])
    assert err.value.index == 2
    with pytest.raises(InvalidInputError, match="aspect ratio") as err:
        colqwen2.embed_images([png_bytes(), Image.new("RGB", (6000, 28))])
    assert err.value.index == 1
    with pytest.raises(InvalidInputError, match="aspect ratio"):
        colqwen2.embed_image(Image.new("RGB", (6000, 28)))
    with pytest.raises(InvalidInputError):
        colqwen2.embed_images(png_bytes())  # a single image where a list is expected


def test_min_image_size_comes_from_the_model_family(colpali: Any, colqwen2: Any) -> None:
    assert colqwen2.min_image_size == (28, 28)
    assert colpali.min_image_size == (3, 3)
    assert colpali.embed_image(Image.new("RGB", (5, 5))).shape[1] == 128


def test_explicit_model_class_and_bad_options(tiny_colpali_dir: Path) -> None:
    from colpali_engine.models import ColPali

    from multivec.embeddings import ColPaliEmbeddings

    by_name = ColPaliEmbeddings(str(tiny_colpali_dir), model_class="ColPali", device="cpu")
    by_class = ColPaliEmbeddings(str(tiny_colpali_dir), model_class=ColPali, device="cpu")
    np.testing.assert_array_equal(by_name.embed_query("x"), by_class.embed_query("x"))
    with pytest.raises(ConfigurationError, match="NoSuchModel"):
        ColPaliEmbeddings(str(tiny_colpali_dir), model_class="NoSuchModel", device="cpu")
    with pytest.raises(ConfigurationError, match="batch_size"):
        ColPaliEmbeddings(str(tiny_colpali_dir), batch_size=0, device="cpu")
    with pytest.raises(ConfigurationError, match="torch_dtype"):
        ColPaliEmbeddings(str(tiny_colpali_dir), torch_dtype="int8", device="cpu")


def test_reduced_precision_still_gives_unit_float32_rows(tiny_colpali_dir: Path) -> None:
    from multivec.embeddings import ColPaliEmbeddings

    emb = ColPaliEmbeddings(str(tiny_colpali_dir), device="cpu", torch_dtype="bfloat16")
    out = emb.embed_query("hello")
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_unknown_architecture_says_to_pass_model_class(tiny_colpali_dir: Path, tmp_path: Path) -> None:
    from multivec.embeddings import ColPaliEmbeddings

    odd = tmp_path / "odd"
    shutil.copytree(tiny_colpali_dir, odd)
    config = json.loads((odd / "config.json").read_text())
    config.update(architectures=["Mystery"], model_type="mystery")
    (odd / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="model_class="):
        ColPaliEmbeddings(str(odd), device="cpu")


def test_bipali_picks_the_bi_class_from_the_family(tiny_colpali_dir: Path) -> None:
    from multivec.embeddings import BiPaliEmbeddings

    # A ColPali checkpoint's config says ColPali; BiPaliEmbeddings maps its model_type to BiPali instead.
    emb = BiPaliEmbeddings(str(tiny_colpali_dir), device="cpu")
    assert type(emb._model).__name__ == "BiPali" and emb.embed_query("x").shape == (32,)


def test_offline_without_a_local_copy_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from multivec.embeddings import BiPaliEmbeddings, ColPaliEmbeddings

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-home" / "hub"))
    with pytest.raises(ModelLoadError, match=r"vidore/colpali-v1\.3.*HF_HUB_OFFLINE") as err:
        ColPaliEmbeddings(device="cpu")
    assert "Traceback" not in str(err.value)
    with pytest.raises(ModelLoadError, match="vidore/bipali"):
        BiPaliEmbeddings(device="cpu")
    with pytest.raises(ModelLoadError, match="does not exist"):
        ColPaliEmbeddings(str(tmp_path / "no" / "such" / "dir"), device="cpu")
    with pytest.raises(ModelLoadError, match=r"without config\.json"):
        ColPaliEmbeddings(str(tmp_path), device="cpu")
