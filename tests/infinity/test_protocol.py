"""The I/O-free Infinity wire protocol: requests, decoding, padding, errors, retry decisions."""

from __future__ import annotations

import base64
import email.utils
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from multivec.embeddings import _infinity_protocol as proto
from multivec.errors import InfinityError
from multivec.images import load_image


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.asarray(arr, dtype="<f4").tobytes()).decode("ascii")


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    arr = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


# -- requests -----------------------------------------------------------------------------------------------------


def test_body_uses_encoding_format_and_never_dimensions() -> None:
    body = proto.build_embeddings_body(("a", "b"), model="m", modality="image", encoding="float")
    assert body == {"model": "m", "input": ["a", "b"], "encoding_format": "float", "modality": "image"}
    assert "dimensions" not in body and "encoding" not in body


def test_image_inputs_are_lossless_png_data_uris() -> None:
    img = Image.new("RGBA", (5, 4), (10, 20, 30, 128))
    (uri,) = proto.image_inputs([load_image(img)])
    assert uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.format == "PNG"
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(img.convert("RGB")))


def test_unchanged_jpeg_is_sent_as_its_original_bytes() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, format="JPEG")
    (uri,) = proto.image_inputs([load_image(buf.getvalue())])
    assert uri == "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def test_chunked_respects_limits() -> None:
    assert [len(c) for c in proto.chunked(list(range(70)), proto.MAX_IMAGES_PER_REQUEST)] == [32, 32, 6]
    assert proto.chunked([], 5) == []
    with pytest.raises(ValueError):
        proto.chunked([1], 0)


# -- decoding -----------------------------------------------------------------------------------------------------


def test_base64_is_little_endian_float32_reshaped_by_hidden_dim_zero_copy() -> None:
    arr = _unit_rows(3, 4)
    out = proto.decode_base64(_b64(arr), 4)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, arr)
    assert not out.flags.owndata and out.flags.writeable  # a view of the decoded buffer, no copy


@pytest.mark.parametrize("floats", [5, 0])
def test_base64_length_not_divisible_is_a_hidden_dim_mismatch(floats: int) -> None:
    with pytest.raises(InfinityError, match="hidden_dim mismatch"):
        proto.decode_base64(_b64(np.ones(floats)), 4)


def test_both_base64_decoders_are_strict_and_agree() -> None:
    data = _unit_rows(5, 8).tobytes()
    text = base64.b64encode(data).decode()
    assert proto._b64(text) == proto._b64_stdlib(text) == data
    for bad in ("AAA", "AA=A", "A@AA"):
        for decode in (proto._b64, proto._b64_stdlib):
            with pytest.raises((ValueError, TypeError)):
                decode(bad)


def test_invalid_base64_is_an_infinity_error() -> None:
    with pytest.raises(InfinityError, match="not valid base64"):
        proto.decode_base64("@@@@", 4)


def test_parse_float_and_base64_agree_and_follow_index_order() -> None:
    a, b = _unit_rows(2, 4, 1), _unit_rows(3, 4, 2)
    for emb_a, emb_b in ((a.tolist(), b.tolist()), (_b64(a), _b64(b))):
        payload = {"data": [{"index": 1, "embedding": emb_b}, {"index": 0, "embedding": emb_a}]}
        out = proto.parse_embeddings(payload, expected=2, hidden_dim=4)
        np.testing.assert_allclose(out[0], a, atol=1e-7)
        np.testing.assert_allclose(out[1], b, atol=1e-7)
        assert all(o.dtype == np.float32 for o in out)


def test_one_dimensional_answer_is_one_row() -> None:
    (out,) = proto.parse_embeddings({"data": [{"embedding": [0.6, 0.8]}]}, expected=1, hidden_dim=None)
    assert out.shape == (1, 2)


def test_float_width_must_match_hidden_dim() -> None:
    with pytest.raises(InfinityError, match=r"hidden_dim mismatch.*size 3"):
        proto.parse_embeddings({"data": [{"embedding": [[1.0, 0, 0]]}]}, expected=1, hidden_dim=4)


