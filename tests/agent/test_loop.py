"""The agent loop end to end on a generated house: map + planner + policy in the instruction env,
the rollout folder it records, and clear errors for bad input."""

import json

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

import envs  # noqa: F401  (registers nav3d/*-v0)
from agent.cli import main
from agent.episode_runner import build_agent, run_episode
from agent.loop import Agent
from agent.loop_config import LoopConfig
from agent.recording import RolloutRecorder, topdown_panel
from envs.simulator import SensorConfig
from perception.occupancy import FREE, OccupancyGrid

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 96


@pytest.fixture(scope="module")
def encoder():
    from perception.text_encoder import SentenceEncoder

    return SentenceEncoder.from_path()


def _episode(seed: int):
    env = gym.make("nav3d/Instruction-v0", scenes=("house:1",), sensor=SensorConfig(width=SIZE, height=SIZE), max_episode_steps=300)
    obs, _ = env.reset(seed=seed)
    return env, obs


def test_oracle_plan_and_map_policy_reach_both_subgoals_and_the_rollout_reads_back(encoder, tmp_path):
    env, obs = _episode(seed=1)  # "first look for the yellow chair, and finally head to the bedroom"
    u = env.unwrapped
    turn_in_place = LoopConfig(explore_steps=0)
    agent = build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "map", construction="pointcloud", config=turn_in_place, encoder=encoder)
    recorder = RolloutRecorder(u.sensor_config.max_depth)
    result = run_episode(env, agent, obs, on_step=recorder.on_step)
    assert result.metrics["success"] == 1.0 and result.metrics["subgoals_reached"] == 2
    kinds = [e["kind"] for e in result.events]
    assert kinds.count("subgoal") == 2 and "plan" in kinds and kinds[-1] == "subgoal" and "features" in kinds and "map" in kinds
    assert all(e["seconds"] >= 0 for e in result.events)
    out = recorder.write(tmp_path / "rollout", result)
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == result.metrics["num_steps"] and steps[-1]["action"] == "stop"
    plans = json.loads((out / "plan.json").read_text())
    assert plans["instruction"] == u.current_episode.instruction and len(plans["plans"]) == result.metrics["plans"]
    video = iio.imread(out / "video.mp4")
    assert video.shape[0] == len(steps) + 1 and video.shape[2] == 3 * SIZE + SIZE  # RGB | depth | semantic | top-down
    assert video.shape[1] == SIZE + 16  # over the caption strip
    env.close()
    # the rollout replays: same number of frames, the same camera images (up to video compression)
    assert main(["replay", str(out), "--out", str(tmp_path / "replay.mp4")]) == 0
    replayed = iio.imread(tmp_path / "replay.mp4")
    assert replayed.shape == video.shape
    images = np.s_[:, :SIZE, : 3 * SIZE]
    assert np.abs(replayed[images].astype(int) - video[images].astype(int)).mean() < 3.0


def test_a_plan_step_without_a_waypoint_is_skipped_not_crashed_on(encoder):
    from agent.decomposition import Step
    from agent.planner import Plan

    class HalfBrokenPlanner:
        def plan(self, feature_map, instruction, start=None):
            steps = [Step(1, "find", "lamp", None), Step(2, "go to", "kitchen", np.asarray(start, dtype=np.float64))]
            return Plan(instruction, steps, "1. find the lamp <loc1> 2. go to the kitchen ...", 0.0, ["step 1 has 1 location token"])

    env, obs = _episode(seed=1)
    u = env.unwrapped
    agent = build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "oracle", construction="pointcloud", encoder=encoder)
    agent = Agent(agent.map, agent.extractor, HalfBrokenPlanner(), agent.policy, LoopConfig(look_around=2))
    result = run_episode(env, agent, obs)
    skips = [e for e in result.events if e["kind"] == "skip"]
    assert len(skips) == 1 and skips[0]["detail"]["why"] == "no valid waypoint"
    assert result.metrics["steps_done"] == 2 and agent.finished  # the broken step skipped, the other reached where it stands
    env.close()


