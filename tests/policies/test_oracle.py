"""The oracle follower reaches goals on the simulator's shortest path."""

import numpy as np
import pytest

from envs.gym_env import ObjectNavEnv, PointNavEnv
from envs.measures import OBJECTNAV_SUCCESS_DISTANCE
from envs.navigation import NavGrid
from envs.simulator import SensorConfig
from envs.types import Action
from policies import OracleFollower, Policy
from tests.envs.scenes import sealed_rooms

SMALL = SensorConfig(width=16, height=16, semantic=False)


def run(env, follower, goal_of, seed):
    obs, info = env.reset(seed=seed)
    follower.reset()
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(follower.act(obs, goal_of(env)))
        done = terminated or truncated
    return info


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pointnav_success_without_collisions(seed):
    env = PointNavEnv(sensor=SMALL)
    follower = OracleFollower(env._sims.get("house:0").navigation, env.agent_config)
    assert isinstance(follower, Policy)
    info = run(env, follower, lambda e: np.array(e.current_episode.goals[0].position), seed)
    assert info["success"] == 1.0
    assert info["spl"] > 0.85
    assert info["collisions"] == 0


def test_objectnav_reaches_a_view_point():
    env = ObjectNavEnv(sensor=SMALL)
    follower = OracleFollower(env._sims.get("house:0").navigation, env.agent_config, goal_radius=OBJECTNAV_SUCCESS_DISTANCE)
    info = run(env, follower, lambda e: e.current_episode.view_point_positions, seed=0)
    assert info["success"] == 1.0 and info["distance_to_goal"] < OBJECTNAV_SUCCESS_DISTANCE


def test_unreachable_goal_stops():
    nav = NavGrid.from_scene(sealed_rooms())  # two halves with no way between them
    follower = OracleFollower(nav)
    observation = {"position": np.array([1.0, 0.0, 1.0]), "rotation": np.array([0.0, 0.0, 0.0, 1.0])}
    assert follower.act(observation, np.array([5.0, 0.0, 1.0])) == Action.STOP
    assert follower.act(observation, np.array([2.0, 0.0, 1.0])) != Action.STOP
