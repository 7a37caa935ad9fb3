"""Top-down grid coordinates shared by every 2-D grid over the floor (navigability, occupancy).

Row i covers world z in ``[origin_z + i * cell, origin_z + (i + 1) * cell)``, column j covers x in
``[origin_x + j * cell, ...)`` (metres, world frame Y up).
"""

from __future__ import annotations

import math

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


def segment_on(mask: np.ndarray, start: np.ndarray, end: np.ndarray, origin: np.ndarray, cell: float) -> bool:
    """Whether every point of the segment ``start`` -> ``end`` ((3,) world points; x/z used),
    sampled every half cell, lies on a True cell of ``mask`` (rows, cols) inside the grid. Lean on
    purpose (path straightening calls it thousands of times per plan)."""
    dx, dz = float(end[0]) - float(start[0]), float(end[2]) - float(start[2])
    n = max(2, int(math.ceil(math.hypot(dx, dz) / (cell * 0.5))) + 1)
    t = np.linspace(0.0, 1.0, n)
    cols = np.floor((float(start[0]) - origin[0] + t * dx) / cell).astype(np.intp)
    rows = np.floor((float(start[2]) - origin[1] + t * dz) / cell).astype(np.intp)
    if min(cols.min(), rows.min()) < 0 or cols.max() >= mask.shape[1] or rows.max() >= mask.shape[0]:
        return False
    return bool(mask[rows, cols].all())
