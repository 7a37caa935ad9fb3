"""Where an object step ends: the pointed object's box, the points that block an agent, and the first
place within reach of the object on the way there."""

import numpy as np
import pytest

from agent.approach_points import ApproachConfig, approach_point, body_points, pointed_object
from agent.room_extent import wall_points
from tests.agent.two_rooms import CABINET, WALL, two_rooms


def _box_distance(xz, lower, upper):
    return float(np.hypot(*np.maximum(np.maximum(np.asarray(lower) - xz, xz - np.asarray(upper)), 0.0)))


def test_the_object_is_the_heaviest_linked_group_not_the_mean_of_all_weight():
    points = np.array([[0.0, 0.5, 0.0], [0.3, 0.5, 0.2], [0.6, 0.5, 0.1], [5.0, 0.5, 5.0], [5.4, 0.5, 5.2], [9.0, 0.5, 9.0]])
    weights = np.array([0.2, 0.2, 0.2, 0.19, 0.19, 0.001])
    lower, upper = pointed_object(points, weights)
    assert np.allclose(lower, [0.0, 0.5, 0.0]) and np.allclose(upper, [0.6, 0.5, 0.2])
    weights[3:5] = 0.31  # the other group is heavier now
    lower, upper = pointed_object(points, weights)
    assert np.allclose(lower, [5.0, 0.5, 5.0]) and np.allclose(upper, [5.4, 0.5, 5.2])
    assert pointed_object(points, np.zeros(6)) is None
    with pytest.raises(ValueError, match="weights \\(N,\\)"):
        pointed_object(points, weights[:3])


def test_body_points_are_those_at_body_height_above_the_floor():
    points = np.array([[0, h, 0] for h in (1.0, 1.1, 1.5, 2.4, 3.0, 3.6)], dtype=float)
    assert body_points(points, floor=1.0).tolist() == [False, False, True, True, False, False]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_approach_comes_through_the_door_not_across_the_wall(seed):
    """From room A, the cabinet in room B behind the shared wall is reached through the door at the
    wall's north end: the step ends in room B, north of the cabinet, within reach of it. The straight
    line from the start would end on room A's side of the wall."""
    points, features, cabinet = two_rooms(seed)
    walls = wall_points(features, WALL)
    blocked = body_points(points, floor=0.0)
    lower, upper = np.array(CABINET[0]), np.array(CABINET[1])
    config = ApproachConfig()
    at = approach_point(points, blocked, walls, lower, upper, np.array([3.5, 0.0, 0.5]), config)
    assert at is not None
    assert _box_distance(at, lower, upper) <= config.reach
    assert at[0] > 4.05 and at[1] > upper[1]  # in room B, on the side the door is
    # walking from inside room B, south-east of the cabinet, the step ends on that side
    at = approach_point(points, blocked, walls, lower, upper, np.array([6.5, 0.0, 0.4]), config)
    assert at is not None and at[0] > upper[0] and _box_distance(at, lower, upper) <= config.reach


def test_no_way_to_the_object_gives_none():
    points, features, _ = two_rooms()
    ring = np.array([[1.0 + 0.6 * np.cos(a), 1.0, 1.0 + 0.6 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 80)])
    walls = np.concatenate([wall_points(features, WALL), np.zeros(len(ring), dtype=bool)])
    blocked = np.concatenate([body_points(points, floor=0.0), np.ones(len(ring), dtype=bool)])
    start = np.array([1.0, 0.0, 1.0])  # inside the ring of points
    assert approach_point(np.vstack([points, ring]), blocked, walls, np.array(CABINET[0]), np.array(CABINET[1]), start) is None


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="reach"):
        ApproachConfig(reach=0.0)
    with pytest.raises(ValueError, match="body"):
        ApproachConfig(body=(1.5, 0.15))
    with pytest.raises(ValueError, match="wall_gap"):
        ApproachConfig(wall_gap=-0.1)
