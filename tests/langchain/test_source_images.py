"""multivec.source_images (core helper the reranker uses to score stored image records from their source)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multivec.errors import InvalidInputError
from multivec.pdf import read_pdf
from multivec.source_images import is_pdf, source_image
from multivec.testing import write_text_pdf


def test_pdf_page_renders_like_indexing_and_other_sources_pass_through(tmp_path: Path) -> None:
    pdf = write_text_pdf(tmp_path / "doc.PDF", ["first", "second page"])
    assert is_pdf(pdf) and not is_pdf("scan.png")
    indexed = read_pdf(pdf, dpi=40)[1].image
    rendered = source_image(str(pdf), 2, dpi=40)
    assert indexed is not None and not isinstance(rendered, str)
    np.testing.assert_array_equal(np.asarray(rendered), np.asarray(indexed))
    assert source_image(tmp_path / "scan.png", page=3) == str(tmp_path / "scan.png")


@pytest.mark.parametrize(("page", "match"), [(None, "no page"), (0, "positive"), (3, "has 2 pages")])
def test_bad_pages_are_named(tmp_path: Path, page: int | None, match: str) -> None:
    pdf = write_text_pdf(tmp_path / "doc.pdf", ["a", "b"])
    with pytest.raises(InvalidInputError, match=match):
        source_image(pdf, page)
    with pytest.raises(InvalidInputError, match="no such PDF"):
        source_image(tmp_path / "missing.pdf", 1)
