"""Tiny offline model builders for the tests: a re-export of :mod:`multivec.testing.tiny_models` (the public home).

>>> from tests.support.tiny_models import build_tiny_colpali
>>> build_tiny_colpali.__module__
'multivec.testing.tiny_models'
"""

from __future__ import annotations

from multivec.testing.tiny_models import (
    build_minilm_colbert,
    build_tiny_bipali,
    build_tiny_colpali,
    build_tiny_colqwen2,
    minilm_dir,
)

__all__ = [
    "build_minilm_colbert",
    "build_tiny_bipali",
    "build_tiny_colpali",
    "build_tiny_colqwen2",
    "minilm_dir",
]
