"""Small random models for tests and offline demos — they exercise code paths, not retrieval quality.

:mod:`multivec.testing.tiny_models` builds tiny, deterministic ColPali / ColQwen2 / BiPali checkpoints (and a
ColBERT-mode copy of the offline MiniLM encoder) into a directory in seconds, with no download: enough to run a
pipeline end to end (local embedders, an Infinity server, a store, the adapters) where no real weights are at
hand. Their rankings are meaningless. Building needs the ``local`` extra (``pip install "multivec-retrieval[local]"``);
importing this package does not. :func:`write_text_pdf` writes small PDFs with a text layer (the demo's sample).
"""

from __future__ import annotations

from multivec.testing.pdfs import write_text_pdf

__all__ = ["write_text_pdf"]
