"""Navigability of one floor of a mesh scene, as a top-down grid: ``NavGrid``.

How the grid is built from the mesh (``NavGrid.from_scene``):

1. **Floor height**: given, or the height holding the most upward-facing surface area among the
   lowest such surfaces (a ceiling's top face does not win over the floor below it).
2. **Ground**: a cell has ground when a ray cast straight down from ``floor + max_climb`` at its
   centre hits an upward-facing surface within ``max_climb + 0.05`` m (a floor, or a step low enough
   to climb).
3. **Clearance**: the agent's body is a capsule of radius ``radius`` spanning heights
   ``[floor + max_climb, floor + height]``; a cell is clear when the mesh's distance (open3d's
   ``RaycastingScene.compute_distance``) from the capsule's axis at that cell exceeds ``radius``.
   Zero-thickness walls and hanging objects count, the floor itself and steps below ``max_climb``
   do not.
4. **Navigable** = ground, clear, and at least ``radius`` from any cell without ground.

Geodesic distances come from fast marching (scikit-fmm) over the navigable cells from the goals,
with a straight-line shortcut when start and goal see each other on the grid (then the distance is
exactly the Euclidean one). Unreachable goals give ``math.inf``, as habitat-sim's pathfinder does.
Islands are the 4-connected components of the navigable cells. All points are world-frame metres
(Y up); returned points lie at the floor height.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import open3d as o3d
import skfmm
from scipy import ndimage
from scipy.spatial import cKDTree

from envs import topdown
from envs.raycast import raycasting_scene
from envs.scene import Scene
from envs.simulator import AgentConfig, NavigationConfig

_UPWARD_NORMAL_Y = 0.7  # surfaces steeper than ~45 deg are not walkable
_MAX_Y_DELTA = 0.5  # habitat's is_navigable max_y_delta: how far above/below the floor a point may be
_FIELD_CACHE_SIZE = 32


def estimate_floor_height(scene: Scene, bin_size: float = 0.02) -> float:
    """The height (metres) of the main floor: the lowest height bin whose upward-facing area is at
    least half the largest bin's."""
    tri = scene.vertices[scene.faces].astype(np.float64)  # (F, 3 corners, 3)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), |cross| = 2 * area
    norm = np.linalg.norm(cross, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        up = cross[:, 1] / norm > 0.95  # upward-facing horizontal faces
        if not up.any():  # single-sided meshes wound the other way
            up = np.abs(cross[:, 1]) / norm > 0.95
    if not up.any():
        raise ValueError(
            f"scene {scene.name!r} has no horizontal surface to walk on; is its up axis right "
            "(try up_axis='z' when loading) or give NavigationConfig.floor_height"
        )
    heights = tri[up, :, 1].mean(axis=1)
    areas = norm[up] / 2.0
    lo = heights.min()
    bins = np.floor((heights - lo) / bin_size).astype(np.int64)
    area_per_bin = np.bincount(bins, weights=areas)
    best = int(np.flatnonzero(area_per_bin >= 0.5 * area_per_bin.max())[0])
    in_bin = bins == best
    return float(np.average(heights[in_bin], weights=areas[in_bin]))


@dataclass
class NavGrid:
    """A top-down navigability grid of one floor.

    - ``navigable``: (rows, cols) bool; row i covers z in ``[origin[1] + i*cell, origin[1] + (i+1)*cell)``,
      column j covers x in ``[origin[0] + j*cell, ...)``.
    - ``origin``: (x, z) world metres of the grid's corner; ``cell_size`` metres; ``floor_height`` metres.
    """

    navigable: np.ndarray
    origin: np.ndarray
    cell_size: float
    floor_height: float
    islands: np.ndarray = field(init=False, repr=False)
    island_areas: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.navigable = np.asarray(self.navigable, dtype=bool)
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(2)
        labels, n = ndimage.label(self.navigable)  # 4-connected, as fast marching propagates
        self.islands = labels.astype(np.int32) - 1  # (rows, cols), -1 where not navigable
        counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        self.island_areas = counts * self.cell_size**2  # square metres per island
        # nearest navigable cell for every cell, for snap_point
        _, nearest = ndimage.distance_transform_edt(~self.navigable, return_indices=True)
        self._nearest = nearest  # (2, rows, cols)
        self._fields: OrderedDict[tuple, np.ma.MaskedArray] = OrderedDict()

    # ---------------------------------------------------------------------------------- building

    @classmethod
    def from_scene(
        cls,
        scene: Scene,
        agent_config: AgentConfig = AgentConfig(),
        nav_config: NavigationConfig = NavigationConfig(),
        raycaster: o3d.t.geometry.RaycastingScene | None = None,
    ) -> "NavGrid":
        """The navigability grid of ``scene`` for an agent of ``agent_config``'s size (see module doc)."""
        cell = float(nav_config.cell_size)
        if cell <= 0:
            raise ValueError(f"NavigationConfig.cell_size must be positive, got {cell}")
        floor = nav_config.floor_height
        floor = estimate_floor_height(scene) if floor is None else float(floor)
        rc = raycaster if raycaster is not None else raycasting_scene(scene)
        lo, hi = scene.bounds
        origin = np.array([lo[0] - cell, lo[2] - cell])
        cols = int(math.ceil((hi[0] - lo[0]) / cell)) + 2
        rows = int(math.ceil((hi[2] - lo[2]) / cell)) + 2
        xs = origin[0] + (np.arange(cols) + 0.5) * cell
        zs = origin[1] + (np.arange(rows) + 0.5) * cell
        xx, zz = np.meshgrid(xs, zs)  # (rows, cols)

        ground = _ground_mask(rc, xx, zz, floor, agent_config.max_climb)
        clear = np.zeros_like(ground)
        clear[ground] = _capsule_clear(rc, xx[ground], zz[ground], floor, agent_config)
        away_from_edges = ndimage.distance_transform_edt(ground) * cell > agent_config.radius
        return cls(ground & clear & away_from_edges, origin, cell, floor)

    # ---------------------------------------------------------------------------------- cells

    @property
    def shape(self) -> tuple[int, int]:
        return self.navigable.shape

    def world_to_cell(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) integer (row, col), possibly outside the grid."""
        return topdown.world_to_cell(points, self.origin, self.cell_size)

    def cell_to_world(self, cells: np.ndarray) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 3) world points at the cells' centres, at floor height."""
        return topdown.cell_to_world(cells, self.origin, self.cell_size, self.floor_height)

    def _navigable_cells(self, cells: np.ndarray) -> np.ndarray:
        ok = topdown.in_bounds(cells, self.shape)
        out = np.zeros(len(cells), dtype=bool)
        out[ok] = self.navigable[cells[ok, 0], cells[ok, 1]]
        return out

    # ---------------------------------------------------------------------------------- queries

    def is_navigable(self, point: np.ndarray) -> bool:
        """Whether the agent can stand at ``point`` (within 0.5 m of the floor height)."""
        p = _as_point(point)
        if abs(p[1] - self.floor_height) > _MAX_Y_DELTA:
            return False
        return bool(self._navigable_cells(self.world_to_cell(p))[0])

    def snap_point(self, point: np.ndarray) -> np.ndarray:
        """``point`` at floor height if navigable there, else the centre of the nearest navigable cell;
        NaNs when the grid has no navigable cell."""
        p = _as_point(point)
        if not self.navigable.any():
            return np.full(3, np.nan)
        on_floor = np.array([p[0], self.floor_height, p[2]])
        if self.is_navigable(on_floor):
            return on_floor
        rows, cols = self.shape
        r, c = self.world_to_cell(p)[0]
        r, c = int(np.clip(r, 0, rows - 1)), int(np.clip(c, 0, cols - 1))
        nearest = self._nearest[:, r, c]
        return self.cell_to_world(nearest[None])[0]

    def sample_navigable_point(self, rng: np.random.Generator, island: int | None = None) -> np.ndarray:
        """A navigable point drawn uniformly by area (optionally on ``island``), at floor height."""
        mask = self.navigable if island is None else self.islands == island
        cells = np.argwhere(mask)
        if len(cells) == 0:
            where = "the grid" if island is None else f"island {island}"
            raise ValueError(f"no navigable point on {where}")
        cell = cells[rng.integers(len(cells))]
        jitter = (rng.random(2) - 0.5) * self.cell_size * 0.999
        p = self.cell_to_world(cell[None])[0]
        p[0] += jitter[1]
        p[2] += jitter[0]
        return p

    def island_of(self, point: np.ndarray) -> int:
        """The island id of ``point`` (-1 when not navigable)."""
        p = _as_point(point)
        if not self.is_navigable(p):
            return -1
        r, c = self.world_to_cell(p)[0]
        return int(self.islands[r, c])

    def largest_island(self) -> int:
        """The id of the island with the largest area (-1 when nothing is navigable)."""
        return int(np.argmax(self.island_areas)) if len(self.island_areas) else -1

    def straight_line_clear(self, start: np.ndarray, end: np.ndarray) -> bool:
        """Whether every point of the segment start->end (x/z) lies on navigable cells."""
        return topdown.segment_on(self.navigable, _as_point(start), _as_point(end), self.origin, self.cell_size)

    def geodesic_distance(self, start: np.ndarray, goals: np.ndarray) -> float:
        """Walking distance (metres, x/z) from ``start`` to the nearest of ``goals`` ((3,) or (N, 3)).

        Start and goals are snapped to the grid first (as habitat's pathfinder snaps to the navmesh);
        ``math.inf`` when no goal shares the start's island. It is the length of ``shortest_path``:
        exact (Euclidean) when the goal is in a straight line of navigable cells from the start,
        else the taut path around the (radius-inflated) obstacles, within a few centimetres.
        """
        path = self.shortest_path(start, goals)
        return _length(path) if len(path) else math.inf

    def shortest_path(self, start: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Waypoints (K, 3) at floor height from ``start`` to the nearest of ``goals`` ((3,) or (N, 3)),
        all snapped to the grid; (0, 3) when unreachable. Fast marching from the goals, steepest
        descent from the start, then string pulling, so the path is taut around corners."""
        s = self.snap_point(start)
        if not np.isfinite(s).all():
            return np.zeros((0, 3))
        goal_pts = self._reachable_goals(s, goals)
        if len(goal_pts) == 0:
            return np.zeros((0, 3))
        if len(goal_pts) == 1 and self.straight_line_clear(s, goal_pts[0]):
            return np.stack([s, goal_pts[0]])
        cells = _descend(self._distance_field(goal_pts), self.world_to_cell(s)[0], self._goal_cells(goal_pts))
        end_cell = cells[-1]
        g = goal_pts[int(np.argmin(np.abs(self.world_to_cell(goal_pts) - end_cell).sum(axis=1)))]
        pts = np.concatenate([s[None], self.cell_to_world(cells[1:-1]), g[None]])
        # greedy pulling depends on the direction it runs in: pull both ways, keep the shorter
        forward, backward = self._straighten(pts), self._straighten(pts[::-1])[::-1]
        return forward if _length(forward) <= _length(backward) else backward

    # ---------------------------------------------------------------------------------- internals

    def _reachable_goals(self, start: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """``goals`` snapped to the grid (as :meth:`snap_point`, all at once), keeping those on the
        island of the (snapped) ``start``."""
        g = np.atleast_2d(np.asarray(goals, dtype=np.float64))
        if g.shape[1] != 3 or not np.isfinite(g).all():
            raise ValueError(f"goals must be finite (3,) or (N, 3) points, got shape {g.shape}")
        island = self.island_of(start)
        if island < 0:
            return np.zeros((0, 3))
        rows, cols = self.shape
        cells = self.world_to_cell(g)  # (N, 2)
        on_grid = self._navigable_cells(cells)
        clipped = np.stack([np.clip(cells[:, 0], 0, rows - 1), np.clip(cells[:, 1], 0, cols - 1)], axis=1)
        cells = np.where(on_grid[:, None], cells, self._nearest[:, clipped[:, 0], clipped[:, 1]].T)  # (N, 2)
        snapped = np.where(on_grid[:, None], g, self.cell_to_world(cells))  # (N, 3)
        snapped[:, 1] = self.floor_height
        return snapped[self.islands[cells[:, 0], cells[:, 1]] == island]

    def _goal_cells(self, goals: np.ndarray) -> set[tuple[int, int]]:
        return {(int(r), int(c)) for r, c in self.world_to_cell(goals)}

    def _distance_field(self, goals: np.ndarray) -> np.ma.MaskedArray:
        """Fast-marching distance (metres) from the goals over navigable cells; cached per goal set."""
        key = tuple(np.round(goals[:, [0, 2]], 4).ravel().tolist())
        if key in self._fields:
            self._fields.move_to_end(key)
            return self._fields[key]
        rows, cols = self.shape
        centres = self.cell_to_world(np.argwhere(np.ones(self.shape, bool)))[:, [0, 2]]  # (R*C, 2)
        # signed distance to small discs around the goals, so the front starts exactly at them
        radius = 0.75 * self.cell_size
        nearest_goal, _ = cKDTree(goals[:, [0, 2]]).query(centres)  # (R*C,) metres
        phi = (nearest_goal - radius).reshape(rows, cols)
        marched = skfmm.distance(np.ma.MaskedArray(phi, ~self.navigable), dx=self.cell_size)
        inside = phi <= 0  # inside the discs the distance is the Euclidean one
        dist = np.ma.MaskedArray(np.where(inside, phi, marched.data) + radius, mask=np.ma.getmaskarray(marched))
        self._fields[key] = dist
        if len(self._fields) > _FIELD_CACHE_SIZE:
            self._fields.popitem(last=False)
        return dist

    def _field_value(self, field_: np.ma.MaskedArray, point: np.ndarray) -> float:
        """Bilinear interpolation of the field at ``point`` over the unmasked neighbouring centres."""
        fx = (point[0] - self.origin[0]) / self.cell_size - 0.5
        fz = (point[2] - self.origin[1]) / self.cell_size - 0.5
        c0, r0 = int(math.floor(fx)), int(math.floor(fz))
        total, weight = 0.0, 0.0
        rows, cols = self.shape
        for dr in (0, 1):
            for dc in (0, 1):
                r, c = r0 + dr, c0 + dc
                if 0 <= r < rows and 0 <= c < cols and not np.ma.is_masked(field_[r, c]):
                    w = (1 - abs(fz - r)) * (1 - abs(fx - c))
                    total += w * float(field_[r, c])
                    weight += w
        return total / weight if weight > 0 else math.inf

    def _straighten(self, points: np.ndarray) -> np.ndarray:
        """String pulling: from each kept waypoint jump to the farthest later point still in a straight
        navigable line (found by bisection: along a descent path, sight is lost once and for all in
        all but contrived cases; every kept segment is checked), and keep that one."""
        out = [points[0]]
        i, last = 0, len(points) - 1
        while i < last:
            lo, hi = i + 1, last  # points[lo] is seen (adjacent cells); is points[hi]?
            if topdown.segment_on(self.navigable, points[i], points[hi], self.origin, self.cell_size):
                lo = hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if topdown.segment_on(self.navigable, points[i], points[mid], self.origin, self.cell_size):
                    lo = mid
                else:
                    hi = mid
            out.append(points[lo])
            i = lo
        return np.stack(out)


def _length(path: np.ndarray) -> float:
    """Length (metres, x/z) of a polyline (K, 3)."""
    return float(np.linalg.norm(np.diff(path[:, [0, 2]], axis=0), axis=1).sum())


def _as_point(point: np.ndarray) -> np.ndarray:
    p = np.asarray(point, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or not np.isfinite(p).all():
        raise ValueError(f"expected a finite world point (x, y, z) in metres, got {point!r}")
    return p


def _ground_mask(rc, xx: np.ndarray, zz: np.ndarray, floor: float, max_climb: float) -> np.ndarray:
    """Cells with a walkable surface (facing up, by its winding) within [floor - 0.05, floor + max_climb]."""
    n = xx.size
    rays = np.zeros((n, 6), dtype=np.float32)
    rays[:, 0] = xx.ravel()
    rays[:, 1] = floor + max_climb
    rays[:, 2] = zz.ravel()
    rays[:, 4] = -1.0
    hit = rc.cast_rays(o3d.core.Tensor(rays))
    t = hit["t_hit"].numpy()
    normal_y = hit["primitive_normals"].numpy()[:, 1]  # signed: a downward face means the ray started inside a solid
    return ((t <= max_climb + 0.05) & (normal_y >= _UPWARD_NORMAL_Y)).reshape(xx.shape)


def _capsule_clear(rc, x: np.ndarray, z: np.ndarray, floor: float, agent: AgentConfig) -> np.ndarray:
    """Whether a capsule of the agent's radius spanning [floor + max_climb, floor + height] at each
    (x, z) keeps more than ``radius`` from every triangle."""
    r = agent.radius
    lo, hi = floor + agent.max_climb + r, floor + agent.height - r
    n_heights = max(1, int(math.ceil((hi - lo) / (0.35 * r))) + 1)
    heights = np.linspace(lo, hi, n_heights) if hi > lo else np.array([(lo + hi) / 2.0])
    clear = np.ones(len(x), dtype=bool)
    for h in heights:
        pts = np.stack([x, np.full_like(x, h), z], axis=1).astype(np.float32)
        clear &= rc.compute_distance(o3d.core.Tensor(pts)).numpy() > r
    return clear


def _descend(field_: np.ma.MaskedArray, start: np.ndarray, goal_cells: set[tuple[int, int]]) -> np.ndarray:
    """Cells (K, 2) from ``start`` down the field over 8-neighbours until a goal cell (or a minimum)."""
    values = np.ma.filled(field_, np.inf)
    rows, cols = values.shape
    path = [(int(start[0]), int(start[1]))]
    for _ in range(rows * cols):
        r, c = path[-1]
        if (r, c) in goal_cells:
            break
        window = values[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]  # (<=3, <=3) neighbourhood
        k = int(np.argmin(window))
        rr, cc = max(r - 1, 0) + k // window.shape[1], max(c - 1, 0) + k % window.shape[1]
        if values[rr, cc] >= values[r, c]:
            break  # a local minimum: the goal's disc
        path.append((rr, cc))
    return np.array(path)
