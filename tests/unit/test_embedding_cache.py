"""The embedding cache (multivec.embeddings.cache): real embedders, real SQLite files, real child processes."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import multivec
from multivec.embeddings import (
    CachedEmbeddings,
    CachedMultiModalEmbeddings,
    CacheStats,
    DeterministicFakeMultiVectorEmbedding,
    DiskCache,
    MemoryCache,
    MultiVectorBaseEmbedding,
    MultiVectorMultiModalEmbedding,
)
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.types import Embedding, ImageInput

Fake = DeterministicFakeMultiVectorEmbedding
TEXTS = ["red apples", "blue cars", "green pears and plums", "a boundary layer"]


class Counting(Fake):
    """The fake embedder, recording every call that reaches its primitives (sync and async apart)."""

    def __init__(self, dim: int = 8, **options: int) -> None:
        super().__init__(dim, **options)
        self.calls: list[tuple[str, tuple[str, ...] | int, bool | None]] = []

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        self.calls.append(("texts", tuple(texts), is_query))
        return super()._embed_texts(texts, is_query=is_query)

    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        self.calls.append(("images", len(images), None))
        return super()._embed_images(images)

    async def _aembed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        self.calls.append(("atexts", tuple(texts), is_query))
        await asyncio.sleep(0)
        return Fake._embed_texts(self, texts, is_query=is_query)

    async def _aembed_images(self, images: list[Image.Image]) -> list[Embedding]:
        self.calls.append(("aimages", len(images), None))
        await asyncio.sleep(0)
        return Fake._embed_images(self, images)


class QueryShifted(Counting):
    """Queries and documents of the same text embed differently (as ColBERT's [Q]/[D] markers make them)."""

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        out = super()._embed_texts(texts, is_query=is_query)
        return [-vectors if is_query else vectors for vectors in out]


class Renamed(Fake):
    def __init__(self) -> None:
        super().__init__(8)
        self.model_name = "another-model"


class TextOnly(MultiVectorBaseEmbedding):
    """A text-only embedder (no image methods): the fake's token vectors."""

    def __init__(self) -> None:
        super().__init__(model_name="text-only")
        self._fake = Fake(8)

    @property
    def dim(self) -> int:
        return 8

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return self._fake._embed_texts(texts, is_query=is_query)


class Pooled(Counting):
    """A single-vector embedder (like BiPali): one ``(dim,)`` vector per input."""

    is_multi_vector = False

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        return [vectors.mean(axis=0) for vectors in super()._embed_texts(texts, is_query=is_query)]


def same(got: list[Embedding], want: list[Embedding]) -> bool:
    return len(got) == len(want) and all(
        g.dtype == np.float32 and np.array_equal(g, w) for g, w in zip(got, want, strict=True)
    )


@pytest.fixture(params=["memory", "disk"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryCache | DiskCache:
    return MemoryCache() if request.param == "memory" else DiskCache(tmp_path / "cache")


# -- hits and misses --------------------------------------------------------------------------------------------


def test_only_misses_reach_the_embedder_and_results_equal_the_unwrapped_ones(cache: MemoryCache | DiskCache) -> None:
    inner = Counting()
    emb = CachedEmbeddings(inner, cache)
    plain = Fake(8)

    assert same(emb.embed_documents(TEXTS[:2]), plain.embed_documents(TEXTS[:2]))
    assert inner.calls == [("texts", tuple(TEXTS[:2]), False)]
    assert emb.cache_stats() == CacheStats(hits=0, misses=2, bytes=2 * 2 * 8 * 4, entries=2)

    # hits and misses interleaved: one call with the misses only, results in the caller's order
    mixed = [TEXTS[2], TEXTS[0], TEXTS[3], TEXTS[1]]
    assert same(emb.embed_documents(mixed), plain.embed_documents(mixed))
    assert inner.calls[1:] == [("texts", (TEXTS[2], TEXTS[3]), False)]
    stats = emb.cache_stats()
    assert (stats.hits, stats.misses, stats.entries) == (2, 4, 4)

    assert same(emb.embed_documents(TEXTS), plain.embed_documents(TEXTS))
    assert len(inner.calls) == 2
    assert emb.cache_stats().hits == 6


def test_batches_keep_the_wrapped_chunking_with_one_call_per_chunk_of_misses() -> None:
    inner = Counting(embed_batch_size=2)
    emb = CachedEmbeddings(inner)
    assert emb.embed_batch_size == 2 and emb.max_concurrency == inner.max_concurrency
    emb.embed_text(TEXTS[1])
    out = emb.embed_documents_batch(TEXTS, show_progress=False)
    assert same(out, Fake(8).embed_documents(TEXTS))
    # chunks [0, 1] and [2, 3]; TEXTS[1] was cached
    assert inner.calls == [
        ("texts", (TEXTS[1],), False),
        ("texts", (TEXTS[0],), False),
        ("texts", (TEXTS[2], TEXTS[3]), False),
    ]


def test_equal_inputs_in_one_call_are_embedded_once_and_get_arrays_of_their_own() -> None:
    inner = Counting()
    emb = CachedEmbeddings(inner)
    out = emb.embed_documents(["same words", "other", "same words"])
    assert inner.calls == [("texts", ("same words", "other"), False)]
    assert np.array_equal(out[0], out[2]) and out[0] is not out[2]
    out[0][:] = 7
    assert not np.array_equal(out[0], out[2])
    assert emb.cache_stats().misses == 2


def test_returned_arrays_are_copies_the_cache_cannot_be_changed_through(cache: MemoryCache | DiskCache) -> None:
    emb = CachedEmbeddings(Fake(8), cache)
    want = Fake(8).embed_query("red apples")
    first = emb.embed_query("red apples")
    first[:] = 0
    second = emb.embed_query("red apples")
    assert np.array_equal(second, want)
    second += 1
    assert np.array_equal(emb.embed_query("red apples"), want)
    assert emb.cache_stats().hits == 2


def test_queries_and_documents_are_kept_apart() -> None:
    inner = QueryShifted()
    emb = CachedEmbeddings(inner)
    plain = QueryShifted()
    query, document = emb.embed_query("red apples"), emb.embed_text("red apples")
    assert np.array_equal(query, plain.embed_query("red apples"))
    assert np.array_equal(document, plain.embed_text("red apples"))
    assert not np.array_equal(query, document)
    assert [call[2] for call in inner.calls] == [True, False]
    assert np.array_equal(emb.embed_query("red apples"), query)
    assert np.array_equal(emb.embed_documents(["red apples"])[0], document)
    assert len(inner.calls) == 2 and emb.cache_stats().entries == 2


def test_different_models_and_identities_never_share_entries(tmp_path: Path) -> None:
    shared = DiskCache(tmp_path / "cache")
    embedders = [
        Fake(8),
        Fake(16),  # another dimension
        Fake(8, grid=2),  # another processing mode (image grid)
        Renamed(),  # another model name
        Counting(8),  # another class
        QueryShifted(8),
    ]
    wrapped = [CachedEmbeddings(e, shared) for e in embedders]
    wrapped.append(CachedEmbeddings(Fake(8), shared, identity="fake@rev-2"))
    assert len({w.cache_identity for w in wrapped}) == len(wrapped) - 1  # Fake(8) and Fake(16) differ by dim only
    for w, e in zip(wrapped, [*embedders, Fake(8)], strict=True):
        assert np.array_equal(w.embed_text("red apples"), e.embed_text("red apples"))
        assert w.cache_stats().misses == 1 and w.cache_stats().hits == 0
    assert shared.stats().entries == len(wrapped)

    # the same configuration in a new instance (and a new process-like cache handle) does share
    counting = Counting(8)
    again = CachedEmbeddings(counting, DiskCache(tmp_path / "cache"))
    again.embed_text("red apples")
    assert counting.calls == [] and again.cache_stats().hits == 1


def test_image_given_as_path_bytes_bytesio_or_pil_is_one_entry(tmp_path: Path) -> None:
    pixels = np.random.default_rng(7).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    path = tmp_path / "page.png"
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    inputs: list[ImageInput] = [
        str(path),
        path,
        data,
        io.BytesIO(data),
        Image.open(path),
        Image.fromarray(pixels).convert("RGBA"),
    ]

    inner = Counting(grid=4)
    emb = CachedEmbeddings(inner, DiskCache(tmp_path / "cache"))
    assert isinstance(emb, CachedMultiModalEmbeddings)
    want = Fake(8, grid=4).embed_image(path)
    assert np.array_equal(emb.embed_image(path), want)
    for image in inputs:
        assert np.array_equal(emb.embed_image(image), want)
    assert same(emb.embed_images_batch(inputs), [want] * len(inputs))
    assert inner.calls == [("images", 1, None)]
    assert emb.cache_stats().entries == 1

    other = Image.fromarray(255 - pixels)
    assert same(emb.embed_images([other, path]), Fake(8, grid=4).embed_images([other, path]))
    assert inner.calls[1:] == [("images", 1, None)]


# -- budgets and eviction --------------------------------------------------------------------------------------


def vector(i: int, rows: int = 16) -> np.ndarray:
    return np.full((rows, 64), i, dtype=np.float32)  # 4096 bytes with 16 rows


def test_memory_cache_keeps_its_byte_budget_in_lru_order() -> None:
    cache = MemoryCache(max_bytes=3 * 4096)
    for key in "abc":
        cache.put(key, vector(ord(key)))
    assert cache.get("a") is not None  # a becomes the most recently used
    cache.put("d", vector(4))
    assert cache.get("b") is None
    assert [cache.get(k) is not None for k in "acd"] == [True, True, True]
    assert cache.stats().bytes == 3 * 4096 and cache.stats().entries == 3

    cache.put("c", vector(9, rows=8))  # replacing a value re-counts its bytes
    assert cache.stats().bytes == 2 * 4096 + 2048
    cache.put("huge", vector(1, rows=64))  # larger than the whole budget: not stored, nothing evicted
    assert cache.get("huge") is None and cache.stats().entries == 3
    for i in range(100):
        cache.put(f"k{i}", vector(i, rows=1 + i % 16))
        assert cache.stats().bytes <= cache.max_bytes


def test_wrapper_over_a_small_memory_cache_stays_within_budget() -> None:
    inner = Counting()
    emb = CachedEmbeddings(inner, MemoryCache(max_bytes=200))  # room for three 2-token texts (64 bytes each)
    texts = [f"word{i} other{i}" for i in range(10)]
    assert same(emb.embed_documents(texts), Fake(8).embed_documents(texts))
    assert emb.cache_stats().bytes <= 200 and emb.cache_stats().entries == 3
    emb.embed_documents(texts[-3:])
    assert len(inner.calls) == 1  # the three most recent survived


def test_disk_cache_keeps_its_byte_bound_in_lru_order(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache", max_bytes=3 * 4096)
    for key in "abc":
        cache.put(key, vector(ord(key)))
    assert cache.get("a") is not None
    cache.put("d", vector(4))
    assert cache.get("b") is None
    assert [cache.get(k) is not None for k in "acd"] == [True, True, True]
    assert cache.stats().bytes == 3 * 4096

    # the order survives reopening: "a" was used after "c"
    cache.close()
    reopened = DiskCache(tmp_path / "cache", max_bytes=3 * 4096)
    reopened.get("d")
    reopened.get("a")
    reopened.put("e", vector(5))
    assert reopened.get("c") is None and reopened.get("a") is not None

    reopened.put("huge", vector(1, rows=64))
    assert reopened.get("huge") is None and reopened.stats().entries == 3
    for i in range(200):  # 20 times the bound, in batches
        reopened.put_many([(f"k{i}-{j}", vector(i)) for j in range(5)])
        assert reopened.stats().bytes <= reopened.max_bytes
    assert reopened.stats().entries == 3
    reopened.close()
    # freed pages go back to the file system: the file tracks the bound, not what was ever written
    assert reopened.file.stat().st_size <= 4 * reopened.max_bytes


# -- damage ------------------------------------------------------------------------------------------------------


def damage(file: Path, how: str) -> None:
    size = file.stat().st_size
    with open(file, "r+b") as handle:
        if how == "random bytes in the middle":
            handle.seek(size // 3)
            handle.write(np.random.default_rng(3).bytes(size // 3))
        elif how == "truncated":
            handle.truncate(size // 2)
        elif how == "truncated to a few bytes":
            handle.truncate(10)
        elif how == "garbage header":
            handle.write(b"\xff" * 100)


@pytest.mark.parametrize(
    "how", ["random bytes in the middle", "truncated", "truncated to a few bytes", "garbage header"]
)
def test_a_damaged_cache_file_gives_misses_and_the_cache_keeps_working(tmp_path: Path, how: str) -> None:
    texts = [f"document {i} about topic {i % 7}" for i in range(200)]
    plain = Fake(64).embed_documents(texts)
    with CachedEmbeddings(Fake(64), DiskCache(tmp_path / "cache")) as first:
        assert same(first.embed_documents(texts), plain)
    file = tmp_path / "cache" / DiskCache.FILE_NAME
    assert not Path(f"{file}-wal").exists()  # closed cleanly: everything is in the main file
    damage(file, how)

    inner = Counting(64)
    emb = CachedEmbeddings(inner, DiskCache(tmp_path / "cache"))
    assert same(emb.embed_documents(texts), plain)  # never a wrong value, never an error
    assert emb.cache_stats().misses >= 1
    assert same(emb.embed_documents(texts), plain)
    calls = len(inner.calls)
    assert same(emb.embed_documents(texts), plain)
    assert len(inner.calls) == calls  # working again: everything hits


def test_a_file_damaged_under_an_open_cache_is_recreated_and_both_handles_recover(tmp_path: Path) -> None:
    first = DiskCache(tmp_path / "cache")
    first.put("k", vector(1))
    first.close()  # checkpoints the WAL: the header that matters is the main file's
    assert first.stats().entries == 1  # open again (reading only: no new WAL frames)
    damage(first.file, "garbage header")
    second = DiskCache(tmp_path / "cache")  # finds the damage and starts the file again
    assert second.get("k") is None
    assert first.get("k") is None  # the first handle notices the new file
    first.put("k", vector(2))
    got = second.get("k")
    assert got is not None and np.array_equal(got, vector(2))


def test_damaged_entries_are_misses_and_are_dropped(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache")
    for i in range(6):
        cache.put(f"k{i}", vector(i))
    with sqlite3.connect(cache.file) as conn:
        conn.execute("UPDATE entries SET data = substr(data, 1, 100) WHERE key = 'k0'")  # truncated blob
        conn.execute("UPDATE entries SET shape = '16,65' WHERE key = 'k1'")  # wrong shape
        conn.execute("UPDATE entries SET dtype = '<f8' WHERE key = 'k2'")  # wrong dtype
        conn.execute("UPDATE entries SET data = zeroblob(4096) WHERE key = 'k3'")  # bit rot: checksum
        conn.execute("UPDATE entries SET shape = 'sixteen' WHERE key = 'k4'")  # unreadable shape
    conn.close()
    assert [cache.get(f"k{i}") is None for i in range(6)] == [True] * 5 + [False]
    assert cache.stats().entries == 1
    cache.put("k0", vector(0))
    got = cache.get("k0")
    assert got is not None and np.array_equal(got, vector(0))


def test_the_wrapper_re_embeds_damaged_entries_and_unusable_values(tmp_path: Path) -> None:
    inner = Counting()
    cache = DiskCache(tmp_path / "cache")
    emb = CachedEmbeddings(inner, cache)
    emb.embed_documents(TEXTS)
    with sqlite3.connect(cache.file) as conn:
        conn.execute("UPDATE entries SET data = randomblob(length(data))")
    conn.close()
    assert same(emb.embed_documents(TEXTS), Fake(8).embed_documents(TEXTS))
    assert inner.calls[-1] == ("texts", tuple(TEXTS), False)
    assert same(emb.embed_documents(TEXTS), Fake(8).embed_documents(TEXTS))
    assert len(inner.calls) == 2

    class Wrong(MemoryCache):  # a backend handing back values of the wrong shape or with NaNs
        def get(self, key: str) -> Embedding | None:
            value = super().get(key)
            return None if value is None else np.full((2, 3), np.nan, np.float32)

    inner = Counting()
    emb = CachedEmbeddings(inner, Wrong())
    emb.embed_query("red apples")
    assert np.array_equal(emb.embed_query("red apples"), Fake(8).embed_query("red apples"))
    assert len(inner.calls) == 2 and emb.cache_stats().hits == 0


# -- concurrency -------------------------------------------------------------------------------------------------

WORKER = """
import sys, time
from pathlib import Path
import numpy as np
from multivec.embeddings import CachedEmbeddings, DeterministicFakeMultiVectorEmbedding as Fake, DiskCache

folder, worker, max_bytes, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
deadline = time.monotonic() + 120
while not go.exists():  # start together, so the writers really overlap
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.01)
plain = Fake(16)
with CachedEmbeddings(Fake(16), DiskCache(folder, max_bytes=max_bytes)) as emb:
    texts = [f"text {i} of the shared corpus" for i in range(worker * 100, worker * 100 + 300)]
    for start in range(0, len(texts), 7):
        chunk = texts[start : start + 7]
        assert all(np.array_equal(a, b) for a, b in zip(emb.embed_documents(chunk), plain.embed_documents(chunk)))
        assert np.array_equal(emb.embed_query(chunk[-1]), plain.embed_query(chunk[-1]))
    assert all(np.array_equal(a, b) for a, b in zip(emb.embed_documents(texts), plain.embed_documents(texts)))
print("done")
"""


@pytest.mark.parametrize("max_bytes", [1 << 30, 16 << 10], ids=["roomy", "evicting"])
def test_concurrent_processes_share_one_disk_cache(tmp_path: Path, max_bytes: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    folder = tmp_path / "cache"
    root = str(Path(multivec.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(folder), str(i), str(max_bytes), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    go.touch()
    results = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
        assert out.strip() == "done"
        assert "embedding cache" not in err  # no busy time-outs, no damage, no failed writes

    texts = [f"text {i} of the shared corpus" for i in range(500)]
    emb = CachedEmbeddings(Fake(16), DiskCache(folder, max_bytes=max_bytes))
    assert same(emb.embed_documents(texts), Fake(16).embed_documents(texts))
    if max_bytes == 1 << 30:
        assert emb.cache_stats().misses == 0  # every text was stored by some process
    assert emb.cache_stats().bytes <= max_bytes


def test_threads_share_one_memory_cache() -> None:
    cache = MemoryCache(max_bytes=20 * 4 * 4)
    errors: list[str] = []
    gets = 0
    lock = threading.Lock()

    def work(seed: int) -> None:
        nonlocal gets
        rng = np.random.default_rng(seed)
        for _ in range(500):
            i = int(rng.integers(0, 40))
            value = np.full((int(1 + i % 3), 4), i, np.float32)
            if rng.random() < 0.5:
                cache.put(str(i), value)
            else:
                got = cache.get(str(i))
                with lock:
                    gets += 1
                if got is not None and not np.array_equal(got, value):
                    errors.append(f"key {i} gave {got}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert errors == []
    assert stats.hits + stats.misses == gets
    assert stats.bytes <= cache.max_bytes
    assert stats.bytes == sum(int(1 + int(k) % 3) * 16 for k in cache._entries)
    assert stats.entries == len(cache._entries)


@pytest.mark.parametrize("kind", ["memory", "disk"])
def test_threads_share_one_cached_embedder(tmp_path: Path, kind: str) -> None:
    cache = MemoryCache() if kind == "memory" else DiskCache(tmp_path / "cache")
    emb = CachedEmbeddings(Fake(8), cache)
    texts = [f"thread text {i}" for i in range(60)]
    want = Fake(8).embed_documents(texts)
    failures: list[int] = []

    def work(offset: int) -> None:
        order = texts[offset:] + texts[:offset]
        for start in range(0, len(order), 5):
            got = emb.embed_documents(order[start : start + 5])
            if not same(got, [want[texts.index(t)] for t in order[start : start + 5]]):
                failures.append(offset)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in (0, 15, 30, 45)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert emb.cache_stats().entries == 60
    assert emb.cache_stats().hits + emb.cache_stats().misses == 4 * 60


# -- async -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "disk"])
async def test_async_methods_use_the_wrapped_async_primitives_for_misses(tmp_path: Path, kind: str) -> None:
    cache = MemoryCache() if kind == "memory" else DiskCache(tmp_path / "cache")
    inner = Counting(embed_batch_size=2)
    emb = CachedEmbeddings(inner, cache)
    plain = Fake(8)

    assert same(await emb.aembed_documents_batch(TEXTS), plain.embed_documents(TEXTS))
    assert {call[1] for call in inner.calls} == {tuple(TEXTS[:2]), tuple(TEXTS[2:])}  # chunks may run in any order
    assert {call[0] for call in inner.calls} == {"atexts"}
    assert same(await emb.aembed_documents(TEXTS[::-1]), plain.embed_documents(TEXTS[::-1]))
    assert np.array_equal(await emb.aembed_query("red apples"), plain.embed_query("red apples"))
    assert np.array_equal(await emb.aembed_text("red apples"), plain.embed_text("red apples"))
    assert inner.calls[2:] == [("atexts", ("red apples",), True)]

    image = Image.new("RGB", (16, 16), "teal")
    assert np.array_equal(await emb.aembed_image(image), plain.embed_image(image))
    assert same(
        await emb.aembed_images_batch([image, image.convert("L").convert("RGB")]),
        plain.embed_images([image, image.convert("L").convert("RGB")]),
    )
    assert [c for c in inner.calls if c[0] != "atexts"] == [("aimages", 1, None), ("aimages", 1, None)]
    assert emb.cache_stats().misses == 7
    await emb.aclose()


# -- the embedder contract -------------------------------------------------------------------------------------


def test_the_wrapper_is_the_same_kind_of_embedder_as_the_wrapped_one() -> None:
    text_only = CachedEmbeddings(TextOnly())
    assert type(text_only) is CachedEmbeddings
    assert not isinstance(text_only, MultiVectorMultiModalEmbedding)
    assert text_only.supports_images is False
    assert same(text_only.embed_documents(TEXTS), TextOnly().embed_documents(TEXTS))

    multimodal = CachedEmbeddings(Fake(8))
    assert isinstance(multimodal, MultiVectorMultiModalEmbedding) and multimodal.supports_images is True
    assert multimodal.dim == 8 and multimodal.model_name == "deterministic-fake" and multimodal.is_multi_vector
    assert multimodal.query_tokens("Red apples") == ["red", "apples"]
    assert multimodal.image_patch_grid(Image.new("RGB", (8, 8))) is not None
    assert "CachedMultiModalEmbeddings(DeterministicFakeMultiVectorEmbedding" in repr(multimodal)


def test_single_vector_embedders_are_cached_too(tmp_path: Path) -> None:
    emb = CachedEmbeddings(Pooled(), DiskCache(tmp_path / "cache"))
    assert emb.is_multi_vector is False
    first = emb.embed_documents(TEXTS)
    assert [v.shape for v in first] == [(8,)] * len(TEXTS)
    assert same(emb.embed_documents(TEXTS), first) and emb.cache_stats().hits == len(TEXTS)


def test_the_wrapped_validation_still_applies_before_anything_is_embedded() -> None:
    inner = Counting()
    emb = CachedEmbeddings(inner)
    with pytest.raises(InvalidInputError) as err:
        emb.embed_documents(["fine", "  "])
    assert err.value.index == 1
    with pytest.raises(InvalidInputError):
        emb.embed_images([Image.new("RGB", (4, 4)), b"not an image"])
    with pytest.raises(InvalidInputError):
        emb.embed_image("https://example.com/page.png")  # URLs only when the wrapped embedder allows them
    assert inner.calls == [] and emb.cache_stats() == CacheStats(0, 0, 0, 0)


def test_close_closes_the_embedder_and_the_cache_stays_usable(tmp_path: Path) -> None:
    closed: list[str] = []

    class Closing(Fake):
        def close(self) -> None:
            closed.append("embedder")
            super().close()

    cache = DiskCache(tmp_path / "cache")
    with CachedEmbeddings(Closing(8), cache, identity="fake") as emb:
        emb.embed_text("red apples")
    assert closed == ["embedder"]
    assert CachedEmbeddings(Fake(8), cache, identity="fake").embed_text("red apples") is not None
    assert cache.stats().hits == 1


def test_bad_options_raise_configuration_errors_naming_them(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cases = [
        (lambda: MemoryCache(max_bytes=0), "max_bytes"),
        (lambda: DiskCache(tmp_path / "c", max_bytes=-5), "max_bytes"),
        (lambda: DiskCache(tmp_path / "c", timeout=0), "timeout"),
        (lambda: DiskCache(tmp_path / "file"), "path"),
        (lambda: DiskCache(42), "path"),  # type: ignore[arg-type]
        (lambda: CachedEmbeddings("model"), "embedder"),  # type: ignore[call-overload]
        (lambda: CachedEmbeddings(Fake(8), cache={}), "cache"),  # type: ignore[call-overload]
        (lambda: CachedEmbeddings(Fake(8), identity=" "), "identity"),
    ]
    for make, option in cases:
        with pytest.raises(ConfigurationError, match=option):
            make()
