"""Poses, quaternions [x, y, z, w] and intrinsics."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from envs.types import CameraIntrinsics, Pose, quat_from_matrix, quat_to_matrix

angles = st.floats(-math.pi, math.pi, allow_nan=False)


def test_zero_rotation_faces_minus_z():
    np.testing.assert_allclose(Pose(np.zeros(3)).forward, [0, 0, -1])


def test_positive_yaw_turns_left():
    # a quarter turn left from facing -Z faces -X
    np.testing.assert_allclose(Pose.from_yaw(np.zeros(3), math.pi / 2).forward, [-1, 0, 0], atol=1e-12)


@given(angles)
def test_yaw_round_trip(yaw):
    assert Pose.from_yaw(np.zeros(3), yaw).yaw == pytest.approx(yaw, abs=1e-9) or abs(abs(yaw) - math.pi) < 1e-9


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1))
def test_quaternion_matrix_round_trip(q):
    q = np.array(q) / np.linalg.norm(q)
    back = quat_from_matrix(quat_to_matrix(q))
    assert np.allclose(back, q, atol=1e-8) or np.allclose(back, -q, atol=1e-8)


def test_pose_inverse_and_compose():
    p = Pose(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.7, -0.2, 0.6]))
    ident = p.compose(p.inverse())
    np.testing.assert_allclose(ident.matrix(), np.eye(4), atol=1e-12)
    pts = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(p.transform_points(pts), (p.matrix() @ np.c_[pts, np.ones(5)].T).T[:, :3])


def test_intrinsics_from_hfov():
    k = CameraIntrinsics.from_hfov_degrees(256, 256, 90.0)
    assert k.fx == pytest.approx(128.0)
    rays = k.ray_directions()
    assert rays.shape == (256, 256, 3) and (rays[..., 2] == -1).all()
    assert rays[0, 0, 1] > 0 and rays[0, 0, 0] < 0  # row 0 is the top, column 0 the left
    assert k.vfov == pytest.approx(k.hfov)  # square image, square pixels
    wide = CameraIntrinsics.from_hfov_degrees(64, 48, 70.0)
    assert wide.vfov == pytest.approx(2.0 * np.arctan(np.tan(np.radians(35.0)) * 48 / 64))
    pixels = np.array([0, 63, 64, 1000, 64 * 48 - 1])
    np.testing.assert_array_equal(wide.pixel_ray_directions(pixels), wide.ray_directions().reshape(-1, 3)[pixels])


@pytest.mark.parametrize("bad", [dict(position=[0, np.nan, 0]), dict(position=[0, 0]), dict(position=[0, 0, 0], rotation=[0, 0, 0, 0])])
def test_bad_poses_raise(bad):
    with pytest.raises(ValueError):
        Pose(**bad)


def test_bad_intrinsics_raise():
    with pytest.raises(ValueError, match="hfov"):
        CameraIntrinsics(64, 64, 4.0)
    with pytest.raises(ValueError, match="size"):
        CameraIntrinsics(0, 64, 1.0)
