"""Benchmark of incremental indexing: ``multivec index`` on a folder, then unchanged, then with one file edited.

Builds a folder of ``--files`` text files (sentences drawn deterministically from the demo documents, about 150
words each) and 2 text PDFs, then times three runs of the real command line (a child process each, the offline MiniLM
ColBERT model of the default embedder) on one store: the first run, an unchanged re-run and a re-run after one file
changed. An unchanged re-run reads and hashes every file and compares the stored records, but embeds and writes
nothing.

Run from the repository root::

    python benchmarks/index_incremental.py            # 150 files
    python benchmarks/index_incremental.py --files 50
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, whatever the venv has installed

from multivec.testing import write_text_pdf

DEMO = Path(__file__).resolve().parents[1] / "multivec" / "demo_data"


def build_folder(root: Path, n_files: int) -> list[Path]:
    sentences = [s.strip() for p in sorted(DEMO.iterdir()) for s in p.read_text().split(".") if len(s.split()) > 3]
    rng = random.Random(0)
    files = []
    for i in range(n_files):
        path = root / f"note-{i:03d}.md"
        path.write_text(". ".join(rng.choice(sentences) for _ in range(8)) + f". Note {i}.\n")
        files.append(path)
    for i in range(2):
        write_text_pdf(root / f"report-{i}.pdf", [". ".join(rng.choice(sentences) for _ in range(6)) for _ in range(3)])
    return files


def run(*args: str | Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "multivec", "index", *map(str, args), "--quiet"], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return elapsed, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, store = Path(tmp) / "docs", Path(tmp) / "store"
        folder.mkdir()
        files = build_folder(folder, args.files)
        first, first_out = run(folder, "--store", store)
        unchanged, unchanged_out = run(folder, "--store", store)
        files[0].write_text(files[0].read_text() + " An edited line.\n")
        edited, edited_out = run(folder, "--store", store)
    print(f"| run ({args.files} text files + 2 PDFs) | seconds | vs first | summary |")
    print("|---|---|---|---|")
    for name, seconds, out in (
        ("first", first, first_out),
        ("unchanged re-run", unchanged, unchanged_out),
        ("one file edited", edited, edited_out),
    ):
        print(f"| {name} | {seconds:.1f} | {seconds / first:.2f}x | {out} |")


if __name__ == "__main__":
    main()
