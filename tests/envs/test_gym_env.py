"""The gymnasium envs: API contract, measures in info, datasets, vector envs and bad arguments."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers nav3d/*-v0)
from envs.dataset import save_dataset
from envs.episodes import PointNavEpisode
from envs.gym_env import InstructionEnv, ObjectNavEnv, PointNavEnv
from envs.simulator import SensorConfig
from envs.types import Action

SMALL = SensorConfig(width=32, height=24)


@pytest.mark.parametrize("env_id", ["nav3d/PointNav-v0", "nav3d/ObjectNav-v0", "nav3d/Instruction-v0"])
def test_registered_envs_pass_gymnasiums_checker(env_id):
    env = gym.make(env_id, sensor=SMALL, max_episode_steps=20)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert {"distance_to_goal", "success", "spl", "collisions", "num_steps"} <= info.keys()
    env.close()


def test_reset_seed_is_deterministic():
    env = PointNavEnv(sensor=SMALL)
    a, info_a = env.reset(seed=11)
    b, info_b = env.reset(seed=11)
    assert info_a["episode_id"] == info_b["episode_id"]
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    assert env.reset(seed=12)[1]["episode_id"] != info_a["episode_id"]


def test_pointgoal_sensor_is_polar_in_the_agent_frame():
    env = PointNavEnv(sensor=SMALL)
    obs, info = env.reset(seed=5)
    rho, phi = obs["pointgoal_with_gps_compass"]
    goal = np.array(env.current_episode.goals[0].position)
    assert rho == pytest.approx(np.hypot(*(goal - obs["position"])[[0, 2]]), abs=1e-5)
    # turning left by 30 deg moves the goal 30 deg to the right of the heading
    obs2, *_ = env.step(Action.TURN_LEFT)
    assert obs2["pointgoal_with_gps_compass"][1] == pytest.approx(_wrap(phi - math.radians(30)), abs=1e-5)


def _wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def test_stop_terminates_and_reports_success_and_spl():
    env = PointNavEnv(sensor=SMALL)
    env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step(Action.STOP)
    assert terminated and not truncated
    assert info["success"] == 0.0 and info["spl"] == 0.0 and info["num_steps"] == 1
    with pytest.raises(RuntimeError, match="reset"):
        env.step(Action.MOVE_FORWARD)


def test_truncation_after_max_episode_steps():
    env = PointNavEnv(sensor=SMALL, max_episode_steps=3)
    env.reset(seed=1)
    results = [env.step(Action.TURN_LEFT) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert not any(r[2] for r in results)


def test_reward_is_progress_minus_slack():
    env = PointNavEnv(sensor=SMALL)
    _, info = env.reset(seed=4)
    before = info["distance_to_goal"]
    _, reward, _, _, info = env.step(Action.TURN_LEFT)  # no motion: only the slack
    assert reward == pytest.approx(-0.01)
    assert info["distance_to_goal"] == pytest.approx(before)


def test_dataset_episodes_run_in_order_and_cycle(tmp_path):
    gen_env = PointNavEnv(sensor=SMALL)
    episodes = [gen_env.reset(seed=s) and gen_env.current_episode for s in range(2)]
    path = save_dataset(episodes, tmp_path / "val.json.gz")
    env = gym.make("nav3d/PointNav-v0", dataset=str(path), sensor=SMALL)
    ids = [env.reset()[1]["episode_id"] for _ in range(3)]
    assert ids == [episodes[0].episode_id, episodes[1].episode_id, episodes[0].episode_id]


def test_wrong_episode_type_and_bad_arguments(tmp_path):
    env = PointNavEnv(sensor=SMALL)
    env.reset(seed=0)
    pointnav: PointNavEpisode = env.current_episode
    with pytest.raises(ValueError, match="ObjectNavEpisode"):
        ObjectNavEnv(episodes=[pointnav], sensor=SMALL)
    with pytest.raises(ValueError, match="max_episode_steps"):
        PointNavEnv(max_episode_steps=0)
    with pytest.raises(ValueError, match="unknown backend"):
        PointNavEnv(backend="unreal")
    with pytest.raises(ValueError, match="missing.json.gz: file not found"):
        PointNavEnv(dataset=tmp_path / "missing.json.gz")
    with pytest.raises(ValueError, match="outside"):
        env.step(17)


def test_unknown_scene_is_a_clear_error():
    env = PointNavEnv(scenes=("no/such/scene.glb",), sensor=SMALL)
    with pytest.raises(FileNotFoundError, match="no/such/scene.glb"):
        env.reset(seed=0)


def test_instruction_env_continues_after_a_reached_subgoal():
    env = InstructionEnv(sensor=SMALL)
    obs, info = env.reset(seed=7)
    assert isinstance(obs["instruction"], str) and obs["instruction"]
    assert info["subgoals_total"] == len(env.current_episode.subgoals)
    # a STOP that reaches nothing ends the episode
    if info["distance_to_subgoal"] > 0.1:
        _, _, terminated, _, info = env.step(Action.STOP)
        assert terminated and info["success"] == 0.0


def test_vector_env_steps_several_envs():
    vec = gym.make_vec("nav3d/PointNav-v0", num_envs=2, vectorization_mode="sync", sensor=SMALL)
    obs, info = vec.reset(seed=[0, 1])
    assert obs["rgb"].shape == (2, 24, 32, 3)
    obs, reward, terminated, truncated, info = vec.step(np.array([Action.MOVE_FORWARD, Action.TURN_LEFT]))
    assert reward.shape == (2,) and info["num_steps"].tolist() == [1.0, 1.0]
    vec.close()
