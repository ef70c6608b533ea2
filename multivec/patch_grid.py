"""Where an image's patches sit in its multi-vector: the patch grid of one embedded image.

>>> grid = PatchGrid(rows=2, cols=3, row_indices=(0, 1, 2, 3, 4, 5))
>>> grid.n_patches
6
"""

from __future__ import annotations

from dataclasses import dataclass

from multivec.errors import InvalidInputError

__all__ = ["PatchGrid"]


@dataclass(frozen=True)
class PatchGrid:
    """``rows`` x ``cols`` image patches; ``row_indices[r * cols + c]`` is the multi-vector row of patch ``(r, c)``.

    Rows of the multi-vector not in ``row_indices`` are text/special tokens (e.g. the prompt after ColPali's image
    tokens). The grid covers the whole image as the model saw it (resized, aspect ratio kept by ColQwen2).
    """

    rows: int
    cols: int
    row_indices: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise InvalidInputError(f"a patch grid needs positive rows and cols, got {self.rows}x{self.cols}")
        if len(self.row_indices) != self.rows * self.cols:
            raise InvalidInputError(
                f"a {self.rows}x{self.cols} patch grid needs {self.rows * self.cols} row indices, "
                f"got {len(self.row_indices)}"
            )

    @property
    def n_patches(self) -> int:
        """Number of patches (``rows * cols``)."""
        return self.rows * self.cols

    def position(self, row: int) -> tuple[int, int] | None:
        """``(r, c)`` of the patch at multi-vector row ``row``, or ``None`` if that row is not an image patch.

        >>> PatchGrid(rows=2, cols=3, row_indices=(4, 5, 6, 7, 8, 9)).position(8), PatchGrid(1, 1, (4,)).position(0)
        ((1, 1), None)
        """
        try:
            return divmod(self.row_indices.index(row), self.cols)
        except ValueError:
            return None
