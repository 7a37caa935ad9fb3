"""The map policies in the closed loop: the embedded simulator renders, a ``PointCloudMap`` integrates
each frame, and the policy plans on that map's occupancy grid (the simulator's navigation is used
only to pick episodes and to check the outcome)."""

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception.color_features import ColorFeatureExtractor
from perception.maps import MapConfig
from perception.occupancy import UNKNOWN
from perception.pointcloud_map import PointCloudMap
from policies import ExploreStatus, FrontierExplorer, MapPlannerPolicy, PlanStatus


@pytest.fixture(scope="module")
def sim():
    return EmbeddedSimulator(generate_house(0), sensor_config=SensorConfig(width=64, height=64, semantic=False), num_threads=1)


def new_map():
    return PointCloudMap(ColorFeatureExtractor(), MapConfig(pixel_stride=1))


def run(sim, feature_map, policy, goal, start: Pose, max_steps: int) -> int:
    """Integrate, act, step until the policy stops; the number of actions taken."""
    frame = sim.reset(start)
    for step in range(max_steps):
        feature_map.integrate(frame, feature_map.extractor(frame))
        pose = sim.agent_pose
        action = policy.act({"position": pose.position, "rotation": pose.rotation}, goal)
        if action == Action.STOP:
            return step
        frame, _ = sim.step(action)
    return max_steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_planner_reaches_a_goal_a_few_metres_away(sim, seed):
    nav = sim.navigation
    rng = np.random.default_rng(seed)
    while True:
        start, goal = (nav.sample_navigable_point(rng, nav.largest_island()) for _ in range(2))
        if 2.5 < nav.geodesic_distance(start, goal) < 5.0:
            break
    feature_map = new_map()
    planner = MapPlannerPolicy(feature_map.occupancy_grid, sim.agent_config, goal_radius=0.3)
    steps = run(sim, feature_map, planner, goal, Pose.from_yaw(start, rng.uniform(-np.pi, np.pi)), max_steps=150)
    assert steps < 150 and planner.last_status == PlanStatus.REACHED
    assert nav.geodesic_distance(sim.agent_pose.position, goal) < planner.goal_radius + 0.1


def test_frontier_explorer_uncovers_the_house(sim):
    nav = sim.navigation
    start = nav.sample_navigable_point(np.random.default_rng(0), nav.largest_island())
    feature_map = new_map()
    explorer = FrontierExplorer(feature_map.occupancy_grid, sim.agent_config)
    known_area = lambda: float((feature_map.occupancy_grid().cells != UNKNOWN).sum()) * feature_map.config.voxel_size**2  # noqa: E731
    run(sim, feature_map, explorer, None, Pose.from_yaw(start, 0.0), max_steps=12)  # the first look around
    after_look_around = known_area()
    explorer_steps = run(sim, feature_map, explorer, None, sim.agent_pose, max_steps=70)
    assert explorer_steps == 70 and explorer.last_status == ExploreStatus.EXPLORING
    assert known_area() > 2.5 * after_look_around
