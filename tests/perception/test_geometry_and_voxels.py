"""Back-projection against known geometry, voxel averaging and occupancy rasterisation."""

import math

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.simulator import SensorConfig
from envs.types import CameraIntrinsics, Frame, Pose
from perception.geometry import backproject, valid_depth_mask
from perception.occupancy import FREE, OCCUPIED, UNKNOWN, occupancy_from_points
from perception.voxels import VoxelSums, key_centres, voxel_keys
from tests.envs.scenes import DIVIDER_ID, FLOOR_ID, divided_room


@pytest.fixture(scope="module")
def sim():
    return EmbeddedSimulator(divided_room(), sensor_config=SensorConfig(width=64, height=48, hfov_deg=90.0))


def test_backprojected_wall_and_floor_lie_on_their_planes(sim):
    frame = sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), -math.pi / 2))  # facing +X, the wall at x = 2.95
    lifted = backproject(frame)
    ids = frame.semantic.reshape(-1)[lifted.pixels]
    wall, floor = lifted.points[ids == DIVIDER_ID], lifted.points[ids == FLOOR_ID]
    assert len(wall) > 100 and len(floor) > 100
    np.testing.assert_allclose(wall[:, 0], 2.95, atol=1e-4)
    np.testing.assert_allclose(floor[:, 1], 0.0, atol=1e-4)
    np.testing.assert_allclose(lifted.origin, [1.0, 0.88, 1.5])


def test_backprojection_of_a_tilted_camera_matches_a_hand_computed_point():
    k = CameraIntrinsics.from_hfov_degrees(4, 2, 90.0)
    depth = np.full((2, 4, 1), 2.0, np.float32)
    pose = Pose.from_yaw(np.array([1.0, 1.0, 1.0]), math.pi / 2)  # facing -X
    frame = Frame(np.zeros((2, 4, 3), np.uint8), depth, None, pose, k)
    lifted = backproject(frame)
    # pixel (row 0, col 0): fx = fy = 2, centre (2, 1): camera direction ((0.5 - 2) / 2, -(0.5 - 1) / 2, -1)
    # = (-0.75, 0.25, -1), times depth 2; facing -X the camera's right (+x) is world -Z
    expected = np.array([1.0 - 2.0, 1.0 + 2.0 * 0.25, 1.0 + 2.0 * 0.75])
    np.testing.assert_allclose(lifted.points[0], expected, atol=1e-5)


def test_general_pinhole_cameras_back_project_to_the_same_points(sim):
    """A window cut off-centre from a rendered frame, with every other row dropped, is a camera with
    an off-centre principal point and fy = fx / 2; its pixels must land where the original ones do."""
    frame = sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), -math.pi / 2))
    k = frame.intrinsics
    rows, cols = slice(5, 45, 2), slice(9, 60)
    cut = CameraIntrinsics.from_opencv(
        51, 20, k.fx, k.fy / 2, (k.cx - 0.5) - 9, ((k.cy - 0.5) - 5) / 2  # OpenCV convention: pixel centres at integers
    )
    assert cut.fy == pytest.approx(cut.fx / 2) and cut.cx != cut.width / 2
    window = Frame(frame.rgb[rows, cols].copy(), frame.depth[rows, cols].copy(), None, frame.camera_pose, cut)
    lifted, lifted_window = backproject(frame), backproject(window)
    whole = np.full((48 * 64, 3), np.nan, np.float32)
    whole[lifted.pixels] = lifted.points
    expected = whole.reshape(48, 64, 3)[rows, cols].reshape(-1, 3)[lifted_window.pixels]
    assert len(lifted_window.pixels) > 500
    np.testing.assert_allclose(lifted_window.points, expected, atol=1e-4)


def test_invalid_depth_is_masked():
    k = CameraIntrinsics.from_hfov_degrees(3, 1, 60.0)
    depth = np.array([[[np.nan], [np.inf], [1.0]]], np.float32)
    frame = Frame(np.zeros((1, 3, 3), np.uint8), depth, None, Pose(np.zeros(3)), k)
    assert valid_depth_mask(frame).tolist() == [False, False, True]
    assert backproject(frame).pixels.tolist() == [2]
    assert valid_depth_mask(frame, max_depth=0.5).tolist() == [False, False, False]


def test_voxel_sums_average_per_voxel_and_merge_across_batches():
    store = VoxelSums(0.1)
    store.add(np.array([[0.01, 0.0, 0.0], [0.09, 0.0, 0.0], [0.5, 0.0, 0.0]]), {"f": np.array([[1.0], [3.0], [10.0]])})
    store.add(np.array([[0.05, 0.05, 0.05]]), {"f": np.array([[8.0]])}, weights=np.array([2.0]))
    assert len(store) == 2
    means = dict(zip(map(tuple, np.round(store.centres(), 3)), store.mean("f")[:, 0]))
    assert means[(0.05, 0.05, 0.05)] == pytest.approx((1 + 3 + 2 * 8) / 4)
    assert means[(0.55, 0.05, 0.05)] == pytest.approx(10.0)
    keys = voxel_keys(np.array([[-3.21, 1.0, 7.77]]), 0.05)
    np.testing.assert_allclose(key_centres(keys, 0.05), [[-3.225, 1.025, 7.775]])


def test_occupancy_from_points():
    pts = np.array([[0.02, 0.0, 0.02], [0.12, 0.0, 0.02], [0.12, 0.5, 0.02], [0.22, 1.5, 0.02]])
    grid = occupancy_from_points(pts, floor_height=0.0, resolution=0.1, max_climb=0.2, agent_height=0.88)
    states = grid.state_at(pts[:, :] * [1, 0, 1])
    assert states.tolist() == [FREE, OCCUPIED, OCCUPIED, UNKNOWN]  # the last point is above the band
    assert grid.state_at(np.array([[50.0, 0.0, 50.0]]))[0] == UNKNOWN
