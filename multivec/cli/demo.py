"""``multivec demo``: index a small bundled sample offline and answer a few questions from it.

The sample is five short text documents shipped in ``multivec/demo_data`` plus a three-page PDF field guide
written at run time (:func:`multivec.testing.write_text_pdf`). Everything lives in a temporary directory that is
removed afterwards, unless ``keep`` names a directory to keep the sample and the store in (then
``multivec search "…" --store <keep>/store --collection demo`` works on it).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from multivec.cli.indexing import index_paths
from multivec.cli.output import hits_table
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.store import MultiVectorStore
from multivec.testing import write_text_pdf

__all__ = ["QUERIES", "run_demo", "write_sample"]

_FIELD_GUIDE = [
    "Honeybees\n\n"
    "A honeybee that has found flowers full of nectar tells her sisters where they are with the waggle dance. "
    "On the vertical comb she runs straight ahead while waggling her body, then circles back and repeats. "
    "The angle of the waggle run from vertical shows the direction of the flowers relative to the sun, and "
    "the length of the run shows how far away they are.",
    "Volcanoes\n\n"
    "A volcano erupts when molten rock, called magma, rises from the mantle and reaches the surface as lava. "
    "Gas dissolved in the magma expands as pressure drops; sticky, gas-rich magma explodes into ash, while runny "
    "basalt magma pours out in lava flows, as in Hawaii and Iceland.",
    "Lighthouses\n\n"
    "A lighthouse lens focuses the light of a small lamp into a beam visible forty kilometres away. The Fresnel "
    "lens, invented by Augustin-Jean Fresnel in 1822, replaces one thick lens with rings of thin glass prisms "
    "that bend and reflect the light into a horizontal beam. Each lighthouse flashes its own pattern, so sailors "
    "can tell which light they see at night.",
]

#: The example questions the demo answers.
QUERIES = (
    "How do honeybees tell each other where the flowers are?",
    "What water temperature is best for pour-over coffee?",
    "Why does sourdough bread rise without yeast from a shop?",
    "How does a lighthouse lens focus light?",
)


def write_sample(directory: Path) -> Path:
    """Copy the bundled texts into ``directory/sample`` and write the PDF field guide there; returns the folder."""
    sample = directory / "sample"
    sample.mkdir(parents=True, exist_ok=True)
    bundled = resources.files("multivec") / "demo_data"
    for item in bundled.iterdir():
        if item.name.endswith((".md", ".txt")):
            (sample / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
    write_text_pdf(sample / "field-guide.pdf", _FIELD_GUIDE)
    return sample


def run_demo(
    embedding: MultiVectorBaseEmbedding,
    *,
    keep: Path | None = None,
    k: int = 3,
    echo: Callable[[str], None] = print,
) -> None:
    """Index the sample with ``embedding`` into a fresh embedded store and print the answers to :data:`QUERIES`."""
    workdir = keep if keep is not None else Path(tempfile.mkdtemp(prefix="multivec-demo-"))
    try:
        sample = write_sample(workdir)
        store_dir = workdir / "store"
        echo(f"multivec demo: embedder {embedding!r}")
        echo(f"sample: {len(list(sample.iterdir()))} files in {sample} (texts + a 3-page PDF)")
        started = time.perf_counter()
        with MultiVectorStore(embedding, "demo", path=str(store_dir)) as store:
            report = index_paths(store, [sample], progress=False)
            echo(report.summary())
            echo(f"indexed in {time.perf_counter() - started:.1f} s; store at {store_dir}\n")
            for query in QUERIES:
                began = time.perf_counter()
                hits = store.search(query, k=k, exact=True)
                echo(f"Q: {query}   ({1000 * (time.perf_counter() - began):.0f} ms)")
                echo(hits_table(hits, base=sample))
                echo("")
        echo("score = MaxSim (sum over query tokens of the best cosine); rel = score mapped to [0, 1]")
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
