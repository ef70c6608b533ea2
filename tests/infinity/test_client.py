"""Client behaviour against the loopback fake server: chunking, model checks, hidden_dim, auth, pooling, inputs."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multivec.embeddings.infinity import DEFAULT_MODEL, InfinityEmbeddings
from multivec.errors import ConfigurationError, InfinityError, InvalidInputError
from tests.infinity._helpers import MODES, call
from tests.support.fault_server import FaultServer, Reply, expected_embedding
from tests.support.infinity_server import free_port


def client(server: FaultServer, **options: object) -> InfinityEmbeddings:
    defaults: dict[str, object] = {
        "url": server.url,
        "model_name": "fake-model",
        "hidden_dim": 8,
        "backoff_initial": 0.01,
    }
    return InfinityEmbeddings(**{**defaults, **options})  # type: ignore[arg-type]


def images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (8 + i % 5, 6 + i % 3), (i * 6 % 256, 255 - i * 5 % 256, i * 11 % 256)) for i in range(n)]


# -- options ------------------------------------------------------------------------------------------------------


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFINITY_API_URL", raising=False)
    emb = InfinityEmbeddings()
    assert (emb.url, emb.model_name, emb.encoding, emb.timeout, emb.max_retries, emb.embed_batch_size) == (
        "http://localhost:7997",
        DEFAULT_MODEL,
        "base64",
        60.0,
        3,
        10,
    )
    assert emb.dim == 128 and emb.is_multi_vector
    monkeypatch.setenv("INFINITY_API_URL", "http://infinity.internal:8080/")
    assert InfinityEmbeddings().url == "http://infinity.internal:8080"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"url": "localhost:7997"}, "url must be an http"),
        ({"encoding": "json"}, "encoding must be"),
        ({"hidden_dim": 0}, "hidden_dim must be"),
        ({"hidden_dim": True}, "hidden_dim must be"),
        ({"timeout": 0}, "timeout must be"),
        ({"max_retries": -1}, "max_retries must be a non-negative"),
        ({"max_images_per_request": 0}, "max_images_per_request must be a positive"),
        ({"url_prefix": "v1"}, "url_prefix must start"),
        ({"embed_batch_size": 0}, "embed_batch_size"),
    ],
)
def test_invalid_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        InfinityEmbeddings(**options)  # type: ignore[arg-type]


def test_construction_does_no_io_and_repr_hides_the_key() -> None:
    emb = InfinityEmbeddings(url=f"http://127.0.0.1:{free_port()}", hidden_dim="auto", api_key="s3cret-key")
    assert "s3cret" not in repr(emb) and "hidden_dim='auto'" in repr(emb)
    assert "s3cret" not in str(vars(emb).get("api_key", ""))
    assert not emb._aclients  # nothing opened yet


# -- requests -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_forty_images_are_split_into_32_plus_8(fault_server: FaultServer, mode: str) -> None:
    emb = client(fault_server, check_model=False)
    imgs = images(40)
    out = call(mode, emb, "embed_images", imgs)
    # the async path sends the chunks concurrently, so the server may see them in either order
    sent = sorted(fault_server.recorded("/embeddings"), key=lambda r: -len(r.json["input"]))
    assert [len(r.json["input"]) for r in sent] == [32, 8]
    assert all(r.json["modality"] == "image" for r in sent)
    uris = [uri for r in sent for uri in r.json["input"]]
    assert all(uri.startswith("data:image/png;base64,") for uri in uris)
    assert len(out) == 40
    for arr, uri in zip(out, uris, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(uri, 8))


@pytest.mark.parametrize("mode", MODES)
def test_texts_are_split_by_max_texts_per_request(fault_server: FaultServer, mode: str) -> None:
    texts = [f"text number {i}" for i in range(7)]
    out = call(mode, client(fault_server, check_model=False, max_texts_per_request=3), "embed_documents", texts)
    sent = sorted(r.json["input"] for r in fault_server.recorded("/embeddings"))  # async: chunks race
    assert sent == [texts[:3], texts[3:6], texts[6:]]
    for arr, text in zip(out, texts, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(text, 8))


@pytest.mark.parametrize("mode", MODES)
def test_batch_methods_chunk_by_embed_batch_size(fault_server: FaultServer, mode: str) -> None:
    texts = [f"t{i}" for i in range(5)]
    emb = client(fault_server, check_model=False, embed_batch_size=2)
    out = call(mode, emb, "embed_documents_batch", texts)
    assert sorted(len(r.json["input"]) for r in fault_server.recorded("/embeddings")) == [1, 2, 2]
    for arr, text in zip(out, texts, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(text, 8))
    fault_server.reset()
    out = call(mode, emb, "embed_images_batch", images(3))
    assert sorted(len(r.json["input"]) for r in fault_server.recorded("/embeddings")) == [1, 2] and len(out) == 3


@pytest.mark.parametrize("mode", MODES)
def test_api_key_and_headers_are_sent_but_never_logged(
    fault_server: FaultServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.script("/embeddings", Reply(503))
    emb = client(fault_server, api_key="s3cret-key", headers={"X-Team": "search"}, check_model=False)
    with caplog.at_level(logging.DEBUG):
        call(mode, emb, "embed_query", "hello")
    for request in fault_server.recorded("/embeddings"):
        assert request.headers["authorization"] == "Bearer s3cret-key"
        assert request.headers["x-team"] == "search"
    assert "retry 1/3" in caplog.text and "s3cret" not in caplog.text


def test_api_key_from_env(fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFINITY_API_KEY", "from-env")
    client(fault_server, check_model=False).embed_query("hello")
    assert fault_server.recorded("/embeddings")[0].headers["authorization"] == "Bearer from-env"


def test_url_prefix_applies_to_api_routes_not_health(fault_server: FaultServer) -> None:
    emb = client(fault_server, url_prefix="/v1")
    assert emb.health()
    emb.embed_query("hello")
    assert [r.path for r in fault_server.requests] == ["/health", "/v1/models", "/v1/embeddings", "/v1/embeddings"]


# -- model check and hidden_dim -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_model_check_runs_once_and_verifies_hidden_dim(fault_server: FaultServer, mode: str) -> None:
    emb = client(fault_server)  # base64: /models, then one float probe, then the real request
    call(mode, emb, "embed_query", "hello")
    call(mode, emb, "embed_documents", ["a", "b"])
    assert fault_server.count("/models") == 1
    encodings = [r.json["encoding_format"] for r in fault_server.recorded("/embeddings")]
    assert encodings == ["float", "base64", "base64"]


@pytest.mark.parametrize("mode", MODES)
def test_wrong_hidden_dim_is_caught_by_the_probe_not_reshaped(fault_server: FaultServer, mode: str) -> None:
    # 8-wide rows would reshape "fine" into 4-wide garbage; the float probe catches it before any vector is returned
    with pytest.raises(InfinityError, match=r"hidden_dim mismatch.*size 8.*hidden_dim=4"):
        call(mode, client(fault_server, hidden_dim=4), "embed_query", "hello")
    assert [r.json["encoding_format"] for r in fault_server.recorded("/embeddings")] == ["float"]


def test_float_answers_are_checked_against_hidden_dim(fault_server: FaultServer) -> None:
    with pytest.raises(InfinityError, match="hidden_dim mismatch"):
        client(fault_server, hidden_dim=4, encoding="float", check_model=False).embed_query("hello")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_hidden_dim_auto(fault_server: FaultServer, mode: str, encoding: str) -> None:
    emb = client(fault_server, hidden_dim="auto", encoding=encoding, check_model=False)
    out = call(mode, emb, "embed_query", "hello")
    np.testing.assert_array_equal(out, expected_embedding("hello", 8))
    assert emb.dim == 8
    probes = 1 if encoding == "base64" else 0
    assert fault_server.count("/embeddings") == 1 + probes


def test_dim_property_probes_lazily(fault_server: FaultServer) -> None:
    emb = client(fault_server, hidden_dim=None)
    assert fault_server.count() == 0
    assert emb.dim == 8 and emb.dim == 8
    assert fault_server.count("/embeddings") == 1 and fault_server.count("/models") == 1


@pytest.mark.parametrize("mode", MODES)
def test_unserved_model_fails_before_embedding(fault_server: FaultServer, mode: str) -> None:
    with pytest.raises(InfinityError, match=r"'other' is not served .*\['fake-model'\]"):
        call(mode, client(fault_server, model_name="other"), "embed_query", "hello")
    assert fault_server.count("/embeddings") == 0


@pytest.mark.parametrize("mode", MODES)
def test_text_only_model_refuses_images_before_sending(mode: str) -> None:
    with FaultServer(dim=8, models=[{"id": "colbert", "capabilities": ["embed"]}]) as server:
        emb = client(server, model_name="colbert")
        call(mode, emb, "embed_query", "text works")
        with pytest.raises(InfinityError, match="cannot embed images"):
            call(mode, emb, "embed_images", images(2))
        assert all(r.json["modality"] == "text" for r in server.recorded("/embeddings"))


@pytest.mark.parametrize("mode", MODES)
def test_health_and_models(fault_server: FaultServer, mode: str) -> None:
    emb = client(fault_server)
    assert call(mode, emb, "health") is True
    (model,) = call(mode, emb, "models")
    assert model.id == "fake-model" and model.supports_images
    down = InfinityEmbeddings(url=f"http://127.0.0.1:{free_port()}")
    assert call(mode, down, "health") is False


# -- connections --------------------------------------------------------------------------------------------------


def test_sync_requests_reuse_one_pooled_connection(fault_server: FaultServer) -> None:
    with client(fault_server, check_model=False) as emb:
        for text in ("a", "b", "c"):
            emb.embed_query(text)
    ports = {r.client_port for r in fault_server.requests}
    assert len(ports) == 1


async def test_async_requests_reuse_one_pooled_connection(fault_server: FaultServer) -> None:
    async with client(fault_server, check_model=False) as emb:
        for text in ("a", "b", "c"):
            await emb.aembed_query(text)
    assert len({r.client_port for r in fault_server.requests}) == 1


# the first loop's connections are dropped unclosed (documented: call aclose() before a loop ends)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
def test_close_then_reuse_and_several_event_loops(fault_server: FaultServer) -> None:
    emb = client(fault_server, check_model=False)
    emb.embed_query("a")
    emb.close()
    emb.close()  # idempotent
    np.testing.assert_array_equal(emb.embed_query("a"), expected_embedding("a", 8))
    for _ in range(2):  # a second asyncio.run must not reuse the first loop's connections
        np.testing.assert_array_equal(asyncio.run(emb.aembed_query("b")), expected_embedding("b", 8))
    emb.close()
    gc.collect()  # collect the dropped connections here, under this test's warning filter


async def test_concurrent_async_calls_share_the_instance(fault_server: FaultServer) -> None:
    texts = [f"concurrent {i}" for i in range(20)]
    async with client(fault_server, check_model=False, max_connections=4) as emb:
        out = await asyncio.gather(*(emb.aembed_query(t) for t in texts))
    for arr, text in zip(out, texts, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(text, 8))


def test_returned_arrays_are_writable_float32(fault_server: FaultServer) -> None:
    for encoding in ("base64", "float"):
        arr = client(fault_server, encoding=encoding).embed_query("hello")
        assert arr.dtype == np.float32 and arr.flags.writeable
        arr *= 2  # callers may modify their vectors in place


# -- bad inputs: rejected before anything is sent -----------------------------------------------------------------


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("method", "arg", "match", "index"),
    [
        ("embed_query", "", "empty", None),
        ("embed_query", "   ", "empty", None),
        ("embed_query", None, "NoneType, expected str", None),
        ("embed_text", 42, "int, expected str", None),
        ("embed_documents", None, "texts is None", None),
        ("embed_documents", "one string", "got a single str", None),
        ("embed_documents", ["ok", 3], r"texts\[1\] is int", 1),
        ("embed_documents", ["ok", ""], r"texts\[1\] is empty", 1),
        ("embed_image", None, "image is None", None),
        ("embed_images", None, "images is None", None),
        ("embed_images", [_png((8, 8)), "/nonexistent/page.png"], r"images\[1\]: no such image file", 1),
        ("embed_images", [b"\x89PNG\r\n\x1a\n corrupt"], r"images\[0\] is not a readable image", 0),
        ("embed_images", [_png((8, 8)), _png((1, 1))], r"images\[1\] is 1x1 pixels.*at least 3x3", 1),
        ("embed_images", [3.5], "unsupported type float", 0),
        ("embed_images", ["https://example.com/a.png"], "URLs are not fetched", 0),
    ],
)
def test_bad_inputs_raise_before_any_request(
    fault_server: FaultServer, mode: str, method: str, arg: object, match: str, index: int | None
) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        call(mode, client(fault_server), method, arg)
    assert info.value.index == index
    assert fault_server.count() == 0


@pytest.mark.parametrize("mode", MODES)
def test_huge_image_is_refused_before_sending(fault_server: FaultServer, mode: str, tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("RGB", (4000, 3000)).save(path)
    with pytest.raises(InvalidInputError, match=r"images\[0\] is 4000x3000 pixels, above the limit"):
        call(mode, client(fault_server, max_image_pixels=10_000_000), "embed_images", [path])
    assert fault_server.count() == 0


@pytest.mark.parametrize("mode", MODES)
def test_empty_lists_return_nothing_without_requests(fault_server: FaultServer, mode: str) -> None:
    emb = client(fault_server)
    assert call(mode, emb, "embed_documents", []) == []
    assert call(mode, emb, "embed_images", []) == []
    assert call(mode, emb, "embed_documents_batch", []) == []
    assert fault_server.count() == 0
