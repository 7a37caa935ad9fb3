"""Top-down grid coordinates shared by every 2-D grid over the floor (navigability, occupancy).

Row i covers world z in ``[origin_z + i * cell, origin_z + (i + 1) * cell)``, column j covers x in
``[origin_x + j * cell, ...)`` (metres, world frame Y up).
"""

from __future__ import annotations

import numpy as np


def world_to_cell(points: np.ndarray, origin: np.ndarray, cell: float) -> np.ndarray:
    """(N, 3) world points -> (N, 2) int64 (row, col), possibly outside the grid."""
    p = np.atleast_2d(np.asarray(points, dtype=np.float64))
    col = np.floor((p[:, 0] - origin[0]) / cell).astype(np.int64)
    row = np.floor((p[:, 2] - origin[1]) / cell).astype(np.int64)
    return np.stack([row, col], axis=1)


def cell_to_world(cells: np.ndarray, origin: np.ndarray, cell: float, height: float) -> np.ndarray:
    """(N, 2) (row, col) -> (N, 3) world points at the cells' centres, at ``height`` metres."""
    c = np.atleast_2d(cells)
    x = origin[0] + (c[:, 1] + 0.5) * cell
    z = origin[1] + (c[:, 0] + 0.5) * cell
    return np.stack([x, np.full_like(x, height, dtype=np.float64), z], axis=1)


def in_bounds(cells: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N,) bool: which (row, col) lie inside a grid of ``shape`` (rows, cols)."""
    c = np.atleast_2d(cells)
    return (c[:, 0] >= 0) & (c[:, 0] < shape[0]) & (c[:, 1] >= 0) & (c[:, 1] < shape[1])
