"""Retries and typed errors against a fault-injecting loopback server: no silently wrong vectors."""

from __future__ import annotations

import logging

import httpx
import numpy as np
import pytest

from multivec.embeddings.infinity import InfinityEmbeddings
from multivec.errors import InfinityError, InfinityTimeoutError
from tests.infinity._helpers import MODES, call, fault_client
from tests.support.fault_server import FaultServer, Reply, expected_embedding
from tests.support.infinity_server import free_port

TEXTS = ["alpha", "beta gamma", "delta"]
OVERLOADED = {"error": {"message": "model fake-model is currently overloaded", "type": None, "code": 429}}


def client(server: FaultServer, **options: object) -> InfinityEmbeddings:
    return fault_client(server, **options)


def assert_expected(out: list[np.ndarray], texts: list[str]) -> None:
    assert len(out) == len(texts)
    for arr, text in zip(out, texts, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(text, 8))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
@pytest.mark.parametrize("padding", ["left", "right"])
def test_default_answers_with_padding_are_exact(
    fault_server: FaultServer, mode: str, encoding: str, padding: str
) -> None:
    fault_server.padding = padding  # type: ignore[assignment]
    out = call(mode, client(fault_server, encoding=encoding), "embed_documents", TEXTS)
    assert_expected(out, TEXTS)
    (sent,) = fault_server.recorded("/embeddings")
    assert sent.json == {"model": "fake-model", "input": TEXTS, "encoding_format": encoding, "modality": "text"}


