"""Pictures of an :class:`~multivec.explain.Explanation` that answer "why did this match?" (needs
``pip install "multivec-retrieval[plot]"``).

- :func:`plot_heatmaps`: for a page image, the query words that added most to the score, each in its own panel
  over the page with the page patches its tokens matched outlined, after an "all words" panel that shades the
  page where the words matched (a light overlay: the page stays readable);
- :func:`plot_token_table`: for any document, a bar per query word (its contribution), annotated with the
  document words it matched.

Words come from :meth:`~multivec.explain.Explanation.words`: sub-word pieces merged, special, padding and prompt
tokens left out. Both return the matplotlib ``Figure`` (shown inline in notebooks) and save a PNG when ``out`` is
given. Without a display, the non-interactive Agg backend is used.

>>> from PIL import Image
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.explain import explain
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=16, grid=4)
>>> page = Image.new("RGB", (64, 64), "white")
>>> ex = explain("red apples", page, embedding=fake)
>>> fig = plot_heatmaps(ex, page, fake.image_patch_grid(page))
>>> [ax.get_title().splitlines()[0] for ax in fig.axes]
['all words', '1. red', '2. apples']
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from multivec.errors import InvalidInputError, MissingDependencyError
from multivec.explain import NOT_A_PAGE_REGION, Explanation, WordMatch
from multivec.images import load_image
from multivec.patch_grid import PatchGrid
from multivec.types import ImageInput

__all__ = ["close", "plot_heatmaps", "plot_token_table"]

_MAX_COLUMNS = 4
_PANEL_WIDTH = 3.6  # inches
_TITLE_CHARS = 26  # per title line at the title font size in one panel
_MAX_BARS = 30
# outline colours, one per word panel: strong, distinguishable on white paper and on black print
_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise MissingDependencyError("multivec.plot", "plot", missing="matplotlib") from err
    headless = not os.environ.get("DISPLAY") and sys.platform.startswith("linux") and "ipykernel" not in sys.modules
    headless = headless and not os.environ.get("MPLBACKEND")
    if headless and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_explanation(explanation: Any) -> Explanation:
    if not isinstance(explanation, Explanation):
        raise InvalidInputError(f"explanation must be an Explanation from explain(), got {type(explanation).__name__}")
    return explanation


def _save(fig: Any, out: str | os.PathLike[str] | None) -> None:
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)


def close(figure: Any) -> None:
    """Release a figure from :func:`plot_heatmaps` / :func:`plot_token_table` once saved (pyplot keeps it open,
    and a notebook would show it again)."""
    _pyplot().close(figure)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _shown_words(explanation: Explanation, tokens: Sequence[int | str] | None, top: int) -> list[WordMatch]:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidInputError(f"top must be a positive int (how many words get a panel), got {top!r}")
    if tokens is None:
        return explanation.top_words(top)
    return explanation.pick(tokens)


def _shade(values: npt.NDArray[np.float32], cmap: Any, alpha: float) -> npt.NDArray[np.float64]:
    """RGBA for a light overlay: only the better half of the page is shaded, with the colour map's colour and an
    opacity rising from 0 (at the median similarity: the page shows through untouched) to ``alpha`` (the best)."""
    low, high = float(np.median(values)), float(values.max())
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(values)
    rgba = np.asarray(cmap(scaled), dtype=np.float64)
    rgba[..., 3] = alpha * scaled
    return rgba


def _outline(ax: Any, grid: PatchGrid, rows: Sequence[int], size: tuple[int, int], colour: str) -> int:
    """Draw a rectangle around each page patch among ``rows``; returns how many were drawn."""
    from matplotlib.patches import Rectangle

    width, height = size[0] / grid.cols, size[1] / grid.rows
    positions = sorted({p for p in (grid.position(r) for r in rows) if p is not None})
    for r, c in positions:
        ax.add_patch(Rectangle((c * width, r * height), width, height, fill=False, edgecolor=colour, linewidth=2.0))
    return len(positions)


def _where(n_regions: int, n_elsewhere: int) -> str:
    regions = f"{n_regions} page region{'s' if n_regions != 1 else ''}"
    if not n_elsewhere:
        return regions
    return f"{regions} + prompt text" if n_regions else "the prompt text"


def plot_heatmaps(
    explanation: Explanation,
    image: ImageInput,
    grid: PatchGrid,
    out: str | os.PathLike[str] | None = None,
    *,
    tokens: Sequence[int | str] | None = None,
    top: int = 6,
    alpha: float = 0.45,
    cmap: str = "autumn_r",
) -> Any:
    """Why this page matched: the ``top`` query words by contribution, each over the page with what it matched.

    The first panel, "all words", shades the page where the query's words matched (the mean of their similarity
    maps, from light to ``alpha`` opaque in ``cmap``) and outlines every shown word's best patches in its colour.
    Then one panel per word: the page, the patches its tokens matched best outlined, titled with the word, its
    contribution and how many page regions it matched. A word whose tokens matched rows that are not image
    patches (ColPali's and ColQwen2's prompt tokens) says so in the panel instead of outlining anything.

    ``grid`` is the page's patch layout (``embedding.image_patch_grid(image)``). ``tokens`` picks the word panels
    instead of the top ones: words, or query token indices (see :meth:`~multivec.explain.Explanation.pick`; an
    unknown word raises :class:`~multivec.errors.InvalidInputError` naming the query's words). Saves a PNG to
    ``out`` if given (parent directories are created) and returns the ``Figure``.
    """
    explanation = _check_explanation(explanation)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    words = _shown_words(explanation, tokens, top)
    maps = explanation.heatmaps(grid)
    page = load_image(image, min_size=(1, 1))
    plt = _pyplot()
    colour_map = plt.get_cmap(cmap)
    in_words = sorted({i for word in explanation.words() for i in word.token_indices})
    combined = maps[in_words or list(range(explanation.n_query_tokens))].mean(axis=0)

    n_panels = 1 + len(words)
    rows = math.ceil(n_panels / _MAX_COLUMNS)
    columns = math.ceil(n_panels / rows)  # balanced: 5 panels are 3 + 2, not 4 + 1
    panel_height = _PANEL_WIDTH * page.height / page.width + 0.6  # room for a two-line title
    fig, axes = plt.subplots(
        rows, columns, figsize=(_PANEL_WIDTH * columns, panel_height * rows + 0.6), squeeze=False, layout="constrained"
    )
    extent = (0, page.width, page.height, 0)
    size = (page.width, page.height)
    query = f" {_clip(explanation.query_text, 60)!r}" if explanation.query_text else ""
    fig.suptitle(f"Why this page matched{query}: MaxSim {explanation.score:.2f}", fontsize=11)

    first = axes.flat[0]
    first.imshow(page, extent=extent)
    first.imshow(_shade(combined, colour_map, alpha), extent=extent, interpolation="nearest")
    for k, word in enumerate(words):
        _outline(first, grid, word.document_indices, size, _COLOURS[k % len(_COLOURS)])
    first.set_title("all words\nshaded where they matched", fontsize=9)

    for k, (ax, word) in enumerate(zip(list(axes.flat)[1:], words, strict=False)):
        colour = _COLOURS[k % len(_COLOURS)]
        ax.imshow(page, extent=extent)
        n_regions = _outline(ax, grid, word.document_indices, size, colour)
        n_elsewhere = sum(grid.position(r) is None for r in word.document_indices)
        name = _clip(word.text, _TITLE_CHARS - 4)
        rank = f"{k + 1}. " if tokens is None else ""  # picked words are in the order asked, not ranked
        ax.set_title(
            f"{rank}{name}\n+{word.contribution:.2f} · {_where(n_regions, n_elsewhere)}", fontsize=9, color=colour
        )
        if n_elsewhere and not n_regions:
            ax.text(
                0.5,
                0.5,
                textwrap.fill(f"“{name}” {NOT_A_PAGE_REGION}", 24),
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": colour, "alpha": 0.9, "boxstyle": "round"},
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n_panels:]:
        ax.axis("off")
    _save(fig, out)
    return fig


def plot_token_table(explanation: Explanation, out: str | os.PathLike[str] | None = None) -> Any:
    """A horizontal bar per query word, largest first: its contribution to the MaxSim score (the sum of its
    tokens' best similarities), annotated with the document words (or page patches) it matched.

    Special, padding and prompt tokens have no bar; the title says what they add. At most 30 words are drawn.
    Saves a PNG to ``out`` if given and returns the ``Figure``.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.explain import explain
    >>> ex = explain("red apples", "apples", embedding=DeterministicFakeMultiVectorEmbedding(dim=16))
    >>> ax = plot_token_table(ex).axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.texts[0].get_text()
    (['apples', 'red'], ' apples')
    """
    explanation = _check_explanation(explanation)
    plt = _pyplot()
    words = explanation.top_words(_MAX_BARS)
    values = [word.contribution for word in words]
    positions = np.arange(len(words))
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.34 * len(words) + 1.6)), layout="constrained")
    ax.barh(positions, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    ax.set_yticks(positions, labels=[_clip(word.text, 24) for word in words], fontsize=9)
    ax.invert_yaxis()
    for y, word in enumerate(words):
        matched = " · ".join(word.document_words[:3]) + (" · …" if len(word.document_words) > 3 else "")
        ax.annotate(f" {_clip(matched, 40)}", (max(word.contribution, 0.0), y), va="center", fontsize=8)
    ax.set_xlim(min(0.0, *values) if values else 0.0, max([*values, 0.0]) * 1.45 + 0.05)
    ax.set_xlabel("contribution to the score (its tokens' best cosines, summed)")
    ax.set_title(textwrap.fill(explanation.summary(), 90), fontsize=9)
    _save(fig, out)
    return fig
