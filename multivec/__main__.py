"""``python -m multivec``: the same as the ``multivec`` command."""

from __future__ import annotations

import sys

from multivec.cli import main

if __name__ == "__main__":
    sys.exit(main())
