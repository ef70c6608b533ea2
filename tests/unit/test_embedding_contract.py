"""The embedding contract in multivec.embeddings.base, exercised through small concrete subclasses."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from PIL import Image

from multivec.embeddings import MultiVectorBaseEmbedding, MultiVectorMultiModalEmbedding
from multivec.errors import ConfigurationError, EmbeddingError, InvalidInputError


class Recording(MultiVectorMultiModalEmbedding):
    """Embeds each text as one row per word (value = word length) and records every primitive call."""

    dim = 3

    def __init__(self, **kwargs: object) -> None:
        super().__init__(model_name="recording", **kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[str, int, bool]] = []
        self.threads: set[int] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        self.calls.append(("text", len(texts), is_query))
        self.threads.add(threading.get_ident())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        self.in_flight -= 1
        return [np.full((len(t.split()), 3), len(t), dtype=np.float32) for t in texts]

    def _embed_images(self, images: list[Image.Image]) -> list[np.ndarray]:
        self.calls.append(("image", len(images), False))
        return [np.full((2, 3), img.width, dtype=np.float32) for img in images]


class AsyncRecording(Recording):
    """Native async primitive whose concurrency we can observe."""

    async def _aembed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return [np.full((1, 3), len(t), dtype=np.float32) for t in texts]


def test_abstract_bases_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError):
        MultiVectorBaseEmbedding(model_name="x")  # type: ignore[abstract]
    with pytest.raises(TypeError):
        MultiVectorMultiModalEmbedding(model_name="x")  # type: ignore[abstract]


def test_query_and_document_paths_are_distinct() -> None:
    emb = Recording()
    emb.embed_query("a b")
    emb.embed_text("a b")
    emb.embed_documents(["a", "b c"])
    assert emb.calls == [("text", 1, True), ("text", 1, False), ("text", 2, False)]


def test_outputs_are_float32_with_expected_shapes() -> None:
    emb = Recording()
    out = emb.embed_documents(["one two three", "x"])
    assert [o.shape for o in out] == [(3, 3), (1, 3)]
    assert all(o.dtype == np.float32 for o in out)
    assert emb.embed_image(Image.new("RGB", (7, 5))).shape == (2, 3)
    assert emb.is_multi_vector and emb.dim == 3


def test_batch_chunks_by_embed_batch_size_and_keeps_order() -> None:
    emb = Recording(embed_batch_size=2)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    out = emb.embed_documents_batch(texts)
    assert [c[1] for c in emb.calls] == [2, 2, 1]
    assert [float(o[0, 0]) for o in out] == [1, 2, 3, 4, 5]


def test_image_batch_chunks_and_validates_everything_first() -> None:
    emb = Recording(embed_batch_size=2)
    images = [Image.new("RGB", (w, 4)) for w in (4, 5, 6)]
    out = emb.embed_images_batch(images)
    assert [float(o[0, 0]) for o in out] == [4, 5, 6]
    assert [c[1] for c in emb.calls] == [2, 1]
    emb.calls.clear()
    with pytest.raises(InvalidInputError) as info:
        emb.embed_images_batch([*images, b"broken"])
    assert info.value.index == 3
    assert emb.calls == []  # nothing was embedded


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    emb = Recording(embed_batch_size=1)
    emb.embed_documents_batch(["a", "b"], show_progress=False)
    assert "Embedding texts" not in capsys.readouterr().err
    emb.embed_documents_batch(["a", "b"], show_progress=True)
    assert "Embedding texts" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("texts", "index", "message"),
    [
        (["ok", None], 1, "is NoneType, expected str"),
        (["ok", 5], 1, "is int, expected str"),
        (["", "ok"], 0, "empty or whitespace"),
        (["ok", "ok", "  \n"], 2, "empty or whitespace"),
    ],
)
def test_bad_texts_raise_typed_errors_naming_the_position(texts: list[object], index: int, message: str) -> None:
    emb = Recording()
    with pytest.raises(InvalidInputError, match=message) as info:
        emb.embed_documents(texts)  # type: ignore[arg-type]
    assert info.value.index == index
    assert f"texts[{index}]" in str(info.value)
    assert emb.calls == []


def test_other_bad_text_calls() -> None:
    emb = Recording()
    assert emb.embed_documents([]) == []
    assert emb.embed_documents_batch([]) == []
    with pytest.raises(InvalidInputError, match="wrap it in a list"):
        emb.embed_documents("not a list")
    with pytest.raises(InvalidInputError, match="None"):
        emb.embed_documents(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="empty"):
        emb.embed_query("")
    with pytest.raises(InvalidInputError, match="expected str"):
        emb.embed_text(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"embed_batch_size": 0}, "embed_batch_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_image_pixels": 0}, "max_image_pixels"),
    ],
)
def test_bad_options_raise_configuration_error(options: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Recording(**options)


class Broken(Recording):
    def __init__(self, result: list[np.ndarray]) -> None:
        super().__init__()
        self.result = result

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[np.ndarray]:
        return self.result


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([], "returned 0 embeddings for 1 inputs"),
        ([np.zeros((0, 3), np.float32)], "shape"),
        ([np.zeros(3, np.float32)], "shape"),
        ([np.array([[np.nan, 0, 0]], np.float32)], "non-finite"),
    ],
)
def test_broken_model_outputs_raise_embedding_error(result: list[np.ndarray], message: str) -> None:
    with pytest.raises(EmbeddingError, match=message):
        Broken(result).embed_query("q")


async def test_async_twins_equal_sync_and_run_off_the_event_loop() -> None:
    emb = Recording(embed_batch_size=2)
    loop_thread = threading.get_ident()
    texts = ["a b", "c", "d e f"]
    sync = emb.embed_documents_batch(texts)
    emb.threads.clear()
    asynced = await emb.aembed_documents_batch(texts)
    assert all(np.array_equal(a, b) for a, b in zip(sync, asynced, strict=True))
    assert loop_thread not in emb.threads
    assert np.array_equal(await emb.aembed_query("q r"), emb.embed_query("q r"))
    assert np.array_equal(await emb.aembed_text("q r"), emb.embed_text("q r"))
    assert np.array_equal(
        (await emb.aembed_images([Image.new("RGB", (9, 9))]))[0], emb.embed_images([Image.new("RGB", (9, 9))])[0]
    )
    assert np.array_equal(await emb.aembed_image(Image.new("RGB", (9, 9))), emb.embed_image(Image.new("RGB", (9, 9))))
    emb.close()


async def test_default_async_primitive_serialises_calls_on_one_worker() -> None:
    emb = Recording(embed_batch_size=1, max_concurrency=4)
    emb.delay = 0.02
    await emb.aembed_documents_batch(["a", "b", "c", "d"])
    assert emb.max_in_flight == 1
    assert len(emb.threads) == 1


async def test_async_batches_run_concurrently_up_to_max_concurrency() -> None:
    emb = AsyncRecording(embed_batch_size=1, max_concurrency=3)
    out = await emb.aembed_documents_batch(["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"])
    assert emb.max_in_flight == 3
    assert [float(o[0, 0]) for o in out] == [1, 2, 3, 4, 5, 6, 1]
