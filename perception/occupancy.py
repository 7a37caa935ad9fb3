"""``OccupancyGrid``: the top-down free / occupied / unknown grid that policies plan on.

The only perception type ``policies`` needs. Row i covers world z in
``[origin[1] + i * resolution, ...)``, column j covers x in ``[origin[0] + j * resolution, ...)``
(metres, Y up). A cell is *occupied* when the map holds surface inside the height band (the agent's
body: above the floor by more than a climbable step, below its height), *free* when it holds floor
and nothing in the band, and *unknown* when it holds neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs import topdown

FREE = np.int8(0)
OCCUPIED = np.int8(1)
UNKNOWN = np.int8(-1)


@dataclass
class OccupancyGrid:
    """A top-down grid: ``cells`` (rows, cols) int8 of ``FREE`` / ``OCCUPIED`` / ``UNKNOWN``.

    ``origin``: (x, z) metres of the grid's corner; ``resolution``: metres per cell;
    ``floor_height``: metres; ``height_band``: (low, high) world heights counted as obstacles.
    """

    cells: np.ndarray
    origin: np.ndarray
    resolution: float
    floor_height: float
    height_band: tuple[float, float]

    def __post_init__(self) -> None:
        self.cells = np.asarray(self.cells, dtype=np.int8)
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(2)
        if self.cells.ndim != 2:
            raise ValueError(f"cells must be 2-D (rows, cols), got shape {self.cells.shape}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be positive metres, got {self.resolution}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.cells.shape

    def world_to_cell(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) int64 (row, col), possibly outside the grid."""
        return topdown.world_to_cell(points, self.origin, self.resolution)

    def cell_to_world(self, cells: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 3) world points at the cells' centres, at floor height."""
        return topdown.cell_to_world(cells, self.origin, self.resolution, self.floor_height)

    def in_bounds(self, cells: np.ndarray) -> np.ndarray:
        """(N,) bool: which (row, col) lie inside the grid."""
        return topdown.in_bounds(cells, self.shape)

    def state_at(self, points: np.ndarray) -> np.ndarray:
        """(N,) int8 cell states at world points; ``UNKNOWN`` outside the grid."""
        cells = self.world_to_cell(points)
        inside = self.in_bounds(cells)
        out = np.full(len(cells), UNKNOWN, dtype=np.int8)
        out[inside] = self.cells[cells[inside, 0], cells[inside, 1]]
        return out

    @property
    def free(self) -> np.ndarray:
        return self.cells == FREE

    @property
    def occupied(self) -> np.ndarray:
        return self.cells == OCCUPIED

    @property
    def unknown(self) -> np.ndarray:
        return self.cells == UNKNOWN


def occupancy_from_points(
    points: np.ndarray, floor_height: float, resolution: float, max_climb: float, agent_height: float, floor_tolerance: float = 0.1
) -> OccupancyGrid:
    """Rasterise surface points (N, 3) into an ``OccupancyGrid``: points in
    ``(floor + max_climb, floor + agent_height]`` mark occupied cells, points within
    ``floor_tolerance`` of the floor mark free cells (unless occupied); the rest stays unknown."""
    band = (floor_height + max_climb, floor_height + agent_height)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(p) == 0:
        return OccupancyGrid(np.full((1, 1), UNKNOWN), np.zeros(2), resolution, floor_height, band)
    lo = np.floor(p[:, [0, 2]].min(axis=0) / resolution) * resolution - resolution
    hi = p[:, [0, 2]].max(axis=0)
    cols, rows = (np.ceil((hi - lo) / resolution).astype(int) + 2).tolist()
    grid = OccupancyGrid(np.full((rows, cols), UNKNOWN), lo, resolution, floor_height, band)
    y = p[:, 1]
    floor_cells = grid.world_to_cell(p[np.abs(y - floor_height) <= floor_tolerance])
    obstacle_cells = grid.world_to_cell(p[(y > band[0]) & (y <= band[1])])
    grid.cells[floor_cells[:, 0], floor_cells[:, 1]] = FREE
    grid.cells[obstacle_cells[:, 0], obstacle_cells[:, 1]] = OCCUPIED
    return grid