def test_base64_without_hidden_dim_is_refused() -> None:
    with pytest.raises(InfinityError, match="hidden_dim is unknown"):
        proto.parse_embeddings({"data": [{"embedding": _b64(np.ones(4))}]}, expected=1, hidden_dim=None)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({}, "no 'data' list"),
        ([], "no 'data' list"),
        ({"data": [{"embedding": [[1.0]]}]}, "1 embeddings for 2 inputs"),
        ({"data": [{"index": 0, "embedding": [[1.0]]}, {"index": 0, "embedding": [[1.0]]}]}, "duplicate"),
        ({"data": [{"index": 0}, {"index": 1, "embedding": [[1.0]]}]}, r"data\[0\] has no 'embedding'"),
        ({"data": [{"embedding": [[1.0], [1.0, 2.0]]}, {"embedding": [[1.0]]}]}, "rectangular"),
        ({"data": [{"embedding": 3}, {"embedding": [[1.0]]}]}, "expected a base64 str or a list"),
        ({"data": [{"embedding": [[[1.0]]]}, {"embedding": [[1.0]]}]}, "shape"),
    ],
)
def test_malformed_payloads_raise(payload: object, match: str) -> None:
    with pytest.raises(InfinityError, match=match):
        proto.parse_embeddings(payload, expected=2, hidden_dim=None)


@pytest.mark.parametrize("side", ["leading", "trailing", "both"])
def test_padding_rows_are_stripped(side: str) -> None:
    real = _unit_rows(3, 4)
    pad = np.zeros((2, 4), np.float32)
    padded = {"leading": [pad, real], "trailing": [real, pad], "both": [pad, real, pad]}[side]
    out = proto.finish_rows(np.vstack(padded), normalize=True)
    np.testing.assert_array_equal(out, real)  # unit rows come back untouched


def test_interior_zero_row_is_kept_and_tiny_rows_are_not_padding() -> None:
    arr = np.vstack([_unit_rows(1, 4), np.zeros((1, 4)), _unit_rows(1, 4, 3)]).astype(np.float32)
    assert proto.finish_rows(arr, normalize=True).shape == (3, 4)
    tiny = np.full((1, 4), 1e-30, np.float32)  # squares underflow to 0 but the row is not zero
    assert proto.finish_rows(np.vstack([_unit_rows(1, 4), tiny]), normalize=False).shape == (2, 4)


def test_all_zero_embedding_is_an_error() -> None:
    with pytest.raises(InfinityError, match="only of zero rows"):
        proto.finish_rows(np.zeros((3, 4), np.float32), normalize=False)


def test_normalize_scales_non_unit_rows_only_when_asked() -> None:
    raw = np.array([[3.0, 4.0], [0.0, 2.0]], np.float32)
    np.testing.assert_allclose(proto.finish_rows(raw, normalize=True), [[0.6, 0.8], [0.0, 1.0]])
    np.testing.assert_array_equal(proto.finish_rows(raw, normalize=False), raw)
    unit = _unit_rows(4, 8)
    assert np.shares_memory(proto.finish_rows(unit, normalize=True), unit)  # unit rows: no copy, no pass


def _body(arrays: list[np.ndarray], *, escape_slashes: bool = False, spaced: bool = False) -> bytes:
    data = [{"object": "embedding", "embedding": _b64(a), "index": i} for i, a in enumerate(arrays)]
    text = json.dumps({"object": "list", "data": data, "model": "m"}, separators=(", ", ": ") if spaced else (",", ":"))
    return text.replace("/", "\\/").encode() if escape_slashes else text.encode()


@pytest.mark.parametrize("variant", [{}, {"escape_slashes": True}, {"spaced": True}])
def test_body_fast_path_matches_the_json_parser(variant: dict[str, bool]) -> None:
    arrays = [_unit_rows(40 + i, 16, i) for i in range(5)]
    body = _body(arrays, **variant)
    if variant.get("escape_slashes"):
        assert b"\\/" in body
    fast = proto.parse_embeddings_body(body, expected=5, hidden_dim=16)
    slow = proto.parse_embeddings(json.loads(body), expected=5, hidden_dim=16)
    for f, s, a in zip(fast, slow, arrays, strict=True):
        np.testing.assert_array_equal(f, a)
        np.testing.assert_array_equal(s, a)


