"""The Infinity ``/embeddings`` wire protocol, without any I/O.

Everything :class:`~multivec.embeddings.infinity.InfinityEmbeddings` needs to talk to an Infinity server
(infinity-emb 0.0.78) except the sending itself: request bodies, response decoding, padding-row stripping, error
mapping, retry decisions and request-size limits. Both the sync and the async client use exactly these functions.

Facts this module relies on (checked against the real server):

- the request field is ``encoding_format`` (``"float"`` | ``"base64"``); ``modality`` is ``"text"`` | ``"image"``;
  images travel as ``data:image/<fmt>;base64,…`` URIs; ``dimensions`` is never sent (it slices *tokens* of a
  multi-vector);
- ``float`` answers are nested lists ``[n_tokens][dim]``; ``base64`` answers are the flat little-endian float32
  buffer with no shape, so the client reshapes by ``hidden_dim``;
- the server pads every dynamic batch (formed *across* concurrent requests) and returns padded positions as
  all-zero rows, leading (ColQwen2) or trailing (ColPali);
- errors come as ``{"error": {"message", "code"}}`` (400/429/500) or FastAPI's ``{"detail": ...}`` (401/422).

An answer is never reshaped silently: a float answer carries its shape and is checked against ``hidden_dim``; a base64
answer does not, so its length must be a whole number of rows, and when the model is known to send unit-length rows
(see :class:`RowContract`) every row must still be unit length — rows of another size, cut or glued to ``hidden_dim``,
are not. Non-finite values, empty embeddings and counts that differ from the inputs are errors too.

>>> import base64, numpy as np
>>> rows = np.array([[0.6, 0.8], [0.0, 0.0]], dtype="<f4")
>>> payload = {"data": [{"index": 0, "embedding": base64.b64encode(rows.tobytes()).decode()}]}
>>> parse_embeddings(payload, expected=1, hidden_dim=2)[0]
array([[0.6, 0.8]], dtype=float32)
"""

from __future__ import annotations

import binascii
import email.utils
import json
import math
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
import numpy as np

from multivec.errors import InfinityError, InfinityTimeoutError
from multivec.images import to_data_uri
from multivec.types import Embedding

__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "MAX_TEXTS_PER_REQUEST",
    "REDACTED",
    "Encoding",
    "Modality",
    "ModelInfo",
    "RowContract",
    "build_embeddings_body",
    "chunked",
    "decode_base64",
    "decode_json",
    "error_from_response",
    "error_from_transport",
    "finish_rows",
    "image_inputs",
    "is_retryable_exception",
    "is_retryable_status",
    "parse_embeddings",
    "parse_embeddings_body",
    "parse_models",
    "parse_retry_after",
    "redact",
    "require_served",
    "server_message",
    "timeout_error",
]

#: Infinity accepts at most 32 images per request (pydantic ``max_length=min(32, max_client_batch_size)``).
MAX_IMAGES_PER_REQUEST = 32
#: Default ``INFINITY_MAX_CLIENT_BATCH_SIZE``: at most 2048 texts per request.
MAX_TEXTS_PER_REQUEST = 2048

Encoding = Literal["base64", "float"]
Modality = Literal["text", "image"]

#: Text sent by the ``hidden_dim`` auto-detection probe.
PROBE_TEXT = "multivec hidden_dim probe"

_F32_LE = np.dtype("<f4")

_json_loads: Callable[[bytes], Any]
try:  # orjson parses large base64 bodies several times faster than the standard library
    import orjson

    _json_loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _json_loads = json.loads
_T = TypeVar("_T")


