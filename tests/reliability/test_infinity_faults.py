"""The Infinity client against a faulty loopback server: bounded calls, typed errors, no leaked secrets.

Every test talks to the real fault-injecting HTTP server of :mod:`tests.support.fault_server` over loopback (no mocks
of httpx or of the server). Timing assertions are upper bounds only, each several seconds above what the client
needs, so a loaded machine cannot flip them; the faults they guard against would take far longer (tens of seconds).
"""

from __future__ import annotations

import base64
import logging
import math
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multivec.embeddings.infinity import InfinityEmbeddings
from multivec.errors import ConfigurationError, InfinityError, InfinityTimeoutError
from tests.infinity._helpers import call, fault_client
from tests.support.fault_server import FaultServer, Recorded, Reply, expected_embedding

MODES = ["sync", "async"]
TEXTS = ["alpha", "beta gamma", "delta"]
API_KEY = "s3cret-api-key-0123456789"
TEAM_TOKEN = "team-token-abcdef-987"
SECRETS = (API_KEY, TEAM_TOKEN)

#: Upper bound on a call whose deadline is 1 s: generous for a loaded 2-core machine, far below what an unbounded
#: call would take (a trickled answer here lasts well over 30 s).
BOUND_1S = 4.0


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(dim=8) as fault_server:
        yield fault_server


def client(server: FaultServer, **options: Any) -> InfinityEmbeddings:
    """A fault-server client that sends a secret API key and a secret header."""
    return fault_client(server, **{"api_key": API_KEY, "headers": {"X-Team-Token": TEAM_TOKEN}, **options})


def run(mode: str, emb: InfinityEmbeddings, method: str, *args: Any) -> Any:
    """``emb.<method>(*args)`` or ``await emb.a<method>(*args)`` in a fresh loop; connections closed afterwards."""
    return call(mode, emb, method, *args)


def timed_failure(mode: str, emb: InfinityEmbeddings, method: str, *args: Any) -> tuple[float, BaseException]:
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        run(mode, emb, method, *args)
    return time.monotonic() - start, info.value


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"secret leaked into {text!r}"


def assert_error_has_no_secret(err: BaseException) -> None:
    """Not in the message, the attributes, nor anywhere in the printed traceback (chained exceptions included)."""
    assert_no_secret(str(err), repr(err), getattr(err, "server_message", None), getattr(err, "url", None))
    assert_no_secret("".join(traceback.format_exception(err)))


