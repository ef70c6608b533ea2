"""The API reference's docstring rewriting (docs/_ext/rst_docstrings.py): reST-isms in, Markdown out."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.docs.pages import ROOT

pytest.importorskip("griffe")


def _extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rst_docstrings", ROOT / "docs" / "_ext" / "rst_docstrings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roles_become_optional_autorefs() -> None:
    text = _extension().to_markdown("Uses :class:`~multivec.store.MultiVectorStore` and :func:`multivec.explain`.")
    assert (
        '<autoref identifier="multivec.store.MultiVectorStore" optional><code>MultiVectorStore</code></autoref>'
    ) in text
    assert '<autoref identifier="multivec.explain" optional><code>multivec.explain()</code></autoref>' in text
    assert ":class:" not in text and ":func:" not in text


def test_doctests_are_fenced_and_indented_code_is_left_alone() -> None:
    source = "Example::\n\n    >>> keep(':class:`x`')\n\nThen:\n\n>>> store.get(['1'])\n['one']\n\nEnd."
    lines = _extension().to_markdown(source).splitlines()
    assert lines[0] == "Example:"
    assert "    >>> keep(':class:`x`')" in lines
    start = lines.index("```pycon")
    assert lines[start + 1 : start + 4] == [">>> store.get(['1'])", "['one']", "```"]


def test_simple_tables_become_markdown_tables() -> None:
    source = "=====  ==========\n``a``  first\n       continued\n``b``  :class:`~m.B`\n=====  ==========\n\nAfter."
    lines = _extension().to_markdown(source).splitlines()
    assert "| ``a`` | first continued |" in lines
    assert any(line.startswith('| ``b`` | <autoref identifier="m.B"') for line in lines)
    assert lines[-1] == "After."