def test_body_fast_path_cuts_only_base64_strings() -> None:
    body = _body([_unit_rows(3, 4)])
    skeleton, blobs = proto._cut_base64(body)
    assert len(blobs) == 1 and len(skeleton) < 120
    assert bytes(next(iter(blobs.values()))) == _b64(_unit_rows(3, 4)).encode()
    float_body = json.dumps({"data": [{"embedding": [[1.0, 0.0]], "index": 0}]}).encode()
    assert proto._cut_base64(float_body) == (float_body, {})


@pytest.mark.parametrize("cut", [10, -3, -40])
def test_truncated_bodies_raise(cut: int) -> None:
    body = _body([_unit_rows(3, 4), _unit_rows(2, 4)])
    with pytest.raises(InfinityError):
        proto.parse_embeddings_body(body[:cut], expected=2, hidden_dim=4)


# -- models -------------------------------------------------------------------------------------------------------

MODELS = {
    "data": [
        {"id": "colpali", "capabilities": ["embed", "image_embed"]},
        {"id": "colbert", "capabilities": ["embed"]},
    ]
}


def test_models_and_capabilities() -> None:
    models = proto.parse_models(MODELS)
    assert [m.id for m in models] == ["colpali", "colbert"]
    assert proto.require_served(models, "colpali", images=True).supports_images
    assert proto.require_served(models, "colbert", images=False).id == "colbert"
    with pytest.raises(InfinityError, match="cannot embed images"):
        proto.require_served(models, "colbert", images=True)
    with pytest.raises(InfinityError, match=r"'nope' is not served.*\['colpali', 'colbert'\]"):
        proto.require_served(models, "nope", images=False)
    with pytest.raises(InfinityError, match="invalid /models"):
        proto.parse_models({"data": [{"name": "x"}]})


# -- errors and retries -------------------------------------------------------------------------------------------


def test_openai_error_shape() -> None:
    body = b'{"error":{"message":"Invalid model: Engine for model name `x` not found.","type":null,"code":400}}'
    err = proto.error_from_response(400, body, url="http://h/embeddings", model="x")
    assert err.status_code == 400
    assert err.server_message == "Invalid model: Engine for model name `x` not found"
    assert "model_name='x' is not served" in str(err)


def test_fastapi_detail_shapes() -> None:
    body = b'{"detail":[{"type":"too_long","loc":["body","input"],"msg":"List should have at most 32 items"}]}'
    err = proto.error_from_response(422, body, url="http://h/embeddings")
    assert err.status_code == 422 and err.server_message == "body.input: List should have at most 32 items"
    err = proto.error_from_response(401, b'{"detail":"Unauthorized"}', url="http://h/models", attempts=1)
    assert err.server_message == "Unauthorized" and "api_key" in str(err)


def test_non_json_error_body_and_attempt_count() -> None:
    err = proto.error_from_response(502, b"<html>Bad Gateway</html>", url="http://h/embeddings", attempts=4)
    assert "HTTP 502 after 4 attempts" in str(err) and err.server_message == "<html>Bad Gateway</html>"
    assert proto.error_from_response(503, b"", url="u").server_message == "Service Unavailable"


@pytest.mark.parametrize(("status", "retry"), [(429, True), (500, True), (503, True), (400, False), (404, False)])
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert proto.is_retryable_status(status) is retry


def test_retryable_exceptions() -> None:
    request = httpx.Request("POST", "http://h")
    assert proto.is_retryable_exception(httpx.ConnectError("x", request=request))
    assert proto.is_retryable_exception(httpx.ReadTimeout("x", request=request))
    assert proto.is_retryable_exception(httpx.RemoteProtocolError("incomplete body", request=request))
    assert not proto.is_retryable_exception(httpx.UnsupportedProtocol("x", request=request))
    assert not proto.is_retryable_exception(InfinityError("x"))


