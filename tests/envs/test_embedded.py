"""The embedded simulator: rendering against known geometry, motion and collisions."""

import math

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.simulator import AgentConfig, SensorConfig
from envs.types import Action, CameraIntrinsics, Pose
from tests.envs.scenes import DIVIDER_ID, FLOOR_ID, divided_room

SENSOR = SensorConfig(width=64, height=48, hfov_deg=90.0)
FACING_PLUS_X = -math.pi / 2  # yaw that faces +X (yaw 0 faces -Z, positive turns left)


@pytest.fixture(scope="module")
def sim() -> EmbeddedSimulator:
    return EmbeddedSimulator(divided_room(), sensor_config=SENSOR)


def test_depth_of_a_wall_facing_the_camera_is_its_distance(sim):
    frame = sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), FACING_PLUS_X))
    assert frame.rgb.shape == (48, 64, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (48, 64, 1) and frame.depth.dtype == np.float32
    wall = frame.semantic == DIVIDER_ID
    assert wall[24, 32]  # the wall is straight ahead
    # a plane perpendicular to the optical axis has one z-depth: 2.95 - 1.0
    np.testing.assert_allclose(frame.depth[wall, 0], 1.95, atol=1e-4)
    np.testing.assert_allclose(frame.camera_pose.position, [1.0, 0.88, 1.5])


def test_depth_of_the_floor_matches_the_pinhole_model(sim):
    frame = sim.reset(Pose.from_yaw(np.array([2.5, 0.0, 1.5]), math.pi / 2))  # facing -X: floor, then nothing
    k = CameraIntrinsics.from_hfov_degrees(64, 48, 90.0)
    v = 47  # bottom row: the ray drops (v + 0.5 - cy) / fy per metre of depth
    drop = (v + 0.5 - k.cy) / k.fy
    hit_x = 2.5 - 0.88 / drop  # where that ray meets the floor
    assert frame.semantic[v, 32] == FLOOR_ID and hit_x > 0
    assert frame.depth[v, 32, 0] == pytest.approx(0.88 / drop, abs=1e-4)
    # beyond the floor's edge at x = 0 there is no return: depth 0, unlabelled, black
    assert frame.depth[0, 32, 0] == 0 and frame.semantic[0, 32] == 0 and frame.rgb[0, 32].sum() == 0


def test_shading_darkens_grazing_surfaces(sim):
    frame = sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), FACING_PLUS_X))
    wall = frame.semantic == DIVIDER_ID
    rgb = frame.rgb.astype(float)
    assert rgb[wall].std(axis=0).max() > 0  # not a flat colour code
    assert rgb[24, 32, 0] > rgb[24, 32, 1]  # the red wall looks red


def test_turns_and_moves(sim):
    start = np.array([1.0, 0.0, 1.5])
    sim.reset(Pose.from_yaw(start, FACING_PLUS_X))
    frame, collided = sim.step(Action.MOVE_FORWARD)
    assert not collided
    np.testing.assert_allclose(sim.agent_pose.position, start + [0.25, 0.0, 0.0], atol=1e-9)
    sim.step(Action.TURN_LEFT)
    assert sim.agent_pose.yaw == pytest.approx(FACING_PLUS_X + math.radians(30))
    sim.step("turn_right")
    sim.step(Action.LOOK_UP)
    assert sim.tilt == pytest.approx(math.radians(30))
    assert frame.step == 1 and sim.step(Action.STOP)[0].step == 5


def test_collision_stops_the_agent_without_sliding(sim):
    pose = Pose.from_yaw(np.array([2.7, 0.0, 1.5]), FACING_PLUS_X)
    sim.reset(pose)
    _, collided = sim.step(Action.MOVE_FORWARD)
    assert collided
    np.testing.assert_allclose(sim.agent_pose.position, pose.position)


def test_collision_slides_when_allowed():
    sliding = EmbeddedSimulator(divided_room(), AgentConfig(allow_sliding=True), SENSOR)
    yaw = FACING_PLUS_X + math.radians(30)  # towards the wall and a little to -Z
    sliding.reset(Pose.from_yaw(np.array([2.6, 0.0, 1.5]), yaw))
    _, collided = sliding.step(Action.MOVE_FORWARD)
    assert collided
    moved = sliding.agent_pose.position - np.array([2.6, 0.0, 1.5])
    assert moved[0] == pytest.approx(0.0) and moved[2] < -0.1  # slid along the wall


def test_render_does_not_move_the_agent(sim):
    sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), 0.0))
    before = sim.agent_pose
    frame = sim.render(Pose.from_yaw(np.array([5.0, 1.0, 1.0]), 1.0))
    assert frame.agent_pose is None
    np.testing.assert_allclose(sim.agent_pose.position, before.position)


def test_non_navigable_start_is_refused(sim):
    with pytest.raises(ValueError, match="not navigable"):
        sim.reset(Pose.from_yaw(np.array([3.0, 0.0, 1.0]), 0.0))


def test_unknown_action_is_refused(sim):
    sim.reset(Pose.from_yaw(np.array([1.0, 0.0, 1.5]), 0.0))
    with pytest.raises(ValueError, match="unknown action"):
        sim.step("fly")
