"""Pictures of an :class:`~multivec.explain.Explanation` (needs the ``plot`` extra: ``pip install "multivec[plot]"``).

- :func:`plot_heatmaps`: for an image document, one similarity map per query token over the page, blended on the
  image, plus a combined map (mean over query tokens);
- :func:`plot_token_table`: for any document, a bar chart of each query token's contribution to the score.

Both return the matplotlib ``Figure`` (shown inline in notebooks) and save a PNG when ``out`` is given. Without a
display, the non-interactive Agg backend is used.

>>> from PIL import Image
>>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
>>> from multivec.explain import explain
>>> fake = DeterministicFakeMultiVectorEmbedding(dim=16, grid=4)
>>> page = Image.new("RGB", (64, 64), "white")
>>> ex = explain("red apples", page, embedding=fake)
>>> fig = plot_heatmaps(ex, page, fake.image_patch_grid(page))
>>> len(fig.axes) >= 3
True
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from multivec.errors import InvalidInputError, MissingDependencyError
from multivec.explain import Explanation
from multivec.images import load_image
from multivec.patch_grid import PatchGrid
from multivec.types import ImageInput

__all__ = ["close", "plot_heatmaps", "plot_token_table"]

_MAX_COLUMNS = 4


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
        fig.savefig(path, format="png", dpi=100, bbox_inches="tight")


def close(figure: Any) -> None:
    """Release a figure from :func:`plot_heatmaps` / :func:`plot_token_table` once saved (pyplot keeps it open,
    and a notebook would show it again)."""
    _pyplot().close(figure)


def _token_indices(tokens: Sequence[int] | None, n: int) -> list[int]:
    if tokens is None:
        return list(range(n))
    picked = list(tokens)
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in picked):
        raise InvalidInputError(f"tokens must be query token indices in [0, {n}), got {tokens!r}")
    return picked


def _where(grid: PatchGrid, row: int) -> str:
    """Where a matched row sits: its patch ``(row, column)`` on the page, or a token outside the image."""
    position = grid.position(row)
    return f"patch r{position[0]} c{position[1]}" if position is not None else f"token #{row} (not a patch)"


def plot_heatmaps(
    explanation: Explanation,
    image: ImageInput,
    grid: PatchGrid,
    out: str | os.PathLike[str] | None = None,
    *,
    tokens: Sequence[int] | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> Any:
    """Similarity maps of each query token over the page, and their mean, blended on ``image``.

    ``grid`` is the document's patch layout (``embedding.image_patch_grid(image)``); each map is upsampled to the
    image size (nearest patch). Colours share one scale, the range of all the maps. ``tokens`` picks which query
    tokens get a panel (their indices; default all, e.g. skip ColPali's query-augmentation tokens); the combined map
    always covers every token. Saves a PNG to ``out`` if given (parent directories are created) and returns the
    ``Figure``.
    """
    explanation = _check_explanation(explanation)
    shown = _token_indices(tokens, explanation.n_query_tokens)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    maps = explanation.heatmaps(grid)
    combined = explanation.combined_heatmap(grid)
    page = load_image(image, min_size=(1, 1))
    plt = _pyplot()
    labels = explanation.labels()
    panels = [(f"all tokens (score {explanation.score:.2f})", combined)]
    panels += [
        (
            f"{labels[i]} → {_where(grid, int(explanation.best_indices[i]))} ({explanation.best_similarities[i]:.2f})",
            maps[i],
        )
        for i in shown
    ]
    columns = min(_MAX_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    low, high = float(min(maps.min(), combined.min())), float(max(maps.max(), combined.max()))
    extent = (0, page.width, page.height, 0)
    for ax, (title, values) in zip(axes.flat, panels, strict=False):
        ax.imshow(page, extent=extent)
        shown = ax.imshow(values, cmap=cmap, alpha=alpha, vmin=low, vmax=high, extent=extent, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.colorbar(shown, ax=list(axes.flat), shrink=0.6, label="cosine similarity")
    _save(fig, out)
    return fig


def plot_token_table(explanation: Explanation, out: str | os.PathLike[str] | None = None) -> Any:
    """A horizontal bar per query token: its contribution to the MaxSim score (its best similarity).

    Each bar is annotated with the matched document row. Saves a PNG to ``out`` if given and returns the ``Figure``.

    >>> from multivec.embeddings import DeterministicFakeMultiVectorEmbedding
    >>> from multivec.explain import explain
    >>> ex = explain("red apples", "apples", embedding=DeterministicFakeMultiVectorEmbedding(dim=16))
    >>> plot_token_table(ex).axes[0].get_title()
    'MaxSim 1.02 = sum of 2 token contributions'
    """
    explanation = _check_explanation(explanation)
    plt = _pyplot()
    labels = explanation.labels()
    values = explanation.contributions
    positions = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(labels) + 1)))
    ax.barh(positions, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    ax.set_yticks(positions, labels=labels, fontsize=8)
    ax.invert_yaxis()
    for y, (value, index) in enumerate(zip(values, explanation.best_indices, strict=True)):
        ax.annotate(f" → {int(index)}", (float(value), y), va="center", fontsize=7)
    ax.set_xlabel("contribution (best cosine with any document token)")
    ax.set_title(f"MaxSim {explanation.score:.2f} = sum of {len(labels)} token contributions")
    fig.tight_layout()
    _save(fig, out)
    return fig
