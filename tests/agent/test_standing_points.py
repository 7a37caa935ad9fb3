"""Standing points on the agent's occupancy grid: clear of obstacles, inside a room, in view of a target."""

import math

import numpy as np
import pytest

from agent.standing_points import clear_points, in_sight, nearest_clear_point, viewing_distance, viewing_point
from perception.occupancy import FREE, OCCUPIED, OccupancyGrid


def two_rooms() -> OccupancyGrid:
    """4 m x 4 m at 5 cm (x, z in [0, 4)): free, split by a wall along x = 2 with a door at z in [3, 3.5)."""
    cells = np.full((80, 80), FREE, dtype=np.int8)
    cells[:, 40] = OCCUPIED  # the wall: column 40 = x in [2.0, 2.05)
    cells[60:70, 40] = FREE  # the door
    return OccupancyGrid(cells, np.zeros(2), 0.05, 0.0, (0.1, 1.0))


def test_clear_points_keep_the_clearance_from_obstacles():
    grid = two_rooms()
    points = clear_points(grid, 0.3)
    away_from_door = points[(points[:, 2] < 2.7) | (points[:, 2] > 3.8)]
    assert len(away_from_door) > 0 and np.all(np.abs(away_from_door[:, 0] - 2.025) >= 0.3 - 0.05)
    assert len(clear_points(OccupancyGrid(np.full((4, 4), OCCUPIED, dtype=np.int8), np.zeros(2), 0.1, 0.0, (0.1, 1.0)), 0.1)) == 0


def test_nearest_clear_point_moves_off_the_obstacle_and_respects_the_limit():
    grid = two_rooms()
    stand = nearest_clear_point(grid, np.array([1.95, 0.0, 1.0]), 0.3, 1.0)
    assert stand is not None and stand[0] < 2.0 - 0.25 and abs(stand[2] - 1.0) < 0.05  # on the same side of the wall
    assert nearest_clear_point(grid, np.array([10.0, 0.0, 1.0]), 0.3, 1.0) is None


def test_viewing_distance_grows_for_low_and_high_targets():
    vfov = math.radians(79.0)
    level = viewing_distance(0.88, 0.88, vfov)
    low = viewing_distance(0.45, 0.88, vfov)
    assert level == pytest.approx(0.45) and 0.45 < low < 0.85
    assert low == pytest.approx((0.88 - 0.45) / math.tan(vfov / 2) + 0.1)
    assert viewing_distance(2.5, 0.88, vfov) == pytest.approx(0.85)


def test_a_target_behind_the_wall_is_not_in_sight():
    grid = two_rooms()
    target = np.array([2.35, 0.5, 1.0])  # by the wall, in the right-hand room
    assert in_sight(grid, np.array([2.8, 0.0, 1.0]), target)
    assert not in_sight(grid, np.array([1.4, 0.0, 1.0]), target)


def test_the_viewing_point_is_on_the_targets_side_of_the_wall():
    grid = two_rooms()
    target = np.array([2.35, 0.5, 1.0])
    # the model's waypoint lies on the wrong side of the wall: the point chosen is still in sight
    stand = viewing_point(grid, target, np.array([1.0, 0.0, 1.0]), 0.6, 0.25)
    assert stand is not None and stand[0] > 2.05 and in_sight(grid, stand, target)
    assert abs(np.hypot(*(stand - target)[[0, 2]]) - 0.6) <= 0.1 + 1e-9
    assert viewing_point(grid, target, np.array([1.0, 0.0, 1.0]), 10.0, 0.25) is None


def test_the_nearest_clear_point_is_not_across_a_wall():
    grid = two_rooms()
    cells = grid.cells.copy()
    cells[14:26, 50:52] = OCCUPIED  # a cupboard at x in [2.5, 2.6), z in [0.7, 1.3): no clear cell right of the point
    grid = OccupancyGrid(cells, grid.origin, grid.resolution, grid.floor_height, grid.height_band)
    point = np.array([2.2, 0.0, 1.0])
    stand = nearest_clear_point(grid, point, 0.3, 2.0)
    assert stand is not None and stand[0] > 2.05 and in_sight(grid, stand, point)  # beside the cupboard, not behind the wall
    across = clear_points(grid, 0.3)
    assert np.hypot(*(across - point)[:, [0, 2]].T).min() < np.hypot(*(stand - point)[[0, 2]])  # a nearer cell lies across the wall
