"""The ``multivec`` console script (``multivec index | search | eval | demo``); see ``docs/cli.md``.

>>> from multivec.cli import main
>>> main(["--version"])  # doctest: +SKIP
multivec 0.1.0
"""

from __future__ import annotations

from multivec.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
