"""A room's box on the map, found from the walls around a point inside it.

The location pointer says *which* room a step means (its weight lies on that room's points, 9 times
in 10 on held-out houses) but not where its middle is: the weight sits on part of the room, and the
weighted mean of those points is about 1.5 m from the room's centre (``docs/planner_ablations.md``).
The map itself shows where the room ends. Its points whose features read as wall (cosine to the
embedding of ``WALL_PHRASE`` at least ``RoomBoxConfig.wall_cosine``), seen from above (x/z), draw
the walls as lines; rays cast from a point inside the room along +x, -x, +z and -z stop at them.
Each side's position is a low quantile of the distances rays spread across the room travel, so
the rays that leave through a door or a gap between sparse points (rays only ever err long) do not
move it; wall points with too few others near them are not walls. The box is re-centred and the
rays cast again (``rounds`` times).

Pure functions of map points (N, 3) world metres (Y up) and features; rooms are taken as boxes
aligned with the world's x/z axes, as the procedural houses' are (``envs.house``). In a room of
another shape the box is the axis-aligned one the walls around the point allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.plan_raster import PlanRaster
from perception.maps import cosine_relevance

WALL_PHRASE = "wall"
"""The text whose embedding (by the maps' sentence encoder) marks a map point as wall."""


@dataclass(frozen=True)
class RoomBoxConfig:
    """How walls are read from map points and rays cast between them (metres).

    - ``cell``: side of the x/z raster the wall points are drawn in; each wall cell is grown by one
      cell on every side, which joins points up to ``2 * cell`` apart along a wall.
    - ``wall_cosine``: least cosine of a point's feature to the wall embedding.
    - ``rays``: rays per side, spread over ``spread`` of the box's width across that side.
    - ``rounds``: times the box is re-centred and its sides found again.
    - ``start_half``: half-width (x and z) of the box the first rays spread over.
    - ``quantile``: which quantile of a side's rays' distances to their walls places the side; below
      the median, as rays only err long (through a door, or a gap between sparse points).
    - ``neighbours``: fewest other wall points within three cells that a wall point needs to count.
    """

    cell: float = 0.1
    wall_cosine: float = 0.8
    rays: int = 9
    spread: float = 0.8
    rounds: int = 3
    start_half: float = 1.0
    quantile: float = 0.35
    neighbours: int = 2

    def __post_init__(self) -> None:
        for name in ("cell", "spread", "start_half"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"RoomBoxConfig.{name} must be a positive number, got {value!r}")
        if not -1.0 <= self.wall_cosine <= 1.0:
            raise ValueError(f"RoomBoxConfig.wall_cosine must lie in [-1, 1], got {self.wall_cosine!r}")
        if not 0.0 <= self.quantile <= 1.0:
            raise ValueError(f"RoomBoxConfig.quantile must lie in [0, 1], got {self.quantile!r}")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ValueError(f"RoomBoxConfig.neighbours must be an integer >= 0, got {self.neighbours!r}")
        for name in ("rays", "rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RoomBoxConfig.{name} must be an integer >= 1, got {value!r}")


def wall_points(features: np.ndarray, wall: np.ndarray, min_cosine: float = RoomBoxConfig.wall_cosine) -> np.ndarray:
    """(N,) bool: which of the map's point features (N, C) have cosine at least ``min_cosine`` to
    ``wall`` (C,), the embedding of ``WALL_PHRASE`` in the features' space."""
    features = np.asarray(features, dtype=np.float32)
    wall = np.asarray(wall, dtype=np.float32).reshape(-1)
    if features.ndim != 2 or features.shape[1] != wall.shape[0]:
        raise ValueError(f"wall_points needs features (N, C) and a wall embedding (C,), got {features.shape} and {wall.shape}")
    return cosine_relevance(features, wall) >= min_cosine


def room_box(points: np.ndarray, walls: np.ndarray, inside: np.ndarray, config: RoomBoxConfig = RoomBoxConfig()) -> tuple[np.ndarray, np.ndarray] | None:
    """The x/z box (lower (2,), upper (2,), world metres) of the room around ``inside`` (3,) whose
    walls are the map ``points`` (N, 3) marked by ``walls`` (N,) bool (module doc); None when no
    point is marked. A side no ray finds a wall on stays ``start_half`` (then the box's half-width)
    from the centre."""
    points = np.asarray(points, dtype=np.float64)
    walls = np.asarray(walls, dtype=bool)
    if points.ndim != 2 or points.shape[1] != 3 or walls.shape != (len(points),):
        raise ValueError(f"room_box needs points (N, 3) and walls (N,), got {points.shape} and {walls.shape}")
    plan = points[:, [0, 2]]  # (N, 2) x/z
    walls = _in_lines(plan, walls, config)
    if not walls.any():
        return None
    raster = PlanRaster.of(plan, plan[walls], config.cell, grow=1)

    centre = np.asarray(inside, dtype=np.float64)[[0, 2]]  # (2,) x/z
    half = np.full(2, config.start_half)
    for _ in range(config.rounds):
        sides = np.empty((2, 2))  # (lower/upper, x/z)
        for axis in (0, 1):
            across = 1 - axis
            offsets = np.linspace(-config.spread, config.spread, config.rays) * half[across]  # (R,)
            for k, sign in enumerate((-1, 1)):
                hits = [h for o in offsets if (h := _wall_hit(raster, centre, axis, sign, o)) is not None]
                sides[k, axis] = centre[axis] + sign * float(np.quantile(sign * (np.asarray(hits) - centre[axis]), config.quantile)) if hits else centre[axis] + sign * half[axis]
        lower, upper = sides[0], sides[1]
        centre = (lower + upper) / 2
        half = np.maximum((upper - lower) / 2, config.cell)
    return lower, upper


def _in_lines(plan: np.ndarray, walls: np.ndarray, config: RoomBoxConfig) -> np.ndarray:
    """``walls`` (N,) bool less the wall points (x/z ``plan`` (N, 2)) with fewer than
    ``config.neighbours`` other wall points within three cells: a wall is a line of points, a lone
    point whose feature reads as wall is not one."""
    if config.neighbours == 0 or not walls.any():
        return walls
    from scipy.spatial import cKDTree

    chosen = plan[walls]  # (W, 2)
    near = cKDTree(chosen).query_ball_point(chosen, 3 * config.cell, return_length=True) - 1  # (W,) others within reach
    kept = walls.copy()
    kept[np.flatnonzero(walls)[near < config.neighbours]] = False
    return kept


def _wall_hit(raster: PlanRaster, start: np.ndarray, axis: int, sign: int, offset: float) -> float | None:
    """The world coordinate along ``axis`` of the first wall a ray from ``start`` (2,) moved by
    ``offset`` across meets going ``sign`` (+1/-1) along ``axis``: the face of the wall cell it
    enters, less the one cell the raster grew by; None when it meets none or starts off the raster."""
    at = start.copy()
    at[1 - axis] += offset
    ij = raster.index(at)
    if not raster.on_grid(ij):
        return None
    line = raster.marked[:, ij[1]] if axis == 0 else raster.marked[ij[0], :]  # cells along the ray's axis
    s = int(ij[axis])
    ahead = line[s:] if sign > 0 else line[s::-1]
    found = np.flatnonzero(ahead)
    if len(found) == 0:
        return None
    first = s + sign * int(found[0])  # the first wall cell
    face = raster.origin[axis] + (first + (0 if sign > 0 else 1)) * raster.cell  # its near face
    return face + sign * raster.cell  # the grown cell's face -> the wall points' own cell