def test_transport_error_messages() -> None:
    request = httpx.Request("POST", "http://h")
    err = proto.error_from_transport(httpx.ConnectError("refused", request=request), url="http://h", attempts=3)
    assert err.status_code is None and "could not connect after 3 attempts" in str(err)
    assert "timed out" in str(proto.error_from_transport(httpx.ReadTimeout("t", request=request), url="u"))


def test_retry_after_parsing() -> None:
    assert proto.parse_retry_after("3") == 3.0
    assert proto.parse_retry_after(" 0.5 ") == 0.5
    assert proto.parse_retry_after("-4") == 0.0
    assert proto.parse_retry_after(None) is None and proto.parse_retry_after("nan") is None
    date = email.utils.formatdate(1000.0 + 7, usegmt=True)
    assert proto.parse_retry_after(date, now=1000.0) == pytest.approx(7.0)


# -- shape contract, non-numbers, secrets -------------------------------------------------------------------------


def test_row_contract_learns_unit_rows_then_refuses_rows_of_another_size() -> None:
    contract = proto.RowContract()
    first = _unit_rows(4, 8)
    proto.parse_embeddings({"data": [{"embedding": _b64(first)}]}, expected=1, hidden_dim=8, contract=contract)
    assert contract.unit is True
    # the server now sends 16-wide unit rows: reshaped by 8, each half row has about half the length
    wider = _unit_rows(4, 16, seed=3)
    with pytest.raises(InfinityError, match="not unit length"):
        proto.parse_embeddings({"data": [{"embedding": _b64(wider)}]}, expected=1, hidden_dim=8, contract=contract)
    # zero (padding) rows are not a change of size
    padded = np.vstack([first, np.zeros((2, 8), np.float32)])
    proto.parse_embeddings({"data": [{"embedding": _b64(padded)}]}, expected=1, hidden_dim=8, contract=contract)


def test_row_contract_does_not_check_models_without_unit_rows() -> None:
    contract = proto.RowContract()
    raw = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32) * 7  # ColBERT-mode token states
    proto.parse_embeddings({"data": [{"embedding": raw.tolist()}]}, expected=1, hidden_dim=8, contract=contract)
    assert contract.unit is False
    proto.parse_embeddings({"data": [{"embedding": (raw * 3).tolist()}]}, expected=1, hidden_dim=8, contract=contract)


@pytest.mark.parametrize(
    ("embedding", "match"),
    [
        ([["0.5", "0.5"]], "string values"),
        ([[True, False]], "boolean values"),
        ([[None, 1.0]], "non-numeric"),
        ([[1e39, 0.0]], "float32 range"),
        ([[float("nan"), 1.0]], "NaN or infinite"),
        ([[1e20, 1.0]], "too large to normalise"),
    ],
)
def test_float_answers_must_hold_finite_numbers(embedding: object, match: str) -> None:
    with pytest.raises(InfinityError, match=match):
        proto.parse_embeddings({"data": [{"embedding": embedding}]}, expected=1, hidden_dim=None)


def test_non_finite_base64_values_are_refused() -> None:
    arr = _unit_rows(2, 4)
    arr[1, 2] = np.inf
    with pytest.raises(InfinityError, match="NaN or infinite"):
        proto.parse_embeddings({"data": [{"embedding": _b64(arr)}]}, expected=1, hidden_dim=4)


def test_secrets_are_redacted_before_the_message_is_cut() -> None:
    secret = "Bearer abcdefghijklmnop"
    for offset in (480, 495, 499, 510):
        body = ("x" * offset + secret).encode()
        message = proto.server_message(body, [secret])
        assert message is not None and "abcdefgh" not in message and len(message) <= proto.MAX_SERVER_MESSAGE
    err = proto.error_from_response(400, b'{"detail": "bad ' + secret.encode() + b'"}', url="u", secrets=[secret])
    assert err.server_message == "bad [redacted]" and secret not in str(err)


def test_timeout_error_names_url_deadline_and_attempts() -> None:
    err = proto.timeout_error(url="http://h/embeddings", deadline=2.5, attempts=3, last="HTTP 503: busy")
    assert isinstance(err, InfinityError) and err.url == "http://h/embeddings"
    assert "2.5s" in str(err) and "3 attempts" in str(err) and "HTTP 503: busy" in str(err)
