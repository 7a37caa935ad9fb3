"""Where a step toward an object ends: the first place within reach of it on the way there.

A decomposition's object step ("find the red mug") is reached at a view point of the object: a
navigable place within ``reach`` metres of the object's box from which it is in view, the first
one met walking from the previous step's waypoint (``agent.language_data``; ObjectNav's success
is judged the same way). The location pointer finds the object (its weights lie on the object's
map points) but the tokens it writes land on the object itself, 1-1.5 m from that view point.
This module reads the view point off the map the 3D-LLM was given:

- :func:`pointed_object`: the box of the object under the pointer's weights, the heaviest
  group of points that the weights link (points within ``link`` metres of each other carrying at
  least ``min_weight`` of the largest weight), so weight split between two places does not put the
  object between them;
- :func:`body_points`: which map points an agent's body meets: anything ``body`` metres above
  the floor (walls below their doors' lintels, furniture);
- :func:`approach_point`: the free cell within ``reach`` of that box and in sight of it (no wall
  between) nearest by walking (a fast marching distance through the free cells, ``scikit-fmm``)
  from where the agent comes from.

Pure functions of map points (N, 3) world metres, Y up; the floor's height is the agent's start's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.plan_raster import PlanRaster


@dataclass(frozen=True)
class ApproachConfig:
    """Metres (x/z unless said): ``reach`` from the object's box within which a step ends (the
    generator's view points lie within 1 m); ``cell`` of the walking grid; ``body`` (low, high)
    heights above the floor whose points block the agent; ``wall_gap``: widest gap between a
    wall's points that is closed (narrower than a door); ``link``/``min_weight`` group the
    pointer's points into objects (module doc)."""

    reach: float = 0.85
    cell: float = 0.1
    body: tuple[float, float] = (0.15, 1.5)
    wall_gap: float = 0.6
    link: float = 0.75
    min_weight: float = 0.01

    def __post_init__(self) -> None:
        if not (np.isfinite(self.wall_gap) and self.wall_gap >= 0):
            raise ValueError(f"ApproachConfig.wall_gap must be metres >= 0, got {self.wall_gap!r}")
        for name in ("reach", "cell", "link"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"ApproachConfig.{name} must be positive metres, got {value!r}")
        if not (len(self.body) == 2 and 0 <= self.body[0] < self.body[1]):
            raise ValueError(f"ApproachConfig.body must be (low, high) metres with 0 <= low < high, got {self.body!r}")
        if not 0 <= self.min_weight <= 1:
            raise ValueError(f"ApproachConfig.min_weight must lie in [0, 1], got {self.min_weight!r}")


