"""Progress bars: tqdm's notebook widget where ipywidgets is installed, its text bar everywhere else.

Without ipywidgets, importing ``tqdm.auto`` in Jupyter warns on every import of multivec even when no bar is ever
shown; the text bar it falls back to works fine, so that warning is silenced here.
"""

from __future__ import annotations

import warnings

from tqdm import TqdmWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
