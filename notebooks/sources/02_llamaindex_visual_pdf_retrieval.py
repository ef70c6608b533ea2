"""Source of notebooks/02_llamaindex_visual_pdf_retrieval.ipynb: ``python notebooks/sources/02_llamaindex_visual_pdf_retrieval.py`` rebuilds and re-executes it
(``--no-run``: cells only). See ``_notebook.py``.
"""

from __future__ import annotations

from _notebook import main

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """\
# Visual document retrieval over PDF pages with LlamaIndex, ColPali / ColQwen2 and Qdrant

ColPali-family models (ColPali, ColQwen2, …) embed a **page image** as one vector per image patch and a text query
as one vector per token; a page's score is **MaxSim**: for every query token, its best cosine with any patch, summed.
No OCR, no layout parsing, no chunking: tables, charts and headings are matched where they are on the page.

This notebook indexes the pages of two PDFs as LlamaIndex `ImageNode`s in a Qdrant collection with
`llama_index_multivec`, then:

1. retrieves pages for a text query and shows them,
2. restricts the search with metadata filters (file, page),
3. answers through a LlamaIndex query engine (a mock LLM here; one line to swap in a real multimodal one),
4. shows *why* a page matched: the query tokens' similarity map over the page.

**Where the model runs** (next cells pick the first that is available):

| | how | speed |
|---|---|---|
| an [Infinity](https://github.com/michaelfeil/infinity) server | set `MULTIVEC_INFINITY_URL` (e.g. `http://127.0.0.1:7997`) | GPU box: fast |
| a local checkpoint | `vidore/colqwen2-v1.0`, if it is already in your Hugging Face cache | CPU: about a minute per page |
| **a tiny random model** | built in seconds by `multivec.testing.tiny_models`, no download | instant, rankings meaningless |

The notebook runs offline (it sets `HF_HUB_OFFLINE=1`), so on a machine without the weights it falls back to the
tiny random ColQwen2: every step runs for real (rendering, embedding, Qdrant, MaxSim, filters, query engine), but the
rankings are noise. Point it at an Infinity server or a cached checkpoint to see real retrieval.""",
    ),
    (
        "code",
        """\
import io
import os
import tempfile
import warnings
from pathlib import Path

from IPython.display import Image as PNG
from IPython.display import display
from PIL import Image, ImageDraw

# Offline: never download from the Hugging Face Hub (delete to let the local branch download the model).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # hide transformers' version notices
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice when ipywidgets is not installed

WORKDIR = Path(tempfile.mkdtemp(prefix="multivec-visual-"))  # PDFs, page images, the Qdrant store""",
    ),
    (
        "md",
        """\
## 1. Pick the model

`InfinityEmbeddings` talks to an Infinity server (`MULTIVEC_INFINITY_MODEL` names the served model);
`ColPaliEmbeddings` runs a colpali-engine checkpoint in-process and raises `multivec.errors.ModelLoadError` when it
cannot load it — offline, that means the weights are not in the local cache. Then we build a tiny random ColQwen2
(Qwen2-VL, hidden size 32, same processor and output format as the real one) into a temporary directory.""",
    ),
    (
        "code",
        """\
from multivec.embeddings import ColPaliEmbeddings, InfinityEmbeddings
from multivec.errors import ModelLoadError
from multivec.testing.tiny_models import build_tiny_colqwen2

INFINITY_URL = os.environ.get("MULTIVEC_INFINITY_URL")
LOCAL_MODEL = "vidore/colqwen2-v1.0"
TINY = False

if INFINITY_URL:
    embedder = InfinityEmbeddings(
        url=INFINITY_URL, model_name=os.environ.get("MULTIVEC_INFINITY_MODEL", "michaelfeil/colqwen2-v0.1")
    )
    print(f"Infinity server at {INFINITY_URL}, model {embedder.model_name}")
else:
    try:
        embedder = ColPaliEmbeddings(LOCAL_MODEL)  # device="auto": cuda, mps or cpu
        print(f"local checkpoint {LOCAL_MODEL} on {embedder.device}")
    except ModelLoadError:
        print(
            "no ColPali weights available offline → using a tiny random model: "
            "the pipeline runs, the rankings are meaningless"
        )
        embedder = ColPaliEmbeddings(build_tiny_colqwen2(WORKDIR / "tiny-colqwen2"), device="cpu")
        TINY = True""",
    ),
    (
        "md",
        """\
## 2. Some PDFs

Two small PDFs with one topic per page, written with `multivec.testing.write_text_pdf` (any PDFs will do: reports,
slides, scanned forms — the model only sees the rendered pages).""",
    ),
    (
        "code",
        """\
from multivec.testing import write_text_pdf

DOCUMENTS = {
    "quarterly-report.pdf": [
        "Revenue by region, 2023\\n\\nEurope      41.2 M EUR   +6 %\\nNorth America  55.9 M EUR  +11 %\\n"
        "Asia-Pacific  23.4 M EUR  +19 %\\n\\nAsia-Pacific grew fastest, driven by new customers in Japan.",
        "Headcount and hiring\\n\\nWe ended the year with 412 employees (2022: 355). Most new hires joined "
        "engineering and customer support in Lisbon and Singapore.",
        "Outlook for 2024\\n\\nWe expect revenue growth of 8 to 10 percent and a stable operating margin. "
        "Risks: currency swings and longer enterprise sales cycles.",
    ],
    "aircraft-maintenance.pdf": [
        "Wing flutter inspection\\n\\nCheck the aileron hinges and balance weights every 600 flight hours. "
        "Flutter shows as vibration of the wing tips at high speed.",
        "Jet engine noise\\n\\nFan blade damage raises the tonal noise of the engine. Borescope the fan and the "
        "compressor when the crew reports a new hum at take-off power.",
        "Landing gear hydraulics\\n\\nA slow gear extension points to air in the hydraulic lines or a worn "
        "actuator seal. Bleed the system and test the extension time: at most 10 seconds.",
    ],
}
SLIDE = (432.0, 324.0)  # 6 x 4.5 in, like a 4:3 slide deck
pdfs = [write_text_pdf(WORKDIR / name, pages, size=SLIDE, font_size=16, wrap=34) for name, pages in DOCUMENTS.items()]
print([pdf.name for pdf in pdfs])""",
    ),
    (
        "md",
        """\
## 3. Index the pages as `ImageNode`s

Each page is rendered (`multivec.pdf.read_pdf`, pypdfium2) and saved as a PNG; an `ImageNode` points at it and
keeps the page's text layer as its `text` (what a text-only LLM reads later) and the file name and page number as
metadata. `QdrantMultiVectorStore.add` embeds the **images** with the multi-vector model and stores the patch
vectors in Qdrant.

The store here is embedded (qdrant-edge, persisted under `path`); `url="http://localhost:6333"` (and `api_key=`)
uses a Qdrant server or cluster instead, with the same code. We call `store.add` directly rather than
`VectorStoreIndex.from_documents`, which would embed every page a second time for its own pooled vector.

(For a quick index without LlamaIndex nodes, `store.store.add_pdfs(paths)` does rendering and embedding in one call;
the pages then come back as `ImageNode`s with `file_path` and `page_label` metadata but no image file.)""",
    ),
    (
        "code",
        """\
from llama_index.core.schema import ImageNode

from llama_index_multivec import QdrantMultiVectorStore
from multivec.pdf import read_pdf

DPI = 96  # ColPali-family processors downscale pages anyway; raise it for small print
pages_dir = WORKDIR / "pages"
pages_dir.mkdir()

nodes = []
for pdf in pdfs:
    for page in read_pdf(pdf, dpi=DPI):
        png = pages_dir / f"{pdf.stem}-p{page.page}.png"
        page.image.save(png)
        nodes.append(
            ImageNode(
                id_=f"{pdf.stem}-p{page.page}",
                image_path=str(png),
                text=page.text,
                metadata={"file_name": pdf.name, "page": page.page},
            )
        )

store = QdrantMultiVectorStore(
    embedder, "pages", path=str(WORKDIR / "index"), filterable_fields={"file_name": "keyword", "page": "integer"}
)
store.add(nodes)
print(f"{store.store.count()} pages indexed")""",
    ),
    (
        "md",
        """\
## 4. Retrieve pages for a text query

`MaxSimRetriever` searches the store directly (no index or docstore needed); `modality="image"` keeps only image
nodes. Scores: `NodeWithScore.score` is the relevance in [0, 1], the raw MaxSim score is in
`node.metadata["maxsim_score"]`. The page images come back through `node.image_path`.""",
    ),
    (
        "code",
        """\
from llama_index_multivec import MaxSimRetriever


def show_pages(hits, width=200):
    \"\"\"The retrieved pages side by side as small thumbnails, captioned with node id and score.\"\"\"
    thumbs = []
    for hit in hits:
        page = Image.open(hit.node.image_path).convert("RGB")
        page.thumbnail((width, width))
        thumbs.append((page, f"{hit.node.node_id}  ({hit.score:.3f})"))
    strip = Image.new("RGB", (len(thumbs) * (width + 10), max(t.height for t, _ in thumbs) + 18), "white")
    draw = ImageDraw.Draw(strip)
    for i, (thumb, caption) in enumerate(thumbs):
        x = i * (width + 10)
        strip.paste(thumb, (x, 16))
        draw.rectangle([x, 16, x + thumb.width - 1, 16 + thumb.height - 1], outline="gray")
        draw.text((x, 2), caption, fill="black")
    png = io.BytesIO()
    strip.save(png, format="PNG", optimize=True)
    display(PNG(png.getvalue()))


query = "revenue by region in 2023"
retriever = MaxSimRetriever(store, similarity_top_k=3, modality="image")
hits = retriever.retrieve(query)
for hit in hits:
    print(f"{hit.score:.3f}  maxsim={hit.node.metadata['maxsim_score']:.2f}  {hit.node.node_id}")
if TINY:
    print("(tiny random model: this ranking is noise)")
show_pages(hits)""",
    ),
    (
        "md",
        """\
## 5. Filters

LlamaIndex `MetadataFilters` apply inside the Qdrant query (in both the prefetch and the MaxSim stage), so the top
`k` are the best pages *among those that match*. Keys are your node metadata keys; declaring them in
`filterable_fields` (above) adds a payload index.""",
    ),
    (
        "code",
        """\
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

maintenance_only = MetadataFilters(filters=[MetadataFilter(key="file_name", value="aircraft-maintenance.pdf")])
hits = MaxSimRetriever(store, similarity_top_k=2, filters=maintenance_only).retrieve("engine noise at take-off")
print([hit.node.node_id for hit in hits])
show_pages(hits)

later_pages = MetadataFilters(filters=[MetadataFilter(key="page", value=2, operator=FilterOperator.GTE)])
hits = MaxSimRetriever(store, similarity_top_k=6, filters=later_pages).retrieve("hiring plans")
print([hit.node.node_id for hit in hits])""",
    ),
    (
        "md",
        """\
## 6. A query engine

The store plugs into LlamaIndex's usual machinery: `VectorStoreIndex.from_vector_store(store)` gives retrievers
and query engines (filters and `similarity_top_k` as usual). `Settings.embed_model` must be set for the index to
be built; `MultiVectorEmbedding` wraps the same model (its pooled vector), while the store itself embeds the query
as token vectors for MaxSim.

The LLM here is LlamaIndex's **`MockLLM`**, which needs no API key and echoes its prompt, so the output below is
exactly what a real LLM would receive: the retrieved pages' text layers and the question. With a real LLM, swap
one line, e.g. `llm = OpenAI(model="gpt-4o-mini")` (`pip install llama-index-llms-openai`) or
`llm = Anthropic(model="claude-sonnet-4-0")` (`llama-index-llms-anthropic`).""",
    ),
    (
        "code",
        """\
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.llms import MockLLM

from llama_index_multivec import MultiVectorEmbedding

Settings.embed_model = MultiVectorEmbedding(embedder)
llm = MockLLM()  # a real one: from llama_index.llms.openai import OpenAI; llm = OpenAI(model="gpt-4o-mini")

index = VectorStoreIndex.from_vector_store(store)
engine = index.as_query_engine(llm=llm, similarity_top_k=2)
response = engine.query("Which region grew fastest in 2023?")
print("sources:", [(n.node.metadata["file_name"], n.node.metadata["page"]) for n in response.source_nodes])
print("---- what the LLM received (MockLLM echoes its prompt) ----")
print(response)""",
    ),
    (
        "md",
        """\
A query engine sends the pages' **text**. To let a vision model read the pages themselves (charts, scans, tables
without a text layer), send the retrieved page images with the question: a `ChatMessage` with `ImageBlock`s works
with any multimodal LlamaIndex LLM (OpenAI, Anthropic, Gemini, Ollama…). `MockLLM` again stands in: it ignores the
images and echoes the text.""",
    ),
    (
        "code",
        """\
from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock

question = "Which region grew fastest in 2023?"
pages = MaxSimRetriever(store, similarity_top_k=2, modality="image").retrieve(question)
message = ChatMessage(
    role="user",
    blocks=[*(ImageBlock(path=hit.node.image_path) for hit in pages), TextBlock(text=question)],
)
print([hit.node.node_id for hit in pages], "→", len(message.blocks) - 1, "page images sent")
print(llm.chat([message]))  # a real multimodal llm answers from the page images""",
    ),
    (
        "md",
        """\
## 7. Why did a page match?

`store.explain(query, node)` breaks the page's MaxSim score down by query token: each token's best-matching patch
and its similarity (they sum to the score). For image pages it also knows the patch grid, so the similarities can
be drawn over the page: here the mean over the query tokens; `explanation.plot()` draws one map per token
(see `03_explain_similarity_maps.ipynb`). With the tiny random model the map is noise; with a trained model it
highlights the parts of the page the query matched.""",
    ),
    (
        "code",
        """\
import matplotlib.pyplot as plt

[top] = MaxSimRetriever(store, similarity_top_k=1, modality="image").retrieve(query)
explanation = store.explain(query, top)
print(f"{top.node.node_id}: MaxSim {explanation.score:.2f} over {explanation.n_query_tokens} query tokens; top 5:")
for match in sorted(explanation.matches(), key=lambda m: -m.contribution)[:5]:
    token = match.label or f"#{match.query_index}"  # token strings are unknown through Infinity
    print(f"  {token!r:>12} → patch {match.document_index:>3}  {match.contribution:.3f}")

if explanation.grid is not None:  # the model's patch layout is known: draw the mean map over the page
    page = explanation.image
    extent = (0, page.width, page.height, 0)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.imshow(page, extent=extent)
    shown = ax.imshow(explanation.combined_heatmap(explanation.grid), cmap="jet", alpha=0.45, extent=extent)
    ax.set_title(f"{query!r}: mean over query tokens", fontsize=8)
    ax.axis("off")
    fig.colorbar(shown, ax=ax, shrink=0.8, label="cosine")
    plt.show()
else:  # e.g. through Infinity: no patch layout, so the token contributions instead
    print(explanation.image_note)
    explanation.plot()""",
    ),
    (
        "md",
        """\
## 8. With a real model

**An Infinity server** (a GPU box; infinity-emb 0.0.78 needs colpali-engine 0.3.8 and, for images, aiohttp):

```bash
pip install "infinity-emb[server,torch]==0.0.78" "colpali-engine==0.3.8" aiohttp
infinity_emb v2 --model-id vidore/colqwen2-v1.0-merged --served-model-name colqwen2 --port 7997 --host 127.0.0.1
```

then run this notebook with `MULTIVEC_INFINITY_URL=http://127.0.0.1:7997 MULTIVEC_INFINITY_MODEL=colqwen2`.
Infinity serves merged ColPali / ColQwen2 / ColIdefics2 checkpoints (not LoRA adapters, not ColQwen2.5).
To try the server plumbing on a CPU, serve the tiny model instead (`build_tiny_colqwen2(DIR)`, then
`infinity_emb v2 --host 127.0.0.1 --port 7997 --engine torch --device cpu --no-model-warmup --model-id DIR
--served-model-name tiny-colqwen2`).

**A local checkpoint**: download it once (`huggingface-cli download vidore/colqwen2-v1.0` and its base
`vidore/colqwen2-base`), then this notebook finds it in the cache; `ColPaliEmbeddings` also takes a local directory.
Page encoding wants a GPU (about a minute per page on one CPU core).

**A Qdrant server**: `docker run -p 6333:6333 qdrant/qdrant`, then
`QdrantMultiVectorStore(embedder, "pages", url="http://localhost:6333")` (`api_key=` for Qdrant Cloud);
everything else stays the same.""",
    ),
    (
        "code",
        """\
store.close()  # releases the embedded store's directory lock""",
    ),
]


if __name__ == "__main__":
    main(CELLS, "02_llamaindex_visual_pdf_retrieval.ipynb")
