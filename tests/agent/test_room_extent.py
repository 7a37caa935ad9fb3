"""The room box the map's walls bound around a point inside it."""

import numpy as np
import pytest

from agent.room_extent import RoomBoxConfig, room_box, wall_points
from tests.agent.two_rooms import ROOM_A, ROOM_B, WALL, two_rooms


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("room, inside", [(ROOM_A, (0.7, 0.0, 2.6)), (ROOM_A, (3.5, 0.0, 0.4)), (ROOM_B, (6.5, 0.0, 2.5)), (ROOM_B, (4.3, 0.0, 2.5))])
def test_the_box_is_the_room_around_the_point_through_doors_and_sparse_walls(seed, room, inside):
    """From anywhere in a room, near a corner or in the doorway's path, the box is the room's (its
    walls' lines, within 0.15 m): rays through the door or between sparse points do not move a side."""
    points, features, _ = two_rooms(seed)
    box = room_box(points, wall_points(features, WALL), np.array(inside))
    assert box is not None
    assert np.allclose(box[0], room[0], atol=0.15) and np.allclose(box[1], room[1], atol=0.15)


def test_wall_points_are_those_near_the_wall_embedding_and_no_walls_give_no_box():
    points, features, _ = two_rooms()
    walls = wall_points(features, 3.0 * WALL)  # the embedding's length does not matter
    assert walls.sum() > 100 and not walls[-190:].any()  # floor and cabinet points are not walls
    assert not wall_points(features, WALL, min_cosine=1.01).any()
    assert room_box(points, np.zeros(len(points), dtype=bool), np.array([1.0, 0.0, 1.0])) is None


def test_bad_shapes_and_settings_are_named():
    points, features, _ = two_rooms()
    with pytest.raises(ValueError, match="points \\(N, 3\\) and walls \\(N,\\)"):
        room_box(points[:, :2], np.ones(len(points), dtype=bool), np.zeros(3))
    with pytest.raises(ValueError, match="wall embedding"):
        wall_points(features, WALL[:3])
    with pytest.raises(ValueError, match="rays"):
        RoomBoxConfig(rays=0)
    with pytest.raises(ValueError, match="cell"):
        RoomBoxConfig(cell=0.0)
