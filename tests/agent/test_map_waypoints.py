"""Waypoints read off the map around the points the pointer chose: a room's middle between its
walls, and the first place within reach of an object on the way there."""

import numpy as np
import pytest

from agent.approach_points import ApproachConfig
from agent.decomposition import Step
from agent.map_waypoints import box_from_map, read_waypoints, waypoints_from_map
from agent.room_extent import wall_points
from tests.agent.two_rooms import CABINET, ROOM_B, WALL, two_rooms

START = np.array([1.0, 0.0, 0.5])  # in room A


def _steps():
    return [
        Step(1, "go to", "office", np.array([6.8, 0.05, 2.9]), (60, 2, 60)),
        Step(2, "find", "cabinet", np.array([4.7, 0.05, 0.5]), (40, 2, 10)),
    ]


def _weights(points, cabinet):
    in_b = np.flatnonzero((points[:, 0] > 5.5) & (points[:, 0] < 6.8) & (points[:, 1] < 0.01))  # floor of room B's east half
    room = np.zeros(len(points))
    room[in_b] = 1.0 / len(in_b)
    obj = np.where(cabinet, 1.0, 0.0) / cabinet.sum()
    return [room, obj]


def test_room_step_goes_to_the_middle_of_its_walls_and_object_step_to_where_the_object_is_first_in_reach():
    points, features, cabinet = two_rooms()
    walls = wall_points(features, WALL)
    steps, notes = waypoints_from_map(_steps(), _weights(points, cabinet), points, walls, START)
    middle = (np.array(ROOM_B[0]) + np.array(ROOM_B[1])) / 2
    assert np.allclose(steps[0].waypoint[[0, 2]], middle, atol=0.15) and steps[0].waypoint[1] == 0.05
    # from the middle of room B the cabinet (south-west corner of room B) is reached from the north-east
    lower, upper = np.array(CABINET[0]), np.array(CABINET[1])
    at = steps[1].waypoint[[0, 2]]
    outside = np.maximum(np.maximum(lower - at, at - upper), 0.0)
    assert np.hypot(*outside) <= ApproachConfig().reach and at[0] > 4.05 and at[1] > upper[1]
    assert len(notes) == 2 and "walls" in notes[0] and "the way to the pointed object" in notes[1]
    assert [s.bins for s in steps] == [s.bins for s in _steps()]


def test_weights_that_do_not_match_the_steps_change_nothing_and_sources_are_checked():
    points, features, cabinet = two_rooms()
    walls = wall_points(features, WALL)
    weights = _weights(points, cabinet)
    assert waypoints_from_map(_steps(), weights[:1], points, walls, START) == (_steps(), [])
    assert read_waypoints("tokens", _steps(), weights, points, walls, START) == (_steps(), [])
    moved, notes = read_waypoints("pointer", _steps(), weights, points, None, None)  # room step only, at the weights' mean
    assert np.allclose(moved[0].waypoint[[0, 2]], (weights[0] @ points)[[0, 2]]) and np.array_equal(moved[1].waypoint, _steps()[1].waypoint)
    with pytest.raises(ValueError, match="waypoint source"):
        read_waypoints("centre", _steps(), weights, points, walls, START)


def test_a_written_room_box_is_read_from_the_walls_around_the_pointed_points_and_an_objects_kept():
    points, features, cabinet = two_rooms()
    walls = wall_points(features, WALL)
    weights = _weights(points, cabinet)
    written = np.array([5.0, 0.0, 0.2, 9.0, 2.5, 4.5])  # a room-sized box, off room B
    box, note = box_from_map(written, [weights[0], weights[0]], points, walls)
    assert np.allclose(box[[0, 2]], ROOM_B[0], atol=0.15) and np.allclose(box[[3, 5]], ROOM_B[1], atol=0.15)
    assert (box[1], box[4]) == (points[:, 1].min(), points[:, 1].max()) and "walls" in note
    small = np.array([4.1, 0.0, 0.1, 4.6, 0.9, 0.6])  # an object's box stays as written
    assert box_from_map(small, [weights[0]], points, walls) == (small, None)
    assert box_from_map(None, [weights[0]], points, walls) == (None, None)  # nothing written to read
    kept, note = box_from_map(written, [np.zeros(len(points))], points, walls)  # no weight anywhere
    assert kept is written and note is None
