"""map_instances: a category's map points split into one cluster per object."""

import numpy as np
import pytest

from perception.map_instances import map_instances


def blob(center, n, rng, spread=0.04):
    return np.asarray(center) + rng.uniform(-spread, spread, size=(n, 3))


def test_two_objects_a_metre_apart_are_two_instances_largest_first_and_strays_dropped():
    rng = np.random.default_rng(0)
    small, big = blob([1.0, 0.5, 1.0], 30, rng), blob([2.0, 0.5, 1.0], 80, rng)
    stray = np.array([[5.0, 0.5, 5.0]])
    points = np.concatenate([small, big, stray])
    colors = np.concatenate([np.full((30, 3), 200), np.full((80, 3), 20), np.full((1, 3), 90)]).astype(np.uint8)
    found = map_instances(points, colors)
    assert [len(i.points) for i in found] == [80, 30]
    assert np.all(found[0].colors == 20) and np.all(found[1].colors == 200)
    point, distance = found[1].nearest_xz(np.array([0.0, 0.0, 1.0]))
    assert distance == pytest.approx(np.min(np.hypot(small[:, 0], small[:, 2] - 1.0)))
    assert np.any(np.all(small == point, axis=1))


def test_no_points_and_bad_shapes():
    assert map_instances(np.zeros((0, 3)), np.zeros((0, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="points"):
        map_instances(np.zeros((4, 2)), np.zeros((4, 3), np.uint8))
