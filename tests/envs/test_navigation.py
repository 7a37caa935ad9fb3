"""NavGrid against hand-built scenes whose distances are known by hand."""

import math

import numpy as np
import pytest

from envs.navigation import NavGrid, estimate_floor_height
from envs.simulator import AgentConfig
from tests.envs.scenes import divided_room, sealed_rooms

R = AgentConfig().radius


@pytest.fixture(scope="module")
def grid() -> NavGrid:
    return NavGrid.from_scene(divided_room())


def around_wall_end(a, b, corner_left, corner_right, r):
    """Length of the shortest path from a to b (both below z = corner z) over the top of a wall
    whose top corners are corner_left/right, inflated by r: tangent + arc + flat + arc + tangent."""
    def half(p, c):
        d = math.dist(p, c)
        tangent = math.sqrt(d * d - r * r)
        theta_p = math.atan2(p[1] - c[1], -abs(p[0] - c[0])) % (2 * math.pi)  # p seen from c, on the far side
        tangent_angle = theta_p - math.acos(r / d)  # where the tangent from p touches the circle
        return tangent + (tangent_angle - math.pi / 2) * r  # + the arc up to the circle's top
    return half(a, corner_left) + (corner_right[0] - corner_left[0]) + half(b, corner_right)


def test_floor_height_is_the_floor_top():
    assert estimate_floor_height(divided_room()) == pytest.approx(0.0, abs=1e-6)


def test_navigability_respects_the_wall_and_the_agent_radius(grid):
    assert grid.is_navigable(np.array([1.0, 0.0, 1.0]))
    assert grid.is_navigable(np.array([5.0, 0.0, 1.0]))
    assert not grid.is_navigable(np.array([3.0, 0.0, 1.0]))  # inside the wall
    assert not grid.is_navigable(np.array([3.05 + R - 0.06, 0.0, 1.0]))  # body would touch the wall
    assert grid.is_navigable(np.array([3.05 + R + 0.06, 0.0, 1.0]))
    assert not grid.is_navigable(np.array([0.05, 0.0, 2.0]))  # body would hang over the floor's edge
    assert not grid.is_navigable(np.array([7.0, 0.0, 2.0]))  # off the floor
    assert not grid.is_navigable(np.array([1.0, 1.5, 1.0]))  # far above the floor


def test_geodesic_distance_is_euclidean_in_line_of_sight(grid):
    a, b = np.array([1.0, 0.0, 1.0]), np.array([2.0, 0.0, 2.5])
    assert grid.geodesic_distance(a, b) == pytest.approx(math.hypot(1.0, 1.5), abs=1e-9)


def test_geodesic_distance_goes_around_the_wall(grid):
    a, b = np.array([1.0, 0.0, 1.0]), np.array([5.0, 0.0, 1.0])
    expected = around_wall_end((1.0, 1.0), (5.0, 1.0), (2.95, 3.0), (3.05, 3.0), R)
    assert expected == pytest.approx(5.985, abs=0.01)  # the hand computation itself
    assert grid.geodesic_distance(a, b) == pytest.approx(expected, abs=0.08)
    # symmetric, and the nearest of several goals wins
    assert grid.geodesic_distance(b, a) == pytest.approx(expected, abs=0.08)
    near = np.array([1.5, 0.0, 1.0])
    assert grid.geodesic_distance(a, np.stack([b, near])) == pytest.approx(0.5, abs=0.03)


def test_shortest_path_is_navigable_and_as_long_as_the_geodesic(grid):
    a, b = np.array([1.0, 0.0, 1.0]), np.array([5.0, 0.0, 1.0])
    path = grid.shortest_path(a, b)
    assert np.allclose(path[0], a) and np.allclose(path[-1], b)
    for p, q in zip(path[:-1], path[1:]):
        assert grid.straight_line_clear(p, q)
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    assert length == pytest.approx(grid.geodesic_distance(a, b), abs=0.15)
    assert max(p[2] for p in path) > 3.0  # it goes through the gap


def test_unreachable_goal_is_inf_and_islands_split():
    sealed = NavGrid.from_scene(sealed_rooms())
    a, b = np.array([1.0, 0.0, 1.0]), np.array([5.0, 0.0, 1.0])
    assert sealed.geodesic_distance(a, b) == math.inf
    assert len(sealed.shortest_path(a, b)) == 0
    assert sealed.island_of(a) != sealed.island_of(b) and sealed.island_of(a) >= 0
    assert len(sealed.island_areas) == 2
    assert sealed.island_of(np.array([3.0, 0.0, 1.0])) == -1


def test_snap_and_sample(grid):
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = grid.sample_navigable_point(rng)
        assert grid.is_navigable(p)
        assert np.allclose(grid.snap_point(p), p)
    snapped = grid.snap_point(np.array([3.0, 0.7, 1.0]))  # inside the wall
    assert grid.is_navigable(snapped)
    assert abs(snapped[0] - 3.0) < 0.05 + 0.05 + R + 0.05


def test_bad_points_raise(grid):
    with pytest.raises(ValueError, match="finite world point"):
        grid.is_navigable(np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="finite world point"):
        grid.geodesic_distance(np.array([1.0, 0.0]), np.array([1.0, 0.0, 1.0]))
