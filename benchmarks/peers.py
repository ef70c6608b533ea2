"""multivec's compact storage configurations against peer systems, measured in the same run on the same vectors.

Corpora (precomputed vectors, the same for every system):

- ``cranfield``: real vectors, Cranfield (1,398 docs, 225 queries with qrels) embedded token by token with the offline
  all-MiniLM-L6-v2, 384-d, cached by ``benchmarks/store.py`` (:func:`store.cranfield`), as ``benchmarks/pooling.py``
  uses them, so nDCG@10 here is comparable with those scripts;
- ``colbert``: the ColBERT-like synthetic corpus of ``benchmarks/store.py`` (:func:`store.synthetic`, seed 1),
  10k documents x ~160 tokens x 128-d (``--colbert-docs 20000`` for issue #19's size), 50 queries of 32 tokens
  (``--quick``: 2k documents, 30 queries).

Systems (one row each, k=10):

- multivec ``MultiVectorStore`` (embedded qdrant-edge, two-stage search at its default prefetch): the default
  (float32), ``multivector_datatype="turbo8"``, ``"float16"``, ``pool_factor=2``, ``pool_factor=2`` + turbo8,
  ``pool_factor=3`` + turbo8, ``pool_factor=4`` + turbo8;
- numpy brute-force exact MaxSim (:class:`store.NumpyMaxSim`): the reference that recall@10 is measured against
  (on the ColBERT-like corpus, on its first 20 queries: 10 with ``--quick``);
- qdrant-client local mode (``path=``), used the way langchain-qdrant uses it (one unnamed MaxSim multivector,
  ``.tolist()`` points with a uuid id and a ``page_content`` payload, batches of 64, a plain ``query_points``), as
  in ``benchmarks/store.py``;
- LanceDB multivector column (cosine): flat scan, and with its IVF_PQ index (default parameters);
- PyLate 1.6 indexes with precomputed document embeddings, queried through ``pylate.retrieve.ColBERT``: PLAID
  (``nbits=4``, PyLate's default, and ``nbits=2``, Cranfield only), on the fast-plaid backend where it runs, else
  on PyLate's Stanford backend (same centroid + residual compression; its C++ extensions are compiled once into
  ``~/.cache/torch_extensions``), and Voyager (HNSW over token vectors, then a MaxSim rerank of the candidates).

The slow peers run on part of a corpus, so that a run fits the time (the row's N says how many documents, and the
recall is against exact MaxSim over those): qdrant-client local mode and LanceDB's flat scan are exact scans at about
a second a query and are timed on 20 queries (no nDCG, recall 1.0 by construction); PLAID and Voyager ingest a few
documents a second here, so they take 2k (PLAID) and 1k (Voyager) ColBERT-like documents and, for Voyager, 300
Cranfield documents.

Each system runs in fresh processes: a *build* process ingests the documents into a directory (timed from the first
write to a searchable, persisted index: ingest docs/s), and a *query* process opens that directory, reads its RSS
(``VmRSS``) before opening, after opening and after warm-up (3 queries, and multivec's background page-cache
warm-up), then times every query one at a time (p50/p95). RSS is reported as the growth over the process before
opening (its libraries imported, the queries loaded); the index files are still in the page cache from the build,
for every system alike. Disk is the directory's allocated bytes (``du``), per original token of the corpus. multivec
and qdrant-client run in this interpreter; the peers run in their own virtual environments, because their pins
clash with ours, under ``~/.cache/multivec-ci/bench-peers-<name>``: the script creates them when they are missing
(``--setup`` forces it; ``--no-setup`` never installs) and prints a row saying why (with the install command) for a
peer that cannot be installed or fails. Vectors reach the workers as ``.npy`` files in a temporary directory.

Rerank token pairs per query (multivec rows): query tokens x prefetch limit x stored token vectors per document.

Disk is also reported without qdrant-edge's write-ahead log (multivec rows), a fixed cost: 32 MiB segments whatever
the store holds.

Run: ``python benchmarks/peers.py`` (once the venvs exist, on the 2-core development box: about 8 minutes for
Cranfield and 13 for the ColBERT-like corpus, most of it PyLate's ingest), ``--only cranfield``, ``--systems
multivec,numpy,lancedb`` (name fragments), ``--json results.json``, ``--setup`` (recreate the peer venvs),
``--quick`` (about 6 minutes: the ColBERT-like corpus at 2k documents, about 2 minutes; on Cranfield PLAID nbits=4
only, Voyager on 150 documents and qdrant-client on 300).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path.home() / ".cache" / "multivec-ci"
K = 10
WARMUP_QUERIES = 3
NDCG_TOLERANCE = 0.003

#: Peer virtual environments: each is a list of ``pip install`` argument lists, run in order.
VENVS: dict[str, list[list[str]]] = {
    "lancedb": [["lancedb==0.40.0", "pyarrow", "numpy"]],
    "pylate": [
        ["torch==2.13.0"],  # the CPU wheel (the only torch this project's machines hold locally)
        # fast-plaid pins torch==2.11.0, whose PyPI wheel is the multi-GB CUDA build: installed without its pins, it
        # is tried against the CPU torch above, and PLAID falls back to PyLate's Stanford backend if it fails there
        ["--no-deps", "pylate==1.6.0", "fast-plaid==1.4.6.2110"],
        [
            "sentence-transformers==5.3.0",
            "transformers>=4.41.0,<=5.3.0",
            "datasets",
            "accelerate",
            "pandas",
            "ujson==5.12.0",
            "ninja==1.11.1.4",
            "fastkmeans==0.5.0",
            "usearch>=2.21.0",
            "joblib>=1.5.1",
            "filelock",
            "voyager==2.1.0",  # 2.2 refuses the list of arrays PyLate 1.6 passes to add_items
            "numpy",
        ],
    ],
}

#: Packages whose versions each worker reports.
VERSIONED = ("qdrant-edge-py", "qdrant-client", "numpy", "lancedb", "pylance", "pyarrow", "pylate", "fast-plaid",
             "voyager", "torch")  # fmt: skip


@dataclass
class System:
    name: str
    kind: str
    venv: str | None = None  # None: this interpreter
    options: dict[str, Any] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)  # corpus -> at most this many documents (slow ingest)
    slow: bool = False  # the reference exact scan: timed on the corpus's ``slow_queries`` only
    query_cap: int | None = None  # at most this many queries timed (then no nDCG)
    corpora: tuple[str, ...] = ("cranfield", "colbert")


def systems(quick: bool) -> list[System]:
    multivec: list[tuple[str, dict[str, Any]]] = [
        ("multivec default (float32)", {}),
        ("multivec turbo8", {"multivector_datatype": "turbo8"}),
        ("multivec float16", {"multivector_datatype": "float16"}),
        ("multivec pool_factor=2", {"pool_factor": 2}),
        ("multivec pool_factor=2 + turbo8", {"pool_factor": 2, "multivector_datatype": "turbo8"}),
        ("multivec pool_factor=3 + turbo8", {"pool_factor": 3, "multivector_datatype": "turbo8"}),
        ("multivec pool_factor=4 + turbo8", {"pool_factor": 4, "multivector_datatype": "turbo8"}),
    ]
    out = [System(name, "multivec", options=opts) for name, opts in multivec]
    out += [
        System("numpy brute force (exact)", "numpy", slow=True),
        # exact scans at about a second a query on 2 cores: timed on 20 queries (no nDCG; their recall is 1.0)
        System(
            "qdrant-client local (langchain-qdrant style)",
            "qdrant_local",
            caps={"colbert": 500 if quick else 2000, "cranfield": 300 if quick else 1398},
            query_cap=10 if quick else 20,
        ),
        System("LanceDB flat", "lancedb", "lancedb", {"index": None}, query_cap=10 if quick else 20),
        System("LanceDB IVF_PQ", "lancedb", "lancedb", {"index": "ivf_pq"}),
        # PyLate's Stanford PLAID ingests about 8 docs/s and Voyager (M=64, ef_construction=200) about 3 here
        System("PyLate PLAID nbits=4", "plaid", "pylate", {"nbits": 4}, caps={"colbert": 1000 if quick else 2000}),
        System("PyLate PLAID nbits=2", "plaid", "pylate", {"nbits": 2}, corpora=() if quick else ("cranfield",)),
        System(
            "PyLate Voyager",
            "voyager",
            "pylate",
            caps={"colbert": 300 if quick else 1000, "cranfield": 150 if quick else 300},
        ),
    ]
    return out


# -- the workers (run in a fresh process; only the standard library and numpy at import time) ---------------------


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_vectors(data: Path, prefix: str, n: int | None = None) -> list[np.ndarray]:
    flat = np.load(data / f"{prefix}.npy", mmap_mode="r")
    lengths = np.load(data / f"{prefix}_len.npy")
    if n is not None:
        lengths = lengths[:n]
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    return [np.ascontiguousarray(flat[bounds[i] : bounds[i + 1]]) for i in range(len(lengths))]


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


Searcher = Callable[[np.ndarray], list[int]]


def _multivec_store(index: Path, dim: int, options: dict[str, Any]) -> Any:
    sys.path.insert(0, str(REPO))
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    return MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=dim), path=index, **options)


def build_multivec(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    store = _multivec_store(index, docs[0].shape[1], options)
    start = time.perf_counter()
    for a in range(0, len(docs), 1000):
        store.add_embeddings(docs[a : a + 1000], ids=list(range(a, min(len(docs), a + 1000))))
    store.optimize()
    seconds = time.perf_counter() - start
    from multivec.store.store import DEFAULT_PREFETCH_LIMIT

    store.close()
    return {"ingest_s": seconds, "prefetch": DEFAULT_PREFETCH_LIMIT}


def open_multivec(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    store = _multivec_store(index, dim, {})  # what the store was created with is read back from its directory
    store.count()

    def search(q: np.ndarray) -> list[int]:
        return [int(h.id) for h in store.search(q, k=K)]

    return search, store._backend._warmer.wait


def build_numpy(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    np.save(index / "tokens.npy", np.concatenate(docs).astype(np.float32))
    np.save(index / "lengths.npy", np.array([len(d) for d in docs]))
    return {"ingest_s": time.perf_counter() - start}


def open_numpy(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    sys.path.insert(0, str(HERE))
    from store import NumpyMaxSim

    maxsim = NumpyMaxSim.__new__(NumpyMaxSim)  # from the saved flat matrix, without a copy per document
    maxsim.flat = np.load(index / "tokens.npy")
    maxsim.lengths = np.load(index / "lengths.npy")
    maxsim.starts = np.concatenate(([0], np.cumsum(maxsim.lengths)[:-1]))
    return (lambda q: [int(i) for i in maxsim.top(q, K)]), lambda: None


def _qdrant_local(index: Path) -> Any:
    import warnings

    from qdrant_client import QdrantClient

    warnings.filterwarnings("ignore", message=".*Local mode.*")
    return QdrantClient(path=str(index))


def build_qdrant_local(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    import uuid

    from qdrant_client import models

    client = _qdrant_local(index)
    start = time.perf_counter()
    client.create_collection(
        "lc",
        vectors_config=models.VectorParams(
            size=docs[0].shape[1],
            distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
        ),
    )
    for a in range(0, len(docs), 64):
        points = [
            models.PointStruct(
                id=str(uuid.UUID(int=i + 1)), vector=docs[i].tolist(), payload={"page_content": str(i), "metadata": {}}
            )
            for i in range(a, min(len(docs), a + 64))
        ]
        client.upsert("lc", points)
    seconds = time.perf_counter() - start
    client.close()
    return {"ingest_s": seconds}


def open_qdrant_local(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    import uuid

    client = _qdrant_local(index)

    def search(q: np.ndarray) -> list[int]:
        return [uuid.UUID(str(p.id)).int - 1 for p in client.query_points("lc", query=q.tolist(), limit=K).points]

    return search, lambda: None


def build_lancedb(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    import lancedb
    import pyarrow as pa

    dim = docs[0].shape[1]
    vector_type = pa.list_(pa.list_(pa.float32(), dim))
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("vector", vector_type)])
    start = time.perf_counter()
    table = lancedb.connect(str(index)).create_table("docs", schema=schema)
    for a in range(0, len(docs), 1000):
        chunk = docs[a : a + 1000]
        tokens = pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(chunk).ravel()), dim)
        offsets = pa.array(np.concatenate(([0], np.cumsum([len(d) for d in chunk]))).astype(np.int32))
        vectors = pa.ListArray.from_arrays(offsets, tokens, type=vector_type)
        table.add(pa.table({"id": pa.array(np.arange(a, a + len(chunk)), pa.int64()), "vector": vectors}))
    info: dict[str, Any] = {"write_s": time.perf_counter() - start}
    if options.get("index") == "ivf_pq":
        from lancedb.index import IvfPq

        started = time.perf_counter()
        table.create_index("vector", config=IvfPq(distance_type="cosine"))
        info["index_s"] = time.perf_counter() - started
        info["index"] = str(table.list_indices())
    info["ingest_s"] = time.perf_counter() - start
    return info


def open_lancedb(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    import lancedb

    table = lancedb.connect(str(index)).open_table("docs")

    def search(q: np.ndarray) -> list[int]:
        query = table.search(q, vector_column_name="vector").distance_type("cosine").limit(K).select(["id"])
        return [int(i) for i in query.to_arrow()["id"].to_pylist()]

    return search, lambda: None


def _fast_plaid_works() -> str | None:
    """None if fast-plaid builds and searches a tiny index in a child process, else why not (a crash there would
    take this process with it: its extension is built for another torch than the one installed)."""
    code = (
        "import torch\nfrom fast_plaid import search\n"
        "docs=[torch.nn.functional.normalize(torch.randn(20,16),dim=1) for _ in range(64)]\n"
        "import tempfile\nfp=search.FastPlaid(index=tempfile.mkdtemp(), device='cpu')\n"
        "fp.create(documents_embeddings=docs, kmeans_niters=1)\n"
        "fp.search(queries_embeddings=torch.stack([docs[0][:4]]), top_k=3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if run.returncode == 0:
        return None
    from importlib import metadata

    pin = next((r for r in metadata.requires("fast-plaid") or [] if r.startswith("torch")), "its torch pin")
    reason = f"crashed (signal {-run.returncode})" if run.returncode < 0 else "failed"
    last = (run.stderr.strip().splitlines() or [""])[-1]
    return (
        f"fast-plaid {metadata.version('fast-plaid')} {reason} on torch {versions().get('torch')}: its extension is "
        f"built for {pin}, whose PyPI wheel is the multi-GB CUDA build (not installed here){': ' + last if last else ''}"
    )


def build_plaid(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    why_not_fast = _fast_plaid_works()
    from pylate import indexes

    start = time.perf_counter()
    if why_not_fast is None:
        plaid = indexes.PLAID(
            index_folder=str(index), index_name="plaid", override=True, device="cpu", nbits=options["nbits"]
        )
    else:
        plaid = indexes.PLAID(
            index_folder=str(index),
            index_name="plaid",
            override=True,
            use_fast=False,
            embedding_size=docs[0].shape[1],
            nbits=options["nbits"],
        )
    plaid.add_documents(documents_ids=[str(i) for i in range(len(docs))], documents_embeddings=docs)
    info = {"ingest_s": time.perf_counter() - start, "backend": "fast-plaid" if why_not_fast is None else "stanford"}
    if why_not_fast:
        info["note"] = why_not_fast + "; PyLate's Stanford PLAID backend (same residual compression) used instead"
    (index / "backend.json").write_text(json.dumps(info))
    return info


def open_plaid(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    from pylate import indexes, retrieve

    backend = json.loads((index / "backend.json").read_text())["backend"]
    if backend == "fast-plaid":
        plaid = indexes.PLAID(index_folder=str(index), index_name="plaid", device="cpu", nbits=options["nbits"])
    else:
        plaid = indexes.PLAID(
            index_folder=str(index), index_name="plaid", use_fast=False, embedding_size=dim, nbits=options["nbits"]
        )
    retriever = retrieve.ColBERT(index=plaid)

    def search(q: np.ndarray) -> list[int]:
        return [int(r["id"]) for r in retriever.retrieve(queries_embeddings=[q], k=K)[0]]

    return search, lambda: None


def build_voyager(docs: list[np.ndarray], index: Path, options: dict[str, Any]) -> dict[str, Any]:
    from pylate import indexes

    start = time.perf_counter()
    voyager = indexes.Voyager(
        index_folder=str(index), index_name="voyager", override=True, embedding_size=docs[0].shape[1]
    )
    voyager.add_documents(documents_ids=[str(i) for i in range(len(docs))], documents_embeddings=docs)
    return {"ingest_s": time.perf_counter() - start}


def open_voyager(index: Path, dim: int, options: dict[str, Any]) -> tuple[Searcher, Callable[[], None]]:
    from pylate import indexes, retrieve

    retriever = retrieve.ColBERT(
        index=indexes.Voyager(index_folder=str(index), index_name="voyager", embedding_size=dim)
    )

    def search(q: np.ndarray) -> list[int]:
        return [int(r["id"]) for r in retriever.retrieve(queries_embeddings=[q], k=K)[0]]

    return search, lambda: None


BUILD: dict[str, Callable[[list[np.ndarray], Path, dict[str, Any]], dict[str, Any]]] = {
    "multivec": build_multivec,
    "numpy": build_numpy,
    "qdrant_local": build_qdrant_local,
    "lancedb": build_lancedb,
    "plaid": build_plaid,
    "voyager": build_voyager,
}
OPEN: dict[str, Callable[[Path, int, dict[str, Any]], tuple[Searcher, Callable[[], None]]]] = {
    "multivec": open_multivec,
    "numpy": open_numpy,
    "qdrant_local": open_qdrant_local,
    "lancedb": open_lancedb,
    "plaid": open_plaid,
    "voyager": open_voyager,
}


def worker(args: argparse.Namespace) -> None:
    options = json.loads(args.options)
    max_queries = options.pop("max_queries", None)
    out: dict[str, Any] = {"versions": versions()}
    if args.worker == "build":
        docs = load_vectors(args.data, "docs", args.n_docs)
        out.update(BUILD[args.kind](docs, args.index, options))
    else:
        queries = load_vectors(args.data, "queries")[:max_queries]
        dim = queries[0].shape[1]
        out["rss_before_mb"] = rss_mb()
        start = time.perf_counter()
        search, warm = OPEN[args.kind](args.index, dim, options)
        out["open_s"] = time.perf_counter() - start
        out["rss_open_mb"] = rss_mb()
        warm()
        for q in queries[:WARMUP_QUERIES]:
            search(q)
        out["rss_warm_mb"] = rss_mb()
        times, found = [], []
        for q in queries:
            start = time.perf_counter()
            found.append(search(q))
            times.append((time.perf_counter() - start) * 1000)
        out.update(times_ms=times, ids=found, rss_end_mb=rss_mb())
    args.out.write_text(json.dumps(out))


# -- the parent: venvs, corpora, rows ------------------------------------------------------------------------------


def venv_dir(name: str) -> Path:
    return CACHE / f"bench-peers-{name}"


def install_command(name: str) -> str:
    path = venv_dir(name)
    steps = [f"{sys.executable} -m venv {path}"] + [f"{path}/bin/pip install {' '.join(s)}" for s in VENVS[name]]
    return " && ".join(steps)


def ensure_venv(name: str, force: bool, allowed: bool) -> str | None:
    """Create the venv if it is missing (or ``force``): None when it is ready, else why it is not."""
    path = venv_dir(name)
    marker = path / ".bench-peers-ready"
    spec = json.dumps(VENVS[name])
    if marker.is_file() and marker.read_text() == spec and not force:
        return None
    if not allowed:
        return f"venv {path} missing; create it with --setup, or: {install_command(name)}"
    print(f"setting up {path} (once) ...", flush=True)
    shutil.rmtree(path, ignore_errors=True)
    log = CACHE / f"bench-peers-{name}-setup.log"
    with log.open("w") as out:
        steps = [[sys.executable, "-m", "venv", str(path)]]
        steps += [[str(path / "bin" / "pip"), "install", *s] for s in VENVS[name]]
        for step in steps:
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=1800).returncode:
                return f"install failed ({' '.join(step[1:4])} ...; log {log}); to retry: {install_command(name)}"
    marker.write_text(spec)
    return None


@dataclass
class Corpus:
    name: str
    docs: list[np.ndarray]
    queries: list[np.ndarray]
    qrels: dict[str, dict[str, int]] | None = None
    slow_queries: int | None = None  # queries timed for the slow (exact-scan) systems; None: all
    doc_ids: list[str] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(d) for d in self.docs)


def corpora(args: argparse.Namespace) -> list[Corpus]:
    sys.path.insert(0, str(HERE))
    import store as bench

    out = []
    for name in args.only.split(","):
        if name == "cranfield":
            from tests.support.cranfield import load_cranfield

            vectors = bench.cranfield()
            data = load_cranfield()
            doc_ids, query_ids = sorted(data.corpus, key=int), sorted(data.queries, key=int)
            out.append(Corpus(name, vectors.docs, vectors.queries, data.qrels, doc_ids=doc_ids, query_ids=query_ids))
        elif name == "colbert":
            n_docs, n_queries = (2000, 30) if args.quick else (args.colbert_docs, 50)
            vectors = bench.synthetic("colbert-like", n_docs, 160, False, n_queries, 32, seed=1)
            out.append(Corpus(name, vectors.docs, vectors.queries, slow_queries=10 if args.quick else 20))
        else:
            raise SystemExit(f"unknown corpus {name!r}: cranfield, colbert")
    return out


def write_vectors(folder: Path, prefix: str, arrays: list[np.ndarray]) -> None:
    np.save(folder / f"{prefix}.npy", np.concatenate(arrays).astype(np.float32))
    np.save(folder / f"{prefix}_len.npy", np.array([len(a) for a in arrays]))


def dir_size(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def run_worker(
    python: str, phase: str, system: System, data: Path, index: Path, n_docs: int, timeout: int, options: dict
) -> dict:
    out = index.parent / f"{index.name}-{phase}.json"
    command = [python, str(Path(__file__).resolve()), "--worker", phase, "--kind", system.kind]
    command += ["--data", str(data), "--index", str(index), "--out", str(out), "--n-docs", str(n_docs)]
    command += ["--options", json.dumps(options)]
    env = dict(os.environ, PYTHONPATH=str(REPO) if system.venv is None else "")
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if run.returncode:
        tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        code = f"signal {-run.returncode}" if run.returncode < 0 else f"exit {run.returncode}"
        raise RuntimeError(f"{phase} {code}: {tail[:300]}")
    return json.loads(out.read_text())


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth, strict=True)]))


def ndcg(corpus: Corpus, found: list[list[int]]) -> float | None:
    if corpus.qrels is None:
        return None
    sys.path.insert(0, str(REPO))
    from multivec.evaluation import score_runs

    run = {
        qid: {corpus.doc_ids[i]: float(len(top) - rank) for rank, i in enumerate(top)}
        for qid, top in zip(corpus.query_ids, found, strict=True)
    }
    return score_runs(corpus.qrels, run, ("ndcg@10",))["ndcg@10"]


def measure(
    system: System, corpus: Corpus, data: Path, tmp: Path, exact: dict[int, list[list[int]]], args: Any
) -> dict:
    n = min(len(corpus.docs), system.caps.get(corpus.name, len(corpus.docs)))
    row: dict[str, Any] = {"corpus": corpus.name, "system": system.name, "n": n, "options": system.options}
    python = sys.executable
    if system.venv is not None:
        why = args.venv_status.get(system.venv)
        if why:
            row["error"] = why
            return row
        python = str(venv_dir(system.venv) / "bin" / "python")
    index = tmp / f"{corpus.name}-{system.kind}-{len(list(tmp.iterdir()))}"
    index.mkdir()
    try:
        limits = [c for c in (corpus.slow_queries if system.slow else None, system.query_cap) if c is not None]
        options = dict(system.options, max_queries=min(limits) if limits else None)
        build = run_worker(python, "build", system, data, index, n, args.timeout, options)
        query = run_worker(python, "query", system, data, index, n, args.timeout, options)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        row["error"] = str(error) + (f"; install: {install_command(system.venv)}" if system.venv else "")
        shutil.rmtree(index, ignore_errors=True)
        return row
    disk = dir_size(index)
    # qdrant-edge's write-ahead log: segments of a fixed 32 MiB, allocated whatever the store holds
    wal = sum(f.stat().st_blocks * 512 for f in index.rglob("*") if f.is_file() and f.parent.name == "wal")
    shutil.rmtree(index, ignore_errors=True)
    tokens = sum(len(d) for d in corpus.docs[:n])
    if system.kind == "numpy":
        exact.setdefault(n, query["ids"])
    if n not in exact:
        sys.path.insert(0, str(HERE))
        from store import NumpyMaxSim

        reference = NumpyMaxSim(corpus.docs[:n])
        exact[n] = [[int(i) for i in reference.top(q, K)] for q in corpus.queries[: corpus.slow_queries]]
    times = query["times_ms"]
    row.update(
        versions=build["versions"],
        p50_ms=float(np.percentile(times, 50)),
        p95_ms=float(np.percentile(times, 95)),
        queries=len(times),
        recall_at_10=recall(query["ids"][: len(exact[n])], exact[n][: len(query["ids"])]),
        ndcg_at_10=ndcg(corpus, query["ids"]) if n == len(corpus.docs) and len(times) == len(corpus.queries) else None,
        disk_mb=disk / 2**20,
        bytes_per_token=disk / tokens,
        wal_mb=wal / 2**20,
        bytes_per_token_without_wal=(disk - wal) / tokens,
        rss_open_mb=query["rss_open_mb"] - query["rss_before_mb"],
        rss_warm_mb=query["rss_warm_mb"] - query["rss_before_mb"],
        rss_warm_abs_mb=query["rss_warm_mb"],
        open_s=query["open_s"],
        ingest_docs_s=n / build["ingest_s"],
        **{key: build[key] for key in ("note", "backend", "index_s", "write_s") if key in build},
    )
    if system.kind == "multivec":
        sys.path.insert(0, str(REPO))
        from multivec.pooling import pooled_count

        factor = system.options.get("pool_factor") or 1
        stored = float(np.mean([pooled_count(len(d), factor) for d in corpus.docs[:n]]))
        q_tokens = float(np.mean([len(q) for q in corpus.queries]))
        row.update(stored_tokens_per_doc=stored, rerank_pairs_per_query=q_tokens * build["prefetch"] * stored)
    return row


def fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| corpus | system | N | p50 / p95 ms | p50 × default | recall@10 vs exact | nDCG@10 | disk MB | "
        "bytes / original token (× default) | same, without the WAL | RSS MB open / warm | ingest docs/s | rerank pairs / query (× default) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['corpus']} | {r['system']} | {r['n']} | not measured: {r['error']} |" + " |" * 9)
            continue
        pairs = "—"
        if "rerank_pairs_per_query" in r:
            pairs = f"{r['rerank_pairs_per_query']:,.0f} ({fmt(r.get('pairs_ratio'), '.2f')}×)"
        lines.append(
            f"| {r['corpus']} | {r['system']} | {r['n']} | {fmt(r['p50_ms'], '.2f')} / {fmt(r['p95_ms'], '.2f')} | "
            f"{fmt(r.get('p50_ratio'), '.1f')}× | {fmt(r['recall_at_10'], '.3f')} | {fmt(r['ndcg_at_10'], '.4f')} | "
            f"{fmt(r['disk_mb'], '.1f')} | {fmt(r['bytes_per_token'], '.0f')} ({fmt(r.get('bytes_ratio'), '.2f')}×) | "
            f"{fmt(r.get('bytes_per_token_without_wal'), '.0f')} | "
            f"{fmt(r['rss_open_mb'], '.0f')} / {fmt(r['rss_warm_mb'], '.0f')} | {fmt(r['ingest_docs_s'], '.0f')} | "
            f"{pairs} |"
        )
    return "\n".join(lines)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    for corpus in {r["corpus"] for r in rows}:
        group = [r for r in rows if r["corpus"] == corpus and "error" not in r]
        base = next((r for r in group if r["system"] == "multivec default (float32)"), None)
        if base is None:
            continue
        for r in group:
            r["p50_ratio"] = r["p50_ms"] / base["p50_ms"]
            r["bytes_ratio"] = r["bytes_per_token"] / base["bytes_per_token"]
            if "rerank_pairs_per_query" in r:
                r["pairs_ratio"] = r["rerank_pairs_per_query"] / base["rerank_pairs_per_query"]


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue #19's targets, checked on the rows of this run."""
    out = []
    cran = [r for r in rows if r["corpus"] == "cranfield" and "error" not in r]
    exact = next((r for r in cran if r["system"].startswith("numpy")), None)
    plaid = next((r for r in cran if r["system"].startswith("PyLate PLAID")), None)
    if exact is None or plaid is None:
        return ["targets: need the Cranfield numpy and PLAID rows"]
    peers = [r for r in cran if not r["system"].startswith("multivec")]
    fastest_peer = min(peers, key=lambda r: r["p50_ms"])
    out.append(
        f"Cranfield: exact MaxSim nDCG@10 {exact['ndcg_at_10']:.4f}; PLAID {plaid['bytes_per_token']:.0f} bytes per "
        f"original token; fastest peer {fastest_peer['system']} at p50 {fastest_peer['p50_ms']:.2f} ms"
    )
    for r in cran:
        if not r["system"].startswith("multivec"):
            continue
        small = r["bytes_per_token"] <= plaid["bytes_per_token"]
        small_without_wal = r["bytes_per_token_without_wal"] <= plaid["bytes_per_token"]
        close = abs(r["ndcg_at_10"] - exact["ndcg_at_10"]) <= NDCG_TOLERANCE
        fast = r["p50_ms"] < fastest_peer["p50_ms"]
        verdict = "MEETS" if small and close and fast else "misses"
        out.append(
            f"  {verdict}: {r['system']}: {r['bytes_per_token']:.0f} B/token ({'<=' if small else '>'} PLAID; "
            f"{r['bytes_per_token_without_wal']:.0f} without the fixed WAL, {'<=' if small_without_wal else '>'}), "
            f"nDCG@10 {r['ndcg_at_10']:.4f} (Δ {r['ndcg_at_10'] - exact['ndcg_at_10']:+.4f}), p50 "
            f"{r['p50_ms']:.2f} ms ({fastest_peer['p50_ms'] / r['p50_ms']:.1f}× faster than the fastest peer)"
            f", rerank pairs {r.get('pairs_ratio', float('nan')):.2f}× default"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ColBERT-like 2k documents, fewer queries (~3 minutes)")
    parser.add_argument("--only", default="cranfield,colbert", help="corpora: cranfield, colbert")
    parser.add_argument("--systems", default="", help="comma-separated name fragments to keep (default: all)")
    parser.add_argument("--colbert-docs", type=int, default=10000)
    parser.add_argument("--setup", action="store_true", help="(re)create the peer venvs first")
    parser.add_argument("--no-setup", action="store_true", help="never install; report missing venvs")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per build or query process")
    parser.add_argument("--tmp", default=None, help="scratch directory (default: system temp)")
    parser.add_argument("--json", type=Path, default=CACHE / "bench" / "peers-results.json")
    # the worker side (internal)
    parser.add_argument("--worker", choices=["build", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-docs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    started = time.perf_counter()
    chosen = systems(args.quick)
    if args.systems:
        keep = [s.strip().lower() for s in args.systems.split(",")]
        chosen = [s for s in chosen if any(k in s.name.lower() for k in keep)]
    args.venv_status = {
        name: ensure_venv(name, args.setup, not args.no_setup) for name in sorted({s.venv for s in chosen if s.venv})
    }
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows: list[dict[str, Any]] = []
    for corpus in corpora(args):
        print(
            f"\n## {corpus.name}: {len(corpus.docs)} docs, {corpus.tokens / len(corpus.docs):.0f} tokens/doc, "
            f"d={corpus.docs[0].shape[1]}, {len(corpus.queries)} queries of "
            f"{np.mean([len(q) for q in corpus.queries]):.0f} tokens",
            flush=True,
        )
        tmp = Path(tempfile.mkdtemp(prefix="bench-peers-", dir=args.tmp))
        data = tmp / "data"
        data.mkdir()
        write_vectors(data, "docs", corpus.docs)
        write_vectors(data, "queries", corpus.queries)
        exact: dict[int, list[list[int]]] = {}
        # numpy first: its answers are the exact reference of the others on the full corpus
        for system in sorted((s for s in chosen if corpus.name in s.corpora), key=lambda s: s.kind != "numpy"):
            start = time.perf_counter()
            row = measure(system, corpus, data, tmp, exact, args)
            rows.append(row)
            state = f"error: {row['error']}" if "error" in row else f"p50 {row['p50_ms']:.2f} ms"
            print(f"  {system.name}: {state} ({time.perf_counter() - start:.0f} s)", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    add_ratios(rows)
    print("\n" + table(rows))
    notes = [f"- {r['corpus']} / {r['system']}: {r['note']}" for r in rows if r.get("note")]
    if notes:
        print("\n" + "\n".join(notes))
    checks = targets(rows)
    print("\nTargets (issue #19):\n" + "\n".join(checks))
    peer_versions: dict[str, str] = {}
    for r in rows:
        peer_versions.update(r.get("versions", {}))
    print("\nversions: " + ", ".join(f"{k} {v}" for k, v in sorted(peer_versions.items())))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; total {time.perf_counter() - started:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "targets": checks, "quick": args.quick}, indent=2, default=str))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
