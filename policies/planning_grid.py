"""``PlanningGrid``: the agent's own occupancy grid made ready for path planning.

The ``OccupancyGrid`` is padded with unknown cells so that it covers the agent and the points of
interest, occupied cells (and places where the agent collided) are inflated by the agent's radius,
and a disc around the agent is cleared (the simulator guarantees the agent's body is free there, so
occupied cells under it are reconstruction noise). Unknown cells stay traversable (optimistic), at
``unknown_cost`` times the cost of free ones. Travel costs come from fast marching (scikit-fmm) in
metres of free space. Grid conventions as ``perception.occupancy``: row i covers world z, column j
world x (metres, world frame Y up); returned points lie at the grid's floor height.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import skfmm
from scipy import ndimage

from envs import topdown
from perception.occupancy import UNKNOWN, OccupancyGrid


@dataclass
class PlanningGrid:
    """``states`` (rows, cols) int8 FREE/OCCUPIED/UNKNOWN after padding; ``blocked`` (rows, cols) bool
    where the agent's centre may not go; ``origin`` (x, z) metres of the corner; ``resolution``
    metres per cell; ``floor_height`` metres; ``unknown_cost`` >= 1, the cost of a metre of unknown
    space relative to free space."""

    states: np.ndarray
    blocked: np.ndarray
    origin: np.ndarray
    resolution: float
    floor_height: float
    unknown_cost: float = 1.0

    @classmethod
    def build(
        cls,
        grid: OccupancyGrid,
        agent_position: np.ndarray,
        inflation: float,
        cover: np.ndarray | None = None,
        obstacles: np.ndarray | None = None,
        margin: float = 1.0,
        unknown_cost: float = 1.0,
    ) -> PlanningGrid:
        """Pad ``grid`` to hold the agent and the ``cover`` points (N, 3), plus ``margin`` metres
        around all of them (so that unknown space leads around whatever the grid shows), mark the world points ``obstacles`` (M, 3) occupied, block every cell whose centre lies
        within ``inflation`` metres of an occupied cell's centre, then unblock the cells within
        ``inflation`` of the agent's position (3,)."""
        res = grid.resolution
        agent = np.asarray(agent_position, dtype=np.float64).reshape(3)
        extra = np.concatenate([agent[None], _as_points(cover)])[:, [0, 2]]
        lo = np.minimum(grid.origin, extra.min(axis=0)) - margin
        hi = np.maximum(grid.origin + np.array(grid.shape[::-1]) * res, extra.max(axis=0)) + margin
        shift = np.floor((lo - grid.origin) / res).astype(int)  # (cols, rows) to pad before, <= 0
        origin = grid.origin + shift * res
        cols, rows = np.ceil((hi - origin) / res).astype(int).tolist()
        states = np.full((rows, cols), UNKNOWN, dtype=np.int8)
        r0, c0 = -shift[1], -shift[0]
        states[r0 : r0 + grid.shape[0], c0 : c0 + grid.shape[1]] = grid.cells
        occupied = states == 1
        marks = topdown.world_to_cell(_as_points(obstacles), origin, res)
        marks = marks[topdown.in_bounds(marks, (rows, cols))]
        occupied[marks[:, 0], marks[:, 1]] = True
        blocked = ndimage.distance_transform_edt(~occupied) * res < inflation if occupied.any() else np.zeros_like(occupied)
        out = cls(states, blocked, origin, res, grid.floor_height, unknown_cost)
        out.blocked &= out._distance_to(agent) >= inflation
        return out

    @property
    def shape(self) -> tuple[int, int]:
        return self.states.shape

    @cached_property
    def _unblocked(self) -> np.ndarray:
        return ~self.blocked  # (rows, cols); ``blocked`` is final once ``build`` returns

    def world_to_cell(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) int64 (row, col), possibly outside the grid."""
        return topdown.world_to_cell(points, self.origin, self.resolution)

    def cell_to_world(self, cells: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 3) cell centres at floor height."""
        return topdown.cell_to_world(cells, self.origin, self.resolution, self.floor_height)

    def reachable_from(self, point: np.ndarray) -> np.ndarray:
        """(rows, cols) bool: the unblocked cells 4-connected to ``point``'s cell (empty when it is blocked)."""
        r, c = self._cell_of(point)
        labels, _ = ndimage.label(~self.blocked)
        return labels == labels[r, c] if labels[r, c] > 0 else np.zeros(self.shape, bool)

    def travel_cost(self, source: np.ndarray) -> np.ma.MaskedArray:
        """Fast-marching cost (metres of free space) from the world point ``source`` (3,) to every
        cell centre; masked where blocked or unreachable."""
        radius = 0.75 * self.resolution  # the front starts on a small disc around the source
        phi = self._distance_to(source) - radius
        speed = np.where(self.states == UNKNOWN, 1.0 / self.unknown_cost, 1.0)
        marched = skfmm.travel_time(np.ma.MaskedArray(phi, self.blocked), speed, dx=self.resolution)
        inside = phi <= 0
        return np.ma.MaskedArray(np.where(inside, 0.0, marched.data), mask=np.ma.getmaskarray(marched) & ~inside)

    def path(self, cost: np.ma.MaskedArray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Waypoints (K >= 2, 3) from ``start`` to ``end`` down ``cost`` (``travel_cost(end)``):
        steepest descent over 8-neighbours, then string pulling, so the path is taut around corners.
        ``start`` and ``end`` are kept as given (at floor height); empty (0, 3) when ``start``'s cell
        has no finite cost."""
        values = np.ma.filled(cost, np.inf)
        r, c = self._cell_of(start)
        if not np.isfinite(values[r, c]):
            return np.zeros((0, 3))
        cells = [(r, c)]
        while values[r, c] > 0:
            window = values[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
            k = int(np.argmin(window))
            rr, cc = max(r - 1, 0) + k // window.shape[1], max(c - 1, 0) + k % window.shape[1]
            if values[rr, cc] >= values[r, c]:
                break  # a local minimum: the end's disc
            r, c = rr, cc
            cells.append((r, c))
        points = np.concatenate([self._on_floor(start)[None], self.cell_to_world(np.array(cells[1:-1]).reshape(-1, 2)), self._on_floor(end)[None]])
        return self._straighten(points)

    def segment_clear(self, start: np.ndarray, end: np.ndarray) -> bool:
        """Whether every point of the segment start -> end (x/z) lies on unblocked cells inside the grid."""
        return topdown.segment_on(self._unblocked, start, end, self.origin, self.resolution)

    def path_clear(self, path: np.ndarray) -> bool:
        """Whether every segment of the polyline ``path`` (K, 3) is ``segment_clear``; False when empty."""
        return len(path) > 0 and all(self.segment_clear(a, b) for a, b in zip(path[:-1], path[1:]))

    def _straighten(self, points: np.ndarray) -> np.ndarray:
        """String pulling: from each kept point jump to the farthest later point in a clear straight line."""
        out, i, last = [points[0]], 0, len(points) - 1
        while i < last:
            lo, hi = i + 1, last  # points[lo] is seen (adjacent cells); is points[hi]?
            if self.segment_clear(points[i], points[hi]):
                lo = hi
            while hi - lo > 1:  # bisection: along a descent path, sight is lost once in all but contrived cases
                mid = (lo + hi) // 2
                if self.segment_clear(points[i], points[mid]):
                    lo = mid
                else:
                    hi = mid
            out.append(points[lo])
            i = lo
        return np.stack(out)

    def _cell_of(self, point: np.ndarray) -> tuple[int, int]:
        rows, cols = self.shape
        r, c = self.world_to_cell(np.asarray(point, dtype=np.float64).reshape(1, 3))[0]
        return int(np.clip(r, 0, rows - 1)), int(np.clip(c, 0, cols - 1))

    def _on_floor(self, point: np.ndarray) -> np.ndarray:
        p = np.asarray(point, dtype=np.float64).reshape(3)
        return np.array([p[0], self.floor_height, p[2]])

    def _distance_to(self, point: np.ndarray) -> np.ndarray:
        """(rows, cols) x/z distance (metres) from every cell centre to ``point`` (3,)."""
        p = np.asarray(point, dtype=np.float64).reshape(3)
        rows, cols = self.shape
        x = self.origin[0] + (np.arange(cols) + 0.5) * self.resolution
        z = self.origin[1] + (np.arange(rows) + 0.5) * self.resolution
        return np.hypot(x[None, :] - p[0], z[:, None] - p[2])


def _as_points(points: np.ndarray | None) -> np.ndarray:
    """(N, 3) float64 world points; (0, 3) for None."""
    return np.zeros((0, 3)) if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 3)
