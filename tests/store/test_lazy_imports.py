"""``qdrant_client`` is loaded only for a Qdrant server, a ``qdrant_client`` filter or the server options: importing
multivec and using the embedded store (dict filters included) never imports it (about 0.6 s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _modules_after(code: str, cwd: Path) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=cwd, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_importing_multivec_and_the_store_does_not_import_qdrant_client(tmp_path: Path) -> None:
    loaded = _modules_after(
        "import multivec\nimport multivec.store\nfrom multivec.store import MultiVectorStore", tmp_path
    )
    assert "multivec" in loaded
    assert "qdrant_client" not in loaded


def test_the_embedded_store_with_dict_filters_does_not_import_qdrant_client(tmp_path: Path) -> None:
    code = f"""
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), path={str(tmp_path / "db")!r},
                          token_pooling=2, filterable_fields={{"genre": "keyword"}}) as store:
        store.add_texts(["red apples", "blue cars", "green pears"], ids=["a", "b", "c"],
                        metadatas=[{{"genre": "fruit"}}, {{"genre": "auto"}}, {{"genre": "fruit", "year": 2001}}])
        assert [h.id for h in store.search("apples", k=1, filter={{"genre": "fruit"}})] == ["a"]
        assert store.count({{"$or": [{{"genre": "auto"}}, {{"year": {{"$gte": 2000}}}}]}}) == 2
        assert len(store.scroll({{"genre": {{"$ne": "auto"}}}}, limit=5)) == 2
        store.delete(ids=["a", "b"], filter={{"genre": "fruit"}})
        assert sorted(r.id for r in store.scroll()) == ["b", "c"]
    """
    loaded = _modules_after(code, tmp_path)
    assert "qdrant_edge" in loaded
    assert "qdrant_client" not in loaded


def test_a_server_store_still_imports_qdrant_client(tmp_path: Path) -> None:
    code = """
    from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    from multivec.store import MultiVectorStore

    with MultiVectorStore(DeterministicFakeMultiVectorEmbedding(dim=16), location=":memory:") as store:
        store.add_texts(["red apples"])
    """
    assert "qdrant_client" in _modules_after(code, tmp_path)