def test_a_mapping_process_drives_the_same_episode_as_a_mapping_thread(encoder):
    """The neural field trained in a mapping process is the field a mapping thread trains, operation
    for operation: the agent takes the same actions and ends in the same place."""
    from perception.field_training import BackgroundTraining, ProcessTraining

    runs = {}
    for mapping in ("thread", "process"):
        env, obs = _episode(seed=1)
        u = env.unwrapped
        agent = build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "map", construction="neural",
                            config=LoopConfig(explore_steps=0), encoder=encoder, mapping=mapping)
        assert isinstance(agent.map.training, {"thread": BackgroundTraining, "process": ProcessTraining}[mapping])
        runs[mapping] = run_episode(env, agent, obs)
        agent.map.training.close()
        env.close()
    thread, process = runs["thread"], runs["process"]
    assert thread.metrics["subgoals_reached"] >= 1
    assert [s.action for s in process.steps] == [s.action for s in thread.steps]
    assert process.steps[-1].position == thread.steps[-1].position
    assert process.metrics["success"] == thread.metrics["success"]


def test_agent_and_builder_errors_are_clear(encoder):
    env, _ = _episode(seed=0)
    u = env.unwrapped
    with pytest.raises(ValueError, match="unknown planner"):
        build_agent(u.current_episode, u.simulator.scene, u.simulator, "gpt", "map", encoder=encoder)
    with pytest.raises(ValueError, match="unknown policy"):
        build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "teleport", encoder=encoder)
    with pytest.raises(ValueError, match="unknown mapping 'gpu'.*thread, process, inline"):
        build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "map", encoder=encoder, mapping="gpu")
    agent = build_agent(u.current_episode, u.simulator.scene, u.simulator, "oracle", "map", construction="pointcloud", encoder=encoder)
    with pytest.raises(RuntimeError, match="reset"):
        agent.act(u.frame)
    with pytest.raises(ValueError, match="instruction"):
        agent.reset("  ")
    with pytest.raises(ValueError, match="look_around"):
        LoopConfig(look_around=-1)
    env.close()


def test_topdown_panel_draws_the_grid_path_and_waypoints():
    cells = np.full((20, 30), FREE, dtype=np.int8)
    grid = OccupancyGrid(cells, origin=np.array([0.0, 0.0]), resolution=0.1, floor_height=0.0, height_band=(0.1, 1.0))
    path = np.array([[0.5, 0.0, 0.5], [2.5, 0.0, 1.5]])
    image = topdown_panel(grid, path, np.array([[1.5, 0.0, 1.0]]), 0, 0.0, 64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert (np.abs(image.astype(int) - (220, 30, 30)).sum(axis=2) < 30).any()  # the current waypoint, red
    assert (np.abs(image.astype(int) - (40, 90, 220)).sum(axis=2) < 30).any()  # the path, blue


def test_replay_errors_name_the_problem(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "plan.json").write_text("{}")
    (tmp_path / "r" / "steps.jsonl").write_text("")
    assert main(["replay", str(tmp_path / "r")]) == 2
    assert "not a nav3d rollout" in capsys.readouterr().err


def test_run_command_errors(tmp_path, capsys):
    assert main(["run", "--scene", "nowhere.glb", "--planner", "oracle", "--out", str(tmp_path / "a")]) == 2
    assert "nowhere.glb" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--planner", "oracle", "--out", str(blocker / "sub")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["run", "--planner", "llm", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "missing" in capsys.readouterr().err


def test_run_writes_a_rerun_recording(tmp_path):
    pytest.importorskip("rerun", reason="the rerun extra is not installed")
    out = tmp_path / "run"
    rrd = tmp_path / "rec" / "rollout.rrd"
    args = ["run", "--planner", "oracle", "--policy", "oracle", "--explore-steps", "0", "--scene", "house:1",
            "--construction", "pointcloud", "--size", "48", "--max-steps", "60", "--no-video", "--out", str(out), "--rerun", str(rrd)]
    assert main(args) == 0
    assert rrd.read_bytes()[:3] == b"RRF" and rrd.stat().st_size > 10_000  # Rerun's file header, then the logged chunks
    assert [p.name for p in rrd.parent.iterdir()] == ["rollout.rrd"]  # no .part left behind
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_steps"] <= 60 and not (out / "video.mp4").exists()
