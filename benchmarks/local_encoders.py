"""Throughput of the local embedders on CPU: texts/s and images/s at forward batch sizes 1, 8 and 32.

ColPali-family rows use the tiny random checkpoints of ``multivec/testing/tiny_models.py`` (they measure the
pipeline's overhead: processor, padding removal, conversion, not a real model's compute); the ColBERT row uses the
offline all-MiniLM-L6-v2 (a real 22M-parameter encoder).

Run::

    HF_HUB_OFFLINE=1 python benchmarks/local_encoders.py [--items 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from multivec.embeddings import BiPaliEmbeddings, ColBERTEmbeddings, ColPaliEmbeddings
from multivec.testing import tiny_models
from tests.support.cranfield import load_cranfield

BATCH_SIZES = (1, 8, 32)


def _images(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        image = Image.new("RGB", (320 + 8 * (i % 5), 240), (i * 37 % 256, 90, 160))
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _rate(fn: Callable[[], Any], n: int) -> float:
    fn()  # warm-up (first-call allocations, lazy inits)
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64, help="texts and images per measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = list(load_cranfield(n_docs=args.items).corpus.values())
    images = _images(args.items)
    root = Path(tempfile.mkdtemp(prefix="multivec-bench-"))
    embedders: list[tuple[str, Any]] = [
        ("ColPali (tiny)", ColPaliEmbeddings(str(tiny_models.build_tiny_colpali(root / "colpali")), device="cpu")),
        ("ColQwen2 (tiny)", ColPaliEmbeddings(str(tiny_models.build_tiny_colqwen2(root / "colqwen2")), device="cpu")),
        ("BiPali (tiny)", BiPaliEmbeddings(str(tiny_models.build_tiny_bipali(root / "bipali")), device="cpu")),
        ("ColBERT (MiniLM)", ColBERTEmbeddings(device="cpu")),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.items} items per measurement")
    print(f"{'embedder':<18} {'batch':>5} {'texts/s':>9} {'images/s':>9}")
    for label, emb in embedders:
        for batch_size in BATCH_SIZES:
            emb.batch_size = batch_size
            text_rate = _rate(partial(emb.embed_documents, texts), len(texts))
            if hasattr(emb, "embed_images"):
                image_cell = f"{_rate(partial(emb.embed_images, images), len(images)):>9.1f}"
            else:
                image_cell = f"{'-':>9}"
            print(f"{label:<18} {batch_size:>5} {text_rate:>9.1f} {image_cell}")


if __name__ == "__main__":
    main()