@pytest.mark.parametrize("mode", MODES)
def test_429_with_retry_after_is_retried_and_honoured(
    fault_server: FaultServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.script("/embeddings", Reply(429, OVERLOADED, headers={"Retry-After": "0.2"}))
    with caplog.at_level(logging.WARNING, logger="multivec.embeddings.infinity"):
        out = call(mode, client(fault_server), "embed_documents", TEXTS)
    assert_expected(out, TEXTS)
    assert fault_server.count("/embeddings") == 2
    assert "HTTP 429" in caplog.text and "retry 1/2 in 0.20s" in caplog.text  # the server's delay, not the backoff


def test_retry_after_is_capped(fault_server: FaultServer, caplog: pytest.LogCaptureFixture) -> None:
    fault_server.script("/embeddings", Reply(503, headers={"Retry-After": "3600"}))
    with caplog.at_level(logging.WARNING, logger="multivec.embeddings.infinity"):
        assert_expected(client(fault_server, max_retry_after=0.05).embed_documents(TEXTS), TEXTS)
    assert "in 0.05s" in caplog.text


@pytest.mark.parametrize("mode", MODES)
def test_500_and_503_are_retried_to_success(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", Reply(500, {"error": {"message": "InternalServerError: boom", "code": 500}}))
    fault_server.script("/embeddings", Reply(503, b"upstream unavailable"))
    assert_expected(call(mode, client(fault_server), "embed_documents", TEXTS), TEXTS)
    assert fault_server.count("/embeddings") == 3


@pytest.mark.parametrize("mode", MODES)
def test_persistent_5xx_raises_after_max_retries(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", *[Reply(503, {"error": {"message": "overloaded", "code": 503}})] * 5)
    with pytest.raises(InfinityError, match="HTTP 503 after 3 attempts") as info:
        call(mode, client(fault_server), "embed_documents", TEXTS)
    assert info.value.status_code == 503 and info.value.server_message == "overloaded"
    assert fault_server.count("/embeddings") == 3


def test_max_retries_zero_means_one_attempt(fault_server: FaultServer) -> None:
    fault_server.script("/embeddings", Reply(500))
    with pytest.raises(InfinityError, match="HTTP 500 for"):
        client(fault_server, max_retries=0).embed_documents(TEXTS)
    assert fault_server.count("/embeddings") == 1


@pytest.mark.parametrize("mode", MODES)
def test_connection_reset_is_retried(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", Reply(action="reset"))
    assert_expected(call(mode, client(fault_server), "embed_documents", TEXTS), TEXTS)
    assert fault_server.count("/embeddings") == 2


@pytest.mark.parametrize("mode", MODES)
def test_persistent_reset_raises_transport_error(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", *[Reply(action="reset")] * 3)
    with pytest.raises(InfinityError, match="after 3 attempts") as info:
        call(mode, client(fault_server), "embed_documents", TEXTS)
    assert info.value.status_code is None
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert fault_server.count("/embeddings") == 3


@pytest.mark.parametrize("mode", MODES)
def test_attempt_timeout_is_retried(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", Reply(action="default", delay=3.0))
    emb = client(fault_server, attempt_timeout=1.0)
    assert_expected(call(mode, emb, "embed_documents", TEXTS), TEXTS)
    assert fault_server.count("/embeddings") == 2


@pytest.mark.parametrize("mode", MODES)
def test_persistent_attempt_timeout_raises_after_the_retries(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", *[Reply(action="default", delay=1.0)] * 2)
    with pytest.raises(InfinityError, match="timed out after 2 attempts") as info:
        call(mode, client(fault_server, attempt_timeout=0.2, max_retries=1), "embed_documents", TEXTS)
    assert not isinstance(info.value, InfinityTimeoutError)  # the retries ran out, not the call's deadline
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


@pytest.mark.parametrize("mode", MODES)
def test_truncated_body_is_retried(fault_server: FaultServer, mode: str) -> None:
    good = fault_server.embeddings_answer({"input": TEXTS, "encoding_format": "base64"})
    fault_server.script("/embeddings", Reply(200, good, action="truncate"))
    assert_expected(call(mode, client(fault_server), "embed_documents", TEXTS), TEXTS)
    assert fault_server.count("/embeddings") == 2


@pytest.mark.parametrize("mode", MODES)
def test_invalid_json_body_raises_without_retry(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", Reply(200, b'{"object":"list","data":[{"embedd'))
    with pytest.raises(InfinityError, match="not valid JSON"):
        call(mode, client(fault_server), "embed_documents", TEXTS)
    assert fault_server.count("/embeddings") == 1


@pytest.mark.parametrize("mode", MODES)
def test_wrong_length_base64_is_a_hidden_dim_mismatch(fault_server: FaultServer, mode: str) -> None:
    bad = fault_server.embeddings_answer({"input": TEXTS, "encoding_format": "base64"})
    bad["data"][1]["embedding"] = bad["data"][1]["embedding"][:-8]  # drop 6 bytes worth of floats
    fault_server.script("/embeddings", Reply(200, bad))
    with pytest.raises(InfinityError, match="hidden_dim mismatch"):
        call(mode, client(fault_server), "embed_documents", TEXTS)
    assert fault_server.count("/embeddings") == 1


def test_wrong_number_of_embeddings_raises(fault_server: FaultServer) -> None:
    short = fault_server.embeddings_answer({"input": TEXTS[:2], "encoding_format": "base64"})
    fault_server.script("/embeddings", Reply(200, short))
    with pytest.raises(InfinityError, match="2 embeddings for 3 inputs"):
        client(fault_server).embed_documents(TEXTS)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_model_400_is_not_retried(fault_server: FaultServer, mode: str) -> None:
    message = "Invalid model: Engine for model name `nope` not found. Available model names are ['fake-model']"
    fault_server.script("/embeddings", Reply(400, {"error": {"message": message, "type": None, "code": 400}}))
    with pytest.raises(InfinityError, match=r"HTTP 400 for .*model_name='nope' is not served") as info:
        call(mode, client(fault_server, model_name="nope"), "embed_documents", TEXTS)
    assert info.value.status_code == 400 and info.value.server_message == message
    assert fault_server.count("/embeddings") == 1


@pytest.mark.parametrize("mode", MODES)
def test_422_detail_shape_is_not_retried(fault_server: FaultServer, mode: str) -> None:
    detail = [{"type": "too_long", "loc": ["body", "input"], "msg": "List should have at most 32 items"}]
    fault_server.script("/embeddings", Reply(422, {"detail": detail}))
    with pytest.raises(InfinityError, match="HTTP 422") as info:
        call(mode, client(fault_server), "embed_documents", TEXTS)
    assert info.value.server_message == "body.input: List should have at most 32 items"
    assert fault_server.count("/embeddings") == 1


def test_401_is_not_retried_and_hints_at_api_key(fault_server: FaultServer) -> None:
    fault_server.script("/embeddings", Reply(401, {"detail": "Unauthorized"}, headers={"WWW-Authenticate": "Bearer"}))
    with pytest.raises(InfinityError, match="api_key"):
        client(fault_server).embed_documents(TEXTS)
    assert fault_server.count("/embeddings") == 1


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused(mode: str) -> None:
    emb = InfinityEmbeddings(url=f"http://127.0.0.1:{free_port()}", max_retries=1, backoff_initial=0.01)
    with pytest.raises(InfinityError, match="could not connect after 2 attempts") as info:
        call(mode, emb, "embed_query", "hello")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("mode", MODES)
def test_failure_in_one_chunk_fails_the_call(fault_server: FaultServer, mode: str) -> None:
    fault_server.script("/embeddings", Reply(action="default"), Reply(400, {"error": {"message": "bad", "code": 400}}))
    with pytest.raises(InfinityError, match="HTTP 400"):
        call(mode, client(fault_server, max_texts_per_request=1, max_concurrency=1), "embed_documents", TEXTS)