# -- a total deadline per call -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("action", ["trickle", "trickle_body"])
def test_trickled_answer_is_cut_at_the_deadline(server: FaultServer, mode: str, action: str) -> None:
    # the default answer is ~500 bytes: trickled at 0.2 s a byte it would take well over a minute per attempt
    server.script("/embeddings", *[Reply(action=action, interval=0.2)] * 4)  # type: ignore[arg-type]
    elapsed, err = timed_failure(mode, client(server, timeout=1.0, max_retries=3), "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < BOUND_1S
    message = str(err)
    assert server.url in message and "1s" in message and "attempt" in message
    assert err.url is not None and err.url.endswith("/embeddings")
    assert_no_secret(message, err.server_message)


@pytest.mark.parametrize("mode", MODES)
def test_instance_works_again_after_a_timed_out_call(server: FaultServer, mode: str) -> None:
    emb = client(server, timeout=1.0, max_retries=0)
    server.script("/embeddings", Reply(action="trickle", interval=0.2))
    elapsed, err = timed_failure(mode, emb, "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError) and elapsed < BOUND_1S
    out = run(mode, emb, "embed_documents", TEXTS)  # a fresh deadline, and no half-read connection is reused
    for arr, text in zip(out, TEXTS, strict=True):
        np.testing.assert_array_equal(arr, expected_embedding(text, 8))


@pytest.mark.parametrize("mode", MODES)
def test_silent_server_is_bounded_by_the_deadline_not_by_attempts(mode: str) -> None:
    # accepts connections (the kernel's backlog) but never answers: each attempt would wait forever
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        emb = InfinityEmbeddings(url=url, hidden_dim=8, check_model=False, timeout=1.0, max_retries=8)
        elapsed, err = timed_failure(mode, emb, "embed_query", "hello")
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < BOUND_1S


@pytest.mark.parametrize("mode", MODES)
def test_retries_of_slow_attempts_stay_within_the_deadline(server: FaultServer, mode: str) -> None:
    server.script("/embeddings", *[Reply(action="default", delay=1.0)] * 40)
    emb = client(server, timeout=2.0, attempt_timeout=0.2, max_retries=30)
    elapsed, err = timed_failure(mode, emb, "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < 2.0 + 3.0
    assert 2 <= server.count("/embeddings") <= 31  # stalled attempts were abandoned and retried


@pytest.mark.parametrize("mode", MODES)
def test_attempt_timeout_retries_to_success(server: FaultServer, mode: str) -> None:
    server.script("/embeddings", Reply(action="default", delay=5.0))
    out = run(mode, client(server, timeout=10.0, attempt_timeout=1.0), "embed_documents", TEXTS)
    assert len(out) == 3 and server.count("/embeddings") >= 2  # the stalled first attempt was given up


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_beyond_the_deadline_fails_at_once(server: FaultServer, mode: str) -> None:
    server.script("/embeddings", *[Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "30"})] * 3)
    emb = client(server, timeout=10.0, max_retry_after=60.0)
    elapsed, err = timed_failure(mode, emb, "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < 5.0  # neither the 30 s the server asked nor the 10 s left: no sleep that cannot end in time
    assert server.count("/embeddings") == 1
    assert "HTTP 503" in str(err) and "busy" in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_backoff_never_sleeps_past_the_deadline(server: FaultServer, mode: str) -> None:
    server.script("/embeddings", *[Reply(503)] * 10)
    emb = client(server, timeout=1.0, max_retries=5, backoff_initial=3.0, backoff_max=3.0)
    elapsed, err = timed_failure(mode, emb, "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < BOUND_1S and server.count("/embeddings") == 1


@pytest.mark.parametrize("mode", MODES)
def test_one_deadline_covers_every_request_of_a_call(server: FaultServer, mode: str) -> None:
    # 5 chunks of one text, each answered after 0.5 s: 2.5 s in all, over the 1 s deadline of the one call
    server.script("/embeddings", *[Reply(action="default", delay=0.5)] * 5)
    emb = client(server, timeout=1.0, max_texts_per_request=1, max_concurrency=1)
    elapsed, err = timed_failure(mode, emb, "embed_documents", [f"text {i}" for i in range(5)])
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < BOUND_1S


@pytest.mark.parametrize("mode", MODES)
def test_model_check_and_probe_share_the_deadline(server: FaultServer, mode: str) -> None:
    server.script("/models", Reply(action="trickle_body", interval=0.2))
    elapsed, err = timed_failure(mode, client(server, timeout=1.0, check_model=True), "embed_query", "hello")
    assert isinstance(err, InfinityTimeoutError), err
    assert elapsed < BOUND_1S and server.count("/embeddings") == 0


@pytest.mark.parametrize("mode", MODES)
def test_health_is_bounded(server: FaultServer, mode: str) -> None:
    server.script("/health", Reply(action="trickle", interval=0.2))
    start = time.monotonic()
    assert run(mode, client(server, timeout=1.0), "health") is False
    assert time.monotonic() - start < BOUND_1S


# -- answers whose shape changes, or that hold values no embedding can have ----------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
@pytest.mark.parametrize("new_dim", [4, 16])
def test_vector_size_changing_after_the_first_call_is_an_error(
    server: FaultServer, mode: str, encoding: str, new_dim: int
) -> None:
    emb = client(server, encoding=encoding, hidden_dim="auto")
    first = run(mode, emb, "embed_documents", TEXTS)
    assert [a.shape[1] for a in first] == [8, 8, 8]
    server.dim = new_dim  # e.g. the server was restarted with another model under the same name
    with pytest.raises(InfinityError, match=r"size|hidden_dim"):
        run(mode, emb, "embed_documents", TEXTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
@pytest.mark.parametrize("change", ["fewer", "more"])
def test_embedding_count_differing_from_the_inputs_is_an_error(
    server: FaultServer, mode: str, encoding: str, change: str
) -> None:
    def answer(request: Recorded) -> Any:
        inputs = request.json["input"]
        inputs = inputs[:-1] if change == "fewer" else [*inputs, "extra"]
        return server.embeddings_answer({**request.json, "input": inputs})

    run(mode, client(server, encoding=encoding), "embed_documents", TEXTS)
    server.script("/embeddings", Reply(200, answer))
    with pytest.raises(InfinityError, match=r"\d embeddings for 3 inputs"):
        run(mode, client(server, encoding=encoding), "embed_documents", TEXTS)


def _poison(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def transform(arr: np.ndarray) -> np.ndarray:
        arr = arr.astype(np.float64)  # float JSON carries 1e39 as is; base64 (float32) turns it into inf
        arr[0, 1] = value
        return arr

    return transform


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("encoding", ["base64", "float"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e39])
def test_non_finite_values_are_an_infinity_error(server: FaultServer, mode: str, encoding: str, value: float) -> None:
    def answer(request: Recorded) -> Any:
        with np.errstate(over="ignore"):
            return server.embeddings_answer(request.json, transform=_poison(value))

    server.script("/embeddings", Reply(200, answer))
    with pytest.raises(InfinityError, match=r"NaN|infinite|float32 range|not valid JSON"):
        run(mode, client(server, encoding=encoding), "embed_documents", TEXTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "embedding",
    [[], [[]], [[], []], "", [["0.5"] * 8], [[True] * 8], [[None] * 8], [[0.1] * 8, [0.1] * 7], {"x": 1}],
    ids=["empty", "empty-row", "empty-rows", "empty-b64", "strings", "bools", "nulls", "ragged", "object"],
)
def test_malformed_embeddings_are_an_infinity_error(server: FaultServer, mode: str, embedding: Any) -> None:
    data = [{"object": "embedding", "embedding": embedding, "index": 0}]
    server.script("/embeddings", Reply(200, {"object": "list", "data": data}))
    with pytest.raises(InfinityError):
        run(mode, client(server, encoding="float"), "embed_query", "hello")


@pytest.mark.parametrize("mode", MODES)
def test_rows_not_a_multiple_of_the_size_are_an_error(server: FaultServer, mode: str) -> None:
    def answer(request: Recorded) -> Any:
        payload = server.embeddings_answer(request.json)
        raw = base64.b64decode(payload["data"][0]["embedding"])
        payload["data"][0]["embedding"] = base64.b64encode(raw + raw[:12]).decode()  # 3 extra floats
        return payload

    server.script("/embeddings", Reply(200, answer))
    with pytest.raises(InfinityError, match="multiple"):
        run(mode, client(server), "embed_documents", TEXTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("action", ["truncate", "close_early"])
def test_truncated_answers_are_typed_errors_or_retried(server: FaultServer, mode: str, action: str) -> None:
    def half(request: Recorded) -> Any:
        return server.embeddings_answer(request.json)

    server.script("/embeddings", *[Reply(200, half, action=action)] * 3)  # type: ignore[arg-type]
    with pytest.raises(InfinityError):
        run(mode, client(server), "embed_documents", TEXTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "raw",
    [b"not http at all\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", b""],
    ids=["garbage", "bad-status", "bad-length", "empty"],
)
def test_answers_that_are_not_http_are_typed_errors(server: FaultServer, mode: str, raw: bytes) -> None:
    server.script("/embeddings", *[Reply(action="raw", body=raw)] * 3)
    with pytest.raises(InfinityError):
        run(mode, client(server), "embed_documents", TEXTS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [200, 400, 500])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # beyond any parser's depth limit
        b'{"detail": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # parses, but too deep for str()
        b'{"error": {"message": ' + b"[" * 1000 + b"1" + b"]" * 1000 + b"}}",
    ],
    ids=["too-deep", "deep-detail", "deep-message"],
)
def test_deeply_nested_json_is_a_typed_error(server: FaultServer, mode: str, status: int, body: bytes) -> None:
    server.script("/embeddings", *[Reply(status, body)] * 3)
    with pytest.raises(InfinityError):
        run(mode, client(server), "embed_query", "hello")


@pytest.mark.parametrize("mode", MODES)
def test_corrupt_compressed_body_is_a_typed_error(server: FaultServer, mode: str) -> None:
    server.script("/embeddings", *[Reply(200, b"not gzip at all", headers={"Content-Encoding": "gzip"})] * 3)
    with pytest.raises(InfinityError, match="DecodingError"):
        run(mode, client(server), "embed_query", "hello")


# -- secrets never reach messages or logs --------------------------------------------------------------------------


def _echo(shape: str) -> Callable[[Recorded], Any]:
    """An error body that repeats the request's headers back, in one of the shapes servers and proxies use."""

    def body(request: Recorded) -> Any:
        headers = dict(request.headers)
        text = f"rejected request with headers {headers}"
        if shape == "openai":
            return {"error": {"message": text, "type": None, "code": 400}}
        if shape == "detail":
            return {"detail": text}
        if shape == "detail-list":
            return {"detail": [{"loc": ["header", "authorization"], "msg": text, "input": headers}]}
        if shape == "json-other":
            return {"headers": headers}
        return text.encode()

    return body


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [400, 401, 422, 500])
@pytest.mark.parametrize("shape", ["openai", "detail", "detail-list", "json-other", "text"])
def test_echoed_headers_are_redacted(
    server: FaultServer, mode: str, status: int, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.script("/embeddings", *[Reply(status, _echo(shape))] * 3)
    with caplog.at_level(logging.DEBUG), pytest.raises(InfinityError) as info:
        run(mode, client(server), "embed_documents", TEXTS)
    err = info.value
    assert err.status_code == status
    assert_error_has_no_secret(err)
    assert_no_secret(caplog.text)
    assert "redacted" in str(err)  # the rest of the message is kept
    assert server.recorded("/embeddings")[0].headers["authorization"] == f"Bearer {API_KEY}"  # still sent


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("offset", [480, 490, 495, 499])
def test_secret_cut_by_the_message_length_limit_is_redacted(server: FaultServer, mode: str, offset: int) -> None:
    # long error bodies are shortened; the cut must not fall inside a secret and leave its first half behind
    def body(request: Recorded) -> bytes:
        return ("x" * offset + request.headers["authorization"] + " " + request.headers["x-team-token"]).encode()

    server.script("/embeddings", Reply(400, body))
    with pytest.raises(InfinityError) as info:
        run(mode, client(server), "embed_query", "hello")
    assert_error_has_no_secret(info.value)
    for secret in SECRETS:
        assert secret[:8] not in str(info.value) and secret[:8] not in str(info.value.server_message)


@pytest.mark.parametrize("mode", MODES)
def test_echoed_headers_are_redacted_in_timeout_errors(
    server: FaultServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.script("/embeddings", *[Reply(503, _echo("openai"))] * 50)
    emb = client(server, timeout=1.0, max_retries=50, backoff_initial=0.05, backoff_max=0.1)
    with caplog.at_level(logging.DEBUG):
        elapsed, err = timed_failure(mode, emb, "embed_documents", TEXTS)
    assert isinstance(err, InfinityTimeoutError) and elapsed < BOUND_1S
    assert_error_has_no_secret(err)
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("mode", MODES)
def test_secret_echoed_inside_an_embedding_is_redacted(server: FaultServer, mode: str) -> None:
    def body(request: Recorded) -> Any:
        data = [{"index": 0, "embedding": [[request.headers["authorization"]] * 8]}]
        return {"object": "list", "data": data}

    server.script("/embeddings", Reply(200, body))
    with pytest.raises(InfinityError) as info:
        run(mode, client(server, encoding="float"), "embed_query", "hello")
    assert_error_has_no_secret(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_secret_echoed_in_a_malformed_answer_header_is_redacted(
    server: FaultServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a header line without a colon: the HTTP parser's error quotes the line, and so the echoed key
    def raw(request: Recorded) -> bytes:
        return f"HTTP/1.1 200 OK\r\nEcho {request.headers['authorization']}\r\n\r\n".encode()

    server.script("/embeddings", *[Reply(action="raw", body=raw)] * 3)
    with caplog.at_level(logging.DEBUG), pytest.raises(InfinityError) as info:
        run(mode, client(server), "embed_query", "hello")
    assert_error_has_no_secret(info.value)
    # ours only: httpcore's own DEBUG trace quotes the parser error verbatim, outside multivec's reach
    assert_no_secret(*(r.getMessage() for r in caplog.records if r.name.startswith("multivec")))


def test_password_in_the_url_is_never_shown(server: FaultServer) -> None:
    url = server.url.replace("http://", f"http://user:{API_KEY}@")
    emb = client(server, url=url, api_key=None, headers=None)
    assert_no_secret(repr(emb))
    server.script("/embeddings", Reply(400, _echo("openai")))
    with pytest.raises(InfinityError) as info:
        emb.embed_query("hello")
    assert_error_has_no_secret(info.value)


# -- constructor options --------------------------------------------------------------------------------------------

BAD_OPTIONS: list[tuple[str, Any]] = [
    ("timeout", math.nan),
    ("timeout", math.inf),
    ("timeout", -1.0),
    ("timeout", 0),
    ("timeout", "5"),
    ("timeout", True),
    ("timeout", None),
    ("attempt_timeout", math.nan),
    ("attempt_timeout", 0),
    ("attempt_timeout", "1"),
    ("connect_timeout", -2),
    ("connect_timeout", math.inf),
    ("backoff_initial", math.nan),
    ("backoff_initial", -0.5),
    ("backoff_max", math.inf),
    ("backoff_max", False),
    ("max_retry_after", math.nan),
    ("max_retries", True),
    ("max_retries", 1.5),
    ("max_retries", "3"),
    ("max_retries", -1),
    ("max_connections", 0),
    ("max_connections", True),
    ("max_connections", "16"),
    ("max_images_per_request", "32"),
    ("max_images_per_request", 0),
    ("max_texts_per_request", 2.0),
    ("embed_batch_size", True),
    ("embed_batch_size", "10"),
    ("max_concurrency", 1.5),
    ("max_concurrency", 0),
    ("max_image_pixels", "big"),
    ("max_image_pixels", True),
    ("max_image_pixels", 0),
    ("hidden_dim", 1.5),
    ("hidden_dim", "128"),
    ("headers", {1: "x"}),
    ("headers", {"X-Team": 1}),
    ("headers", {"X-Team": None}),
    ("headers", {"X-Team": "a\nb"}),
    ("headers", {"X-Team": "a\r\nInjected: 1"}),
    ("headers", {"X-Team": "nul\x00"}),
    ("headers", {"Bad Key": "v"}),
    ("headers", {"Bad:Key": "v"}),
    ("headers", {"": "v"}),
    ("headers", "X-Team: search"),
    ("headers", [("X-Team", "search")]),
    ("headers", {"X-Team": "caf\u00e9\u2603"}),
    ("api_key", "line\nbreak"),
    ("api_key", 12345),
    ("url", 12345),
    ("url", "ftp://example.com"),
    ("url_prefix", 5),
    ("url_prefix", "v1"),
    ("encoding", "json"),
    ("normalize", "no"),
    ("check_model", 1),
    ("allow_urls", "yes"),
    ("model_name", ""),
]


@pytest.mark.parametrize(("option", "value"), BAD_OPTIONS, ids=[f"{o}={v!r}" for o, v in BAD_OPTIONS])
def test_bad_option_is_a_configuration_error_naming_it(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        InfinityEmbeddings(**{option: value})


def test_numeric_options_accept_numpy_and_int_values() -> None:
    emb = InfinityEmbeddings(
        timeout=np.float32(2.5),
        attempt_timeout=1,
        connect_timeout=np.int64(1),
        max_retries=np.int64(2),
        max_connections=np.int32(3),
        hidden_dim=np.int64(8),
        embed_batch_size=np.int16(4),
    )
    assert (emb.timeout, emb.max_retries, emb.max_connections, emb.dim, emb.embed_batch_size) == (2.5, 2, 3, 8, 4)
    assert type(emb.max_retries) is int and type(emb.timeout) is float


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(
        st.one_of(st.text(max_size=6), st.integers()), st.one_of(st.text(max_size=8), st.none()), max_size=3
    ),
)
_OPTIONS = sorted({option for option, _ in BAD_OPTIONS})


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(option=st.sampled_from(_OPTIONS), value=_ANY_VALUE)
def test_any_option_value_constructs_or_is_a_configuration_error(option: str, value: Any) -> None:
    try:
        emb = InfinityEmbeddings(**{option: value})
    except ConfigurationError as err:
        assert option in str(err)
        return
    assert emb._hidden_dim is None or emb._hidden_dim >= 1
    assert math.isfinite(emb.timeout) and emb.timeout > 0
