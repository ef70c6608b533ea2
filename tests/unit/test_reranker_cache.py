"""Both frameworks' MaxSim rerankers keep candidate embeddings in an embedding cache (multivec.embeddings.cache
.with_cache): a candidate that comes back for another query is not embedded again; cache=False turns it off."""

from __future__ import annotations

import pytest

from multivec.embeddings import DiskCache, MemoryCache
from multivec.embeddings.cache import CachedEmbeddings, with_cache
from multivec.errors import ConfigurationError
from tests.unit.test_embedding_cache import TEXTS, Counting


def _document_calls(embedder: Counting) -> list[tuple[str, ...]]:
    return [texts for kind, texts, is_query in embedder.calls if kind in {"texts", "atexts"} and not is_query]  # type: ignore[misc]


@pytest.mark.parametrize("run_async", [False, True])
async def test_langchain_reranker_embeds_each_candidate_once(run_async: bool) -> None:
    from langchain_core.documents import Document

    from langchain_multivec import MaxSimReranker

    embedder = Counting(dim=16)
    reranker = MaxSimReranker(embedding=embedder, top_n=2)
    documents = [Document(text) for text in TEXTS]
    for query in ("red apples", "blue cars", "red apples"):
        if run_async:
            out = await reranker.acompress_documents(documents, query)
        else:
            out = reranker.compress_documents(documents, query)
        assert out[0].page_content == query
    assert sorted(t for texts in _document_calls(embedder) for t in texts) == sorted(TEXTS)
    uncached = Counting(dim=16)
    MaxSimReranker(embedding=uncached, cache=False).compress_documents(documents, "red apples")
    MaxSimReranker(embedding=uncached, cache=False).compress_documents(documents, "blue cars")
    assert sum(len(texts) for texts in _document_calls(uncached)) == 2 * len(TEXTS)


@pytest.mark.parametrize("run_async", [False, True])
async def test_llama_index_rerank_embeds_each_candidate_once(run_async: bool) -> None:
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_multivec import MaxSimRerank

    embedder = Counting(dim=16)
    rerank = MaxSimRerank(embedding=embedder, top_n=1)
    nodes = [NodeWithScore(node=TextNode(id_=text, text=text), score=0.0) for text in TEXTS]
    for query in ("green pears and plums", "a boundary layer"):
        if run_async:
            out = await rerank.apostprocess_nodes(nodes, query_str=query)
        else:
            out = rerank.postprocess_nodes(nodes, query_str=query)
        assert out[0].node.node_id == query
    assert sorted(t for texts in _document_calls(embedder) for t in texts) == sorted(TEXTS)


def test_with_cache_options(tmp_path: object) -> None:
    plain = Counting(dim=8)
    assert with_cache(plain, False) is plain
    cached = with_cache(plain)
    assert isinstance(cached, CachedEmbeddings) and with_cache(cached) is cached
    shared = MemoryCache()
    assert with_cache(plain, shared).cache is shared  # type: ignore[attr-defined]
    with DiskCache(tmp_path / "cache.sqlite") as disk:  # type: ignore[operator]
        assert with_cache(plain, disk).cache is disk  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="cache must be True, False or an EmbeddingCache, got str"):
        with_cache(plain, "yes")  # type: ignore[arg-type]