def pointed_object(points: np.ndarray, weights: np.ndarray, config: ApproachConfig = ApproachConfig()) -> tuple[np.ndarray, np.ndarray] | None:
    """The box (lower (3,), upper (3,), world metres) of the heaviest group of ``points`` (N, 3)
    under the pointer's ``weights`` (N,) (module doc); None when the weights are all zero."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or weights.shape != (len(points),):
        raise ValueError(f"pointed_object needs points (N, 3) and weights (N,), got {points.shape} and {weights.shape}")
    if not float(weights.max(initial=0.0)) > 0:
        return None
    kept = np.flatnonzero(weights >= config.min_weight * weights.max())  # (K,)
    pairs = cKDTree(points[kept]).query_pairs(config.link, output_type="ndarray")  # (E, 2)
    links = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(kept), len(kept)))
    _, group = connected_components(links, directed=False)  # (K,)
    heaviest = kept[group == np.argmax(np.bincount(group, weights=weights[kept]))]
    return points[heaviest].min(axis=0), points[heaviest].max(axis=0)


def body_points(points: np.ndarray, floor: float, config: ApproachConfig = ApproachConfig()) -> np.ndarray:
    """(N,) bool: the ``points`` (N, 3) an agent standing on the floor at height ``floor`` (world Y)
    would meet: those ``config.body`` metres above the floor (a wall's, a table's; not a lintel's
    over a door, nor a lamp's hanging above)."""
    height = np.asarray(points, dtype=np.float64)[:, 1] - floor
    return (height > config.body[0]) & (height < config.body[1])


def approach_point(
    points: np.ndarray,
    blocked: np.ndarray,
    walls: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    start: np.ndarray,
    config: ApproachConfig = ApproachConfig(),
) -> np.ndarray | None:
    """The x/z centre (2,) of the free cell within ``config.reach`` of the box ``lower``-``upper``
    (x/z, world metres), in sight of it, that is nearest by walking from ``start`` (3,); None when
    walking reaches no such cell.

    ``blocked`` (N,) bool marks the ``points`` (N, 3) at body height (:func:`body_points`); those
    of them that are also ``walls`` (N,) bool draw the walls, with gaps up to ``config.wall_gap``
    between their points closed (the map's sample of a wall is sparse; a door is wider). A cell is
    free when neither is within a cell of it; the cells around ``start`` are free (the agent stands
    there). In sight: the straight line to the box's nearest point crosses no wall cell but for its
    last two cells (a picture hangs on its wall)."""
    import skfmm
    from scipy import ndimage

    points = np.asarray(points, dtype=np.float64)
    blocked = np.asarray(blocked, dtype=bool)
    begin = np.asarray(start, dtype=np.float64)[[0, 2]]
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    plan = points[:, [0, 2]]
    extent = np.vstack([plan, begin, lower, upper])
    margin = config.reach + 2 * config.cell
    body = PlanRaster.of(extent, plan[blocked], config.cell, grow=1, margin=margin)
    bare = PlanRaster.of(extent, plan[blocked & np.asarray(walls, dtype=bool)], config.cell, grow=0, margin=margin)
    gap = int(round(config.wall_gap / (2 * config.cell)))  # cells the closing grows by
    square = np.ones((2 * gap + 1,) * 2, dtype=bool)
    closed = ndimage.binary_closing(np.pad(bare.marked, gap), square)[gap : gap + bare.marked.shape[0], gap : gap + bare.marked.shape[1]] if gap else bare.marked
    walled = PlanRaster(ndimage.binary_dilation(closed, np.ones((3, 3), dtype=bool)), bare.origin, bare.cell)  # (X, Z)
    free = ~(body.marked | walled.marked)  # (X, Z)
    i, j = body.index(begin)
    free[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2] = True
    source = np.ones(free.shape)
    source[i, j] = -1.0  # the zero level set around the start's cell
    walked = np.ma.filled(skfmm.distance(np.ma.MaskedArray(source, ~free), dx=body.cell), np.inf)  # (X, Z) metres
    centres = body.centres()  # (X, Z, 2)
    nearest = np.clip(centres, lower, upper)  # (X, Z, 2) the box's point nearest each cell
    near = np.hypot(*np.moveaxis(centres - nearest, -1, 0)) <= config.reach
    cost = np.where(near & free & np.isfinite(walked), walked, np.inf)
    for flat in np.argsort(cost, axis=None):
        cell = np.unravel_index(int(flat), cost.shape)
        if not np.isfinite(cost[cell]):
            return None
        if _in_sight(walled, centres[cell], nearest[cell]):
            return centres[cell]
    return None


def _in_sight(walls: PlanRaster, stand: np.ndarray, target: np.ndarray) -> bool:
    """Whether the x/z segment ``stand`` (2,) -> ``target`` (2,) crosses no marked cell of ``walls``,
    leaving out its last two cells."""
    length = float(np.hypot(*(target - stand)))
    if length <= 2 * walls.cell:
        return True
    t = np.arange(0.0, length - 2 * walls.cell, walls.cell / 2) / length  # (S,)
    cells = walls.index(stand + t[:, None] * (target - stand))  # (S, 2)
    return not bool(walls.marked[cells[:, 0], cells[:, 1]].any())
