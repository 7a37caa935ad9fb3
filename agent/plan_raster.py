"""``PlanRaster``: some of a map's points seen from above, as a grid of x/z cells.

The 3D-LLM reads a sparse sample of the map (1,024 points for a house). Seen from above, its wall
points draw the walls as lines of cells a few centimetres apart, and the points at the height of
an agent's body mark where it cannot stand. ``agent.room_extent`` casts rays in such a grid and
``agent.approach_points`` walks in one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlanRaster:
    """An x/z grid of ``cell``-metre cells (world frame) whose ``marked`` (X, Z) bool cells hold a
    chosen point (grown by some cells, see :meth:`of`); cell (i, j) spans
    ``origin + [i, j] * cell`` to ``origin + [i + 1, j + 1] * cell``."""

    marked: np.ndarray
    origin: np.ndarray
    cell: float

    @classmethod
    def of(cls, extent: np.ndarray, chosen: np.ndarray, cell: float, grow: int = 1, margin: float = 0.5) -> PlanRaster:
        """A raster covering the x/z points ``extent`` (M, 2) plus ``margin`` metres, with the cells of
        the x/z points ``chosen`` (K, 2) marked and grown by ``grow`` cells on every side (joining
        points up to ``2 * grow`` cells apart)."""
        extent = np.asarray(extent, dtype=np.float64).reshape(-1, 2)
        chosen = np.asarray(chosen, dtype=np.float64).reshape(-1, 2)
        if len(extent) == 0:
            raise ValueError("PlanRaster.of needs at least one point to cover")
        if not (np.isfinite(cell) and cell > 0):
            raise ValueError(f"cell must be positive metres, got {cell!r}")
        origin = extent.min(axis=0) - margin
        shape = tuple(np.floor((extent.max(axis=0) + margin - origin) / cell).astype(int) + 1)
        marked = np.zeros(shape, dtype=bool)  # (X, Z)
        ij = np.floor((chosen - origin) / cell).astype(int)  # (K, 2)
        ij = ij[np.all((ij >= 0) & (ij < shape), axis=1)]
        marked[ij[:, 0], ij[:, 1]] = True
        if grow > 0 and marked.any():
            from scipy import ndimage

            marked = ndimage.binary_dilation(marked, np.ones((2 * grow + 1,) * 2, dtype=bool))
        return cls(marked, origin, float(cell))

    def index(self, xz: np.ndarray) -> np.ndarray:
        """(..., 2) int cell indices of x/z points (..., 2) world metres (may lie off the grid)."""
        return np.floor((np.asarray(xz, dtype=np.float64) - self.origin) / self.cell).astype(int)

    def on_grid(self, ij: np.ndarray) -> bool:
        """Whether the cell index (2,) lies on the grid."""
        return bool(0 <= ij[0] < self.marked.shape[0] and 0 <= ij[1] < self.marked.shape[1])

    def centres(self) -> np.ndarray:
        """(X, Z, 2) x/z world metres of every cell's centre."""
        i, j = np.meshgrid(np.arange(self.marked.shape[0]), np.arange(self.marked.shape[1]), indexing="ij")
        return self.origin + (np.stack([i, j], axis=-1) + 0.5) * self.cell