def chunked(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    """Split ``items`` into consecutive slices of at most ``size`` items.

    >>> chunked([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise ValueError(f"chunk size must be positive, got {size}")
    return [items[start : start + size] for start in range(0, len(items), size)]


# -- requests ----------------------------------------------------------------------------------------------------


def image_inputs(images: Iterable[Any]) -> list[str]:
    """Data URIs for decoded images: lossless PNG, or the original bytes of an unchanged JPEG."""
    return [to_data_uri(image) for image in images]


def build_embeddings_body(
    inputs: Sequence[str], *, model: str, modality: Modality, encoding: Encoding
) -> dict[str, Any]:
    """JSON body of ``POST /embeddings``. Never contains ``dimensions``.

    >>> build_embeddings_body(["hi"], model="m", modality="text", encoding="base64")
    {'model': 'm', 'input': ['hi'], 'encoding_format': 'base64', 'modality': 'text'}
    """
    return {"model": model, "input": list(inputs), "encoding_format": encoding, "modality": modality}


# -- responses ---------------------------------------------------------------------------------------------------


def _bad_response(url: str | None, what: str) -> InfinityError:
    return InfinityError(
        f"Infinity at {url or 'the server'} sent an invalid embeddings response: {what}. Check that the URL points "
        "at an Infinity server (not a proxy error page) and that client and server versions match",
        url=url,
    )


def _b64_stdlib(text: str | bytes | memoryview) -> bytearray:
    """Strict base64 decoding with the standard library (~10x slower than pybase64; one extra copy)."""
    if sys.version_info >= (3, 11):
        return bytearray(binascii.a2b_base64(text, strict_mode=True))
    import base64  # pragma: no cover - Python 3.10

    return bytearray(base64.b64decode(text, validate=True))  # pragma: no cover


try:  # SIMD base64 (several GB/s), decoding straight into a writable buffer
    import pybase64

    def _b64(text: str | bytes | memoryview) -> bytearray:
        return pybase64.b64decode_as_bytearray(text, validate=True)

except ImportError:  # pragma: no cover - depends on the environment
    _b64 = _b64_stdlib


def decode_base64(text: str | bytes | memoryview, hidden_dim: int, *, url: str | None = None) -> Embedding:
    """Decode one base64 embedding: a flat little-endian float32 buffer, reshaped to ``(-1, hidden_dim)``.

    Zero-copy: with ``pybase64`` installed the text is decoded straight into a buffer that the array views.
    A length that is not a whole number of rows raises :class:`~multivec.errors.InfinityError` ("hidden_dim mismatch") instead of returning garbage.

    >>> decode_base64("AACAPwAAAEA=", 2)
    array([[1., 2.]], dtype=float32)
    """
    try:
        raw = _b64(text)
    except (binascii.Error, ValueError, TypeError) as err:
        raise _bad_response(url, f"an embedding is not valid base64 ({err})") from None
    row_bytes = 4 * hidden_dim
    if not raw or len(raw) % row_bytes:
        floats = len(raw) / 4
        raise InfinityError(
            f"hidden_dim mismatch: the server sent {floats:g} float32 values, which is not a positive multiple of "
            f"hidden_dim={hidden_dim}. Set hidden_dim to the model's vector size (128 for ColPali/ColQwen2, the "
            "hidden size for ColBERT-mode models) or pass hidden_dim='auto' to detect it",
            url=url,
        )
    return np.frombuffer(raw, dtype=_F32_LE).reshape(-1, hidden_dim)


def _decode_float(value: list[Any], hidden_dim: int | None, url: str | None) -> Embedding:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # numpy's message may quote the values, which can be anything the server echoed
        raise _bad_response(url, "an embedding is not a rectangular list of numbers") from None
    if arr.size and arr.dtype.kind not in "iuf":  # numpy would turn "0.5", True or None into floats without a word
        raise _bad_response(url, f"an embedding holds {_KINDS.get(arr.dtype.kind, 'non-numeric')} values, not numbers")
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = arr.astype(np.float32)
    if not np.isfinite(narrow).all() and np.isfinite(arr).all():
        raise _bad_response(url, "an embedding holds values beyond the float32 range")
    arr = narrow
    if arr.ndim == 1:  # a single-vector (dense) model: one row
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.size == 0:
        raise _bad_response(url, f"an embedding has shape {arr.shape}, expected (n_tokens, dim)")
    if hidden_dim is not None and arr.shape[1] != hidden_dim:
        raise InfinityError(
            f"hidden_dim mismatch: the server sent vectors of size {arr.shape[1]}, but hidden_dim={hidden_dim}. "
            f"Pass hidden_dim={arr.shape[1]} (or hidden_dim='auto')",
            url=url,
        )
    return arr


_KINDS = {"b": "boolean", "U": "string", "S": "bytes", "O": "non-numeric (null, nested or mixed)"}


def _unit(row: Embedding) -> bool:
    return abs(float(np.dot(row, row)) - 1.0) <= 1e-4


#: How far from 1 a row's squared length may be for the row to count as unit length: loose enough for models run in
#: bfloat16 (~1e-2 at worst), far from what a row of another size cut or glued to ``hidden_dim`` gives (~0.5 or ~2).
UNIT_TOLERANCE = 0.1


@dataclass
class RowContract:
    """What the client learned about the served model's rows, that later answers must keep.

    ``unit``: ``None`` until the first answer; then whether every non-zero row of that answer had unit length (ColPali,
    ColQwen2, dense models do; Infinity's ColBERT mode does not). Once ``True``, a row that is neither zero (padding)
    nor unit length means the answer does not have the size the client reshapes by — a base64 answer has no shape of
    its own — and :meth:`check` raises :class:`~multivec.errors.InfinityError` instead of returning cut or glued rows.
    """

    unit: bool | None = None

    def check(self, norms2: np.ndarray, *, url: str | None, hidden_dim: int) -> None:
        """Learn from, or check against, the squared row lengths of one embedding."""
        live = norms2[norms2 != 0]
        unit = bool(np.all(np.abs(live - 1.0) <= UNIT_TOLERANCE))
        if self.unit is None:
            self.unit = unit
        elif self.unit and not unit:
            raise InfinityError(
                f"Infinity at {url} sent rows that are not unit length, although this model's rows were; the vector "
                f"size of the answer is probably no longer hidden_dim={hidden_dim} (another model behind the same "
                "name, or a server restarted with other settings). Check the served model; hidden_dim='auto' learns "
                "the size again on a new client",
                url=url,
            )


def finish_rows(arr: Embedding, *, normalize: bool, url: str | None = None) -> Embedding:
    """Strip leading and trailing all-zero (padding) rows; optionally scale rows to unit L2 norm.

    Models either normalise every row (ColPali, ColQwen2) or none (Infinity's ColBERT mode returns raw token
    states), so with ``normalize`` the first and last real rows decide: unit rows are returned untouched, as a view
    (no pass over the data); otherwise every row is scaled to unit norm. An embedding made only
    of zero rows raises :class:`~multivec.errors.InfinityError`.

    >>> finish_rows(np.array([[0, 0], [3, 4], [0, 0]], np.float32), normalize=True)
    array([[0.6, 0.8]], dtype=float32)
    """
    if len(arr) == 0 or not (arr[0].any() and arr[-1].any()):  # padding sits only at the edges
        live = np.flatnonzero(arr.any(axis=1))
        if live.size == 0:
            raise InfinityError(
                "Infinity returned an embedding made only of zero rows; the model produced no usable vectors for "
                "this input. Check the input and the server logs",
                url=url,
            )
        arr = arr[int(live[0]) : int(live[-1]) + 1]
    if normalize and not (_unit(arr[0]) and _unit(arr[-1])):
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr), dtype=np.float32)
        norms[norms == 0] = 1.0  # an interior zero row stays zero
        arr = arr / norms[:, None]
    return arr


def parse_embeddings(
    payload: Any,
    *,
    expected: int,
    hidden_dim: int | None,
    normalize: bool = False,
    url: str | None = None,
    blobs: Mapping[str, memoryview] | None = None,
    contract: RowContract | None = None,
) -> list[Embedding]:
    """Decode an ``/embeddings`` response into one ``(n_tokens, dim)`` float32 array per input, in input order.

    Each ``embedding`` may be a base64 string or a (nested) float list, whatever was asked for. ``hidden_dim`` is
    required for base64 and checked against float answers (``None``: take it from the answer). Padding rows are
    stripped (see :func:`finish_rows`). ``blobs`` maps placeholders left by :func:`parse_embeddings_body` to the
    base64 text they stand for. ``contract`` learns from (first answer) or checks (later answers) the rows' length.
    Non-finite values, and values whose squares overflow float32 (above ~1.8e19; no model sends those), raise
    :class:`~multivec.errors.InfinityError`.
    """
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        raise _bad_response(url, "no 'data' list")
    if len(data) != expected:
        raise _bad_response(url, f"{len(data)} embeddings for {expected} inputs")
    ordered: list[Any] = [None] * expected
    for position, item in enumerate(data):
        if not isinstance(item, Mapping) or "embedding" not in item:
            raise _bad_response(url, f"data[{position}] has no 'embedding'")
        index = item.get("index", position)
        if type(index) is not int or not 0 <= index < expected or ordered[index] is not None:
            raise _bad_response(url, f"data[{position}] has a missing, duplicate or out-of-range index {index!r}")
        ordered[index] = item["embedding"]
    out = []
    for position, value in enumerate(ordered):
        if isinstance(value, str):
            if hidden_dim is None:
                raise InfinityError(
                    "the server sent base64 embeddings but hidden_dim is unknown; pass hidden_dim or 'auto'", url=url
                )
            arr = decode_base64(blobs.get(value, value) if blobs else value, hidden_dim, url=url)
        elif isinstance(value, list):
            arr = _decode_float(value, hidden_dim, url)
        else:
            raise _bad_response(url, f"an embedding is {type(value).__name__}, expected a base64 str or a list")
        norms2 = np.einsum("ij,ij->i", arr, arr)  # one pass: NaN, inf and values whose square overflows all show
        if not np.isfinite(norms2).all():
            what = "NaN or infinite values" if not np.isfinite(arr).all() else "values too large to normalise"
            raise _bad_response(url, f"the embedding of input {position} holds {what}")
        if contract is not None:
            contract.check(norms2, url=url, hidden_dim=arr.shape[1])
        out.append(finish_rows(arr, normalize=normalize, url=url))
    return out


_EMBEDDING_KEY = b'"embedding"'
_JSON_SPACE = b" \t\r\n"


def _cut_base64(body: bytes) -> tuple[bytes, dict[str, memoryview]]:
    r"""Replace every ``"embedding": "<base64>"`` of a body by a short placeholder; return it and the cut-out texts.

    A JSON parser turns megabytes of base64 into Python strings at a few hundred MB/s; cutting them out (``find`` runs
    at memory speed) and decoding them from views of the body is several times faster. ``"`` cannot occur unescaped
    inside a JSON string, so every match is a real ``embedding`` key; a value with escapes (``\/``) makes this give
    up and return the body unchanged. Float (list) values are left in place.
    """
    view = memoryview(body)
    nonce = secrets.token_hex(4)
    parts: list[bytes | memoryview] = []
    blobs: dict[str, memoryview] = {}
    last = 0
    pos = body.find(_EMBEDDING_KEY)
    while pos >= 0:
        i = pos + len(_EMBEDDING_KEY)
        while i < len(body) and body[i] in _JSON_SPACE:
            i += 1
        is_key = i < len(body) and body[i] == 0x3A  # ':' (else "embedding" was a value, e.g. of "object")
        if is_key:
            i += 1
            while i < len(body) and body[i] in _JSON_SPACE:
                i += 1
        if is_key and i < len(body) and body[i] == 0x22:  # '"': a string value starts
            start = i + 1
            end = body.find(b'"', start)
            if end < 0 or body.find(b"\\", start, end) >= 0:
                return body, {}
            name = f"#b64:{nonce}:{len(blobs)}"  # '#' is not base64: no real value can look like this
            blobs[name] = view[start:end]
            parts += [view[last:start], name.encode("ascii")]
            last = i = end
        pos = body.find(_EMBEDDING_KEY, i)
    if not blobs:
        return body, {}
    parts.append(view[last:])
    return b"".join(parts), blobs


def parse_embeddings_body(
    body: bytes,
    *,
    expected: int,
    hidden_dim: int | None,
    normalize: bool = False,
    url: str | None = None,
    status: int | None = None,
    contract: RowContract | None = None,
) -> list[Embedding]:
    """:func:`parse_embeddings` of a raw response body, decoding base64 straight from the body's bytes."""
    skeleton, blobs = _cut_base64(body)
    payload = decode_json(skeleton, url=url, status=status)
    return parse_embeddings(
        payload,
        expected=expected,
        hidden_dim=hidden_dim,
        normalize=normalize,
        url=url,
        blobs=blobs,
        contract=contract,
    )


def decode_json(body: bytes, *, url: str | None = None, status: int | None = None) -> Any:
    """Parse a response body; an invalid or truncated body raises :class:`~multivec.errors.InfinityError`."""
    try:
        return _json_loads(body)
    except ValueError as err:
        raise InfinityError(
            f"Infinity at {url} sent a body that is not valid JSON ({err}; {len(body)} bytes, possibly truncated). "
            "Check the server and any proxy in between",
            status_code=status,
            url=url,
        ) from None


# -- models ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``GET /models``: the served name and its capabilities (``embed``, ``image_embed``, …)."""

    id: str
    capabilities: frozenset[str]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def supports_images(self) -> bool:
        return "image_embed" in self.capabilities


def parse_models(payload: Any, *, url: str | None = None) -> list[ModelInfo]:
    """Decode ``GET /models`` (``{"data": [{"id", "capabilities", ...}]}``)."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list) or not all(isinstance(m, Mapping) and isinstance(m.get("id"), str) for m in data):
        raise InfinityError(f"Infinity at {url} sent an invalid /models response; is the URL right?", url=url)
    return [ModelInfo(m["id"], frozenset(m.get("capabilities") or ()), m) for m in data]


def require_served(models: Sequence[ModelInfo], model: str, *, images: bool, url: str | None = None) -> ModelInfo:
    """The served model called ``model``; :class:`~multivec.errors.InfinityError` if absent or text-only for images."""
    for info in models:
        if info.id == model:
            if images and not info.supports_images:
                raise InfinityError(
                    f"model {model!r} on Infinity at {url} cannot embed images (capabilities: "
                    f"{sorted(info.capabilities)}, no 'image_embed'); serve a ColPali/ColQwen2 model for images",
                    url=url,
                )
            return info
    served = [info.id for info in models]
    raise InfinityError(
        f"model {model!r} is not served by Infinity at {url}; served models: {served}. Pass one of them as "
        "model_name, or start the server with --served-model-name",
        url=url,
    )


# -- errors and retries ------------------------------------------------------------------------------------------

_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def is_retryable_status(status: int) -> bool:
    """429 (overloaded) and every 5xx are worth retrying; other statuses are not."""
    return status == 429 or status >= 500


def is_retryable_exception(exc: BaseException) -> bool:
    """Connect/read/write errors, timeouts and dropped connections (incl. truncated bodies) are retried."""
    return isinstance(exc, _RETRYABLE_TRANSPORT)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); ``None`` if absent/invalid.

    >>> parse_retry_after("2"), parse_retry_after("soon")
    (2.0, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


REDACTED = "[redacted]"


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[redacted]`` (pass the longest secrets first).

    >>> redact("bad key: Bearer k3y-123", ["Bearer k3y-123", "k3y-123"])
    'bad key: [redacted]'
    """
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


#: Longest server message kept in an error (bodies can echo whole requests, images included).
MAX_SERVER_MESSAGE = 500


def server_message(body: bytes, secrets: Sequence[str] = ()) -> str | None:
    """The human-readable message of an error body (either error shape, or the start of a non-JSON body).

    ``secrets`` are redacted before the message is cut to :data:`MAX_SERVER_MESSAGE` characters, so that no cut
    can leave part of one behind.
    """
    try:
        text = _server_text(body)
    except RecursionError:  # deeply nested JSON: show the start of the body instead
        text = body.decode("utf-8", "replace").strip() or None
    if text is None:
        return None
    text = redact(text, secrets)
    return text if len(text) <= MAX_SERVER_MESSAGE else text[: MAX_SERVER_MESSAGE - 1] + "…"


def _server_text(body: bytes) -> str | None:
    try:
        payload = _json_loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return body.decode("utf-8", "replace").strip() or None
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        detail = payload.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if isinstance(item, Mapping):
                    loc = ".".join(str(p) for p in item.get("loc", ()))
                    parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
                else:
                    parts.append(str(item))
            return "; ".join(parts) or None
    return str(payload)


def _hint(status: int, message: str, model: str | None) -> str:
    if status == 401 or status == 403:
        return "the server requires an API key: pass api_key (or set INFINITY_API_KEY)"
    if status == 404:
        return "check url and url_prefix (Infinity's INFINITY_URL_PREFIX, e.g. '/v1')"
    if "Invalid model" in message or ("not found" in message.lower() and "model" in message.lower()):
        return f"model_name={model!r} is not served; pass one of the served model names"
    if "does not support" in message and "image" in message:
        return f"model {model!r} cannot embed images (no 'image_embed' capability); serve a ColPali/ColQwen2 model"
    if "ImageCorruption" in message:
        return "the image could not be decoded by the server or is smaller than 3x3 pixels"
    if status == 413:
        return "the request is too large; lower the batch size"
    if status == 422:
        return "the server rejected the request body; check inputs and the per-request limits"
    if status == 429:
        return "the server is overloaded; lower concurrency or raise max_retries"
    if status >= 500:
        return "server-side failure; check the Infinity server logs"
    return "check the request"


def error_from_response(
    status: int,
    body: bytes,
    *,
    url: str,
    model: str | None = None,
    attempts: int = 1,
    secrets: Sequence[str] = (),
) -> InfinityError:
    """Map an HTTP error response (either error shape) to an :class:`~multivec.errors.InfinityError`.

    ``secrets`` (API key, header values) are redacted from the server's message, which may echo the request.
    """
    message = (server_message(body, secrets) or httpx.codes.get_reason_phrase(status) or "no message").rstrip(". ")
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return InfinityError(
        f"Infinity returned HTTP {status}{tries} for {url}: {message}. {_hint(status, message, model)}",
        status_code=status,
        server_message=message,
        url=url,
    )


def error_from_transport(exc: BaseException, *, url: str, attempts: int = 1) -> InfinityError:
    """Map a transport failure (refused connection, timeout, dropped connection) to an InfinityError."""
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, httpx.TimeoutException):
        what, todo = "timed out", "raise timeout, or check that the server is not overloaded"
    elif isinstance(exc, httpx.ConnectError):
        what, todo = "could not connect", "check that the Infinity server is running and that url is right"
    else:
        what, todo = "failed", "check the server and the network between client and server"
    return InfinityError(f"request to Infinity {what}{tries} ({url}: {type(exc).__name__}: {exc}); {todo}", url=url)


def timeout_error(
    *, url: str, deadline: float, attempts: int, last: str | None = None, server_message: str | None = None
) -> InfinityTimeoutError:
    """The error of a call that ran out of its total deadline (``timeout``), naming the last failure if any."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    cause = f"; last failure: {last}" if last else ""
    return InfinityTimeoutError(
        f"Infinity call to {url} did not finish within its deadline of {deadline:g}s (timeout, which covers every "
        f"attempt, retry wait and the whole answer) after {tries}{cause}. Raise timeout, or check that the server "
        "is not overloaded or sending its answer too slowly",
        server_message=server_message,
        url=url,
    )
