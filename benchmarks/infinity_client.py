"""Benchmark of the Infinity client: per-request overhead, base64 decode throughput, async concurrency.

Starts a real Infinity server itself (the test helper in ``tests/support/infinity_server.py``, tiny offline models
from ``multivec/testing/tiny_models.py``), then measures:

1. **per-request client overhead**: median latency of ``InfinityEmbeddings.embed_query`` / ``embed_image`` minus
   that of a raw ``httpx`` POST of the same body (with a minimal decode) on the same server;
2. **base64 decode throughput** on a synthetic payload (ColPali-page-sized multi-vectors), in GB/s of float32
   produced: the decoder alone, and the whole response path (JSON body → arrays, padding check included), next to a
   ``memcpy`` of the same size for scale (the machine may be shared);
3. **async throughput**: ``B`` batches sent one after the other (sync) vs ``aembed_documents`` with ``N`` batches in
   flight (the server batches concurrent requests together).

Run from the repository root (needs the Infinity venv, see ``tests/support/infinity_server.py``)::

    python benchmarks/infinity_client.py                 # defaults
    python benchmarks/infinity_client.py --requests 300 --concurrency 8 --batches 48
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from multivec.embeddings import _infinity_protocol as proto  # noqa: E402
from multivec.embeddings.infinity import InfinityEmbeddings  # noqa: E402
from multivec.testing import tiny_models  # noqa: E402
from tests.support.infinity_server import InfinityServer, infinity_venv  # noqa: E402

Row = tuple[str, str, str]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _best(fn: Callable[[], Any], repeat: int) -> float:
    return min(_timed(fn) for _ in range(repeat))


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1e3, ordered[int(0.9 * (len(ordered) - 1))] * 1e3


# -- 1. per-request overhead ------------------------------------------------------------------------------------------


def overhead(url: str, requests: int) -> list[Row]:
    rows: list[Row] = []
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    png = io.BytesIO()
    image.save(png, format="PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    cases: list[tuple[str, str, dict[str, Any], Callable[[InfinityEmbeddings], Any]]] = [
        (
            "text, base64",
            "base64",
            {"input": ["hello world"], "modality": "text"},
            lambda e: e.embed_query("hello world"),
        ),
        (
            "text, float",
            "float",
            {"input": ["hello world"], "modality": "text"},
            lambda e: e.embed_query("hello world"),
        ),
        ("640x480 image, base64", "base64", {"input": [data_uri], "modality": "image"}, lambda e: e.embed_image(image)),
    ]
    with httpx.Client(timeout=60) as raw:
        for label, encoding, body, run_client in cases:
            body = {"model": "tiny-colpali", "encoding_format": encoding, **body}

            def run_raw(body: dict[str, Any] = body, encoding: str = encoding) -> list[np.ndarray]:
                data = raw.post(f"{url}/embeddings", json=body).raise_for_status().json()["data"]
                if encoding == "base64":
                    return [np.frombuffer(base64.b64decode(d["embedding"]), "<f4").reshape(-1, 128) for d in data]
                return [np.asarray(d["embedding"], np.float32) for d in data]

            with InfinityEmbeddings(url=url, model_name="tiny-colpali", encoding=encoding) as emb:  # type: ignore[arg-type]
                for _ in range(10):  # warm up both paths (connections, model check, server caches)
                    run_raw()
                    run_client(emb)
                raw_times, client_times = [], []
                for _ in range(requests):  # interleaved, so drift in server load hits both alike
                    raw_times.append(_timed(run_raw))
                    client_times.append(_timed(functools.partial(run_client, emb)))
            (raw_med, raw_p90), (cli_med, cli_p90) = _ms(raw_times), _ms(client_times)
            rows.append((f"latency raw httpx ({label})", f"{raw_med:.2f} ms", f"p90 {raw_p90:.2f} ms"))
            rows.append((f"latency InfinityEmbeddings ({label})", f"{cli_med:.2f} ms", f"p90 {cli_p90:.2f} ms"))
            rows.append(
                (
                    f"client overhead ({label})",
                    f"{cli_med - raw_med:+.2f} ms",
                    f"{(cli_med - raw_med) / raw_med:+.0%} of the raw median"
                    + (" (includes PNG encoding)" if "image" in label else ""),
                )
            )
    encode = _best(lambda: proto.image_inputs([image]), 5)
    rows.append(
        (
            "of which PNG + base64 encoding (640x480)",
            f"{encode * 1e3:.2f} ms",
            "lossless; the raw call sends a ready URI",
        )
    )
    return rows


# -- 2. decode throughput ---------------------------------------------------------------------------------------------


def decode_throughput(items: int, tokens: int, repeat: int) -> list[Row]:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((tokens, 128)).astype(np.float32) for _ in range(items)]
    arrays = [a / np.linalg.norm(a, axis=1, keepdims=True) for a in arrays]
    texts = [base64.b64encode(a.tobytes()).decode("ascii") for a in arrays]
    data = [{"object": "embedding", "embedding": t, "index": i} for i, t in enumerate(texts)]
    payload = {"object": "list", "data": data, "model": "bench"}
    body = json.dumps(payload, separators=(",", ":")).encode()  # compact, as Infinity (orjson) writes it
    nbytes = sum(a.nbytes for a in arrays)
    scratch = os.urandom(nbytes)

    def decode(decoder: Callable[[str], Any]) -> Callable[[], Any]:
        return lambda: [np.frombuffer(decoder(t), "<f4").reshape(-1, 128) for t in texts]

    check = proto.decode_base64(texts[0], 128)
    assert np.array_equal(check, arrays[0]) and not check.flags.owndata  # a view: zero-copy
    measured = {
        "memcpy of the same size (scale)": lambda: bytearray(scratch),
        "base64 decode (proto.decode_base64)": lambda: [proto.decode_base64(t, 128) for t in texts],
        "base64 decode, stdlib fallback": decode(proto._b64_stdlib),
        "arrays from parsed JSON (decode + strip + norm check)": lambda: proto.parse_embeddings(
            payload, expected=items, hidden_dim=128, normalize=True
        ),
        "response body -> arrays (client path, base64 cut out of the JSON)": lambda: proto.parse_embeddings_body(
            body, expected=items, hidden_dim=128, normalize=True
        ),
        "response body -> arrays through a JSON parser (for comparison)": lambda: proto.parse_embeddings(
            proto.decode_json(body), expected=items, hidden_dim=128, normalize=True
        ),
    }
    rows: list[Row] = []
    for label, fn in measured.items():
        seconds = _best(fn, repeat)
        rows.append(
            (label, f"{nbytes / seconds / 1e9:.2f} GB/s", f"{nbytes / 1e6:.0f} MB float32 in {seconds * 1e3:.1f} ms")
        )
    fast = "pybase64" if proto._b64 is not proto._b64_stdlib else "stdlib (pybase64 not installed)"
    rows.append(("base64 decoder in use", fast, f"{items} x ({tokens}, 128) multi-vectors"))
    return rows


# -- 3. async concurrency ---------------------------------------------------------------------------------------------


def concurrency(url: str, batches: int, batch_size: int, concurrency: int) -> list[Row]:
    texts = [[f"query {b}-{i}: " + "word " * (1 + (b + i) % 9) for i in range(batch_size)] for b in range(batches)]
    total = batches * batch_size

    def sequential() -> None:
        with InfinityEmbeddings(url=url, model_name="tiny-colpali") as emb:
            emb.embed_query("warm up")
            start = time.perf_counter()
            for batch in texts:
                emb.embed_documents(batch)
            timings["sequential"] = time.perf_counter() - start

    async def concurrent() -> None:
        async with InfinityEmbeddings(url=url, model_name="tiny-colpali", max_connections=concurrency) as emb:
            await emb.aembed_query("warm up")
            limit = asyncio.Semaphore(concurrency)

            async def one(batch: list[str]) -> list[np.ndarray]:
                async with limit:
                    return await emb.aembed_documents(batch)

            start = time.perf_counter()
            results = await asyncio.gather(*(one(batch) for batch in texts))
            timings["concurrent"] = time.perf_counter() - start
            assert sum(len(r) for r in results) == total

    timings: dict[str, float] = {}
    sequential()
    asyncio.run(concurrent())
    seq, conc = total / timings["sequential"], total / timings["concurrent"]
    return [
        (
            f"sync, {batches} batches of {batch_size} texts one by one",
            f"{seq:.0f} texts/s",
            f"{timings['sequential']:.2f} s",
        ),
        (f"async, {concurrency} batches in flight", f"{conc:.0f} texts/s", f"{timings['concurrent']:.2f} s"),
        ("async speed-up", f"x{conc / seq:.2f}", "server batches concurrent requests together"),
    ]


# -- main -------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per latency case")
    parser.add_argument("--batches", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--decode-items", type=int, default=32, help="multi-vectors in the synthetic payload")
    parser.add_argument("--decode-tokens", type=int, default=1030, help="rows per multi-vector (a ColPali page)")
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--models-dir", default=str(Path(tempfile.gettempdir()) / "multivec-bench-models"))
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    models = Path(args.models_dir)
    colpali = tiny_models.build_tiny_colpali(models / "tiny-colpali")
    rows: list[Row] = [("machine", f"{os.cpu_count()} CPUs", f"load average {os.getloadavg()[0]:.1f} at start")]
    with InfinityServer(infinity_venv(), {"tiny-colpali": colpali}, threads=args.server_threads) as server:
        rows += overhead(server.url, args.requests)
        rows += concurrency(server.url, args.batches, args.batch_size, args.concurrency)
    rows += decode_throughput(args.decode_items, args.decode_tokens, repeat=7)
    rows.append(("machine", f"{os.cpu_count()} CPUs", f"load average {os.getloadavg()[0]:.1f} at end"))

    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    line = "-" * (sum(widths) + 6)
    print(line)
    print(f"{'measure':<{widths[0]}} | {'value':>{widths[1]}} | notes")
    print(line)
    for measure, value, note in rows:
        print(f"{measure:<{widths[0]}} | {value:>{widths[1]}} | {note}")
    print(line)


if __name__ == "__main__":
    main()
