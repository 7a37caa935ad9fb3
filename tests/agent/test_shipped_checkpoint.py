"""The 3D-LLM that ships with nav3d loads with the current code, is small, says how it was made, and
plans on a map the agent builds."""

import json

import numpy as np
import pytest

from agent.planner import ThreeDLLMPlanner, default_checkpoint
from envs.embedded import EmbeddedSimulator
from envs.episode_generator import EpisodeGenerator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_shipped_checkpoint_is_complete_small_and_documented():
    folder = default_checkpoint()
    assert (folder / "config.json").is_file() and (folder / "scene_encoder.safetensors").is_file()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < 25 * 2**20, f"the shipped 3D-LLM takes {size / 2**20:.1f} MiB"
    readme = (folder / "README.md").read_text()
    assert "nav3d language-data" in readme and "nav3d train" in readme and "--seed 0" in readme
    config = json.loads((folder / "config.json").read_text())
    assert config["map_data"]["construction"] in ("neural", "fusion", "pointcloud") and config["map_data"]["points"] >= 1


def test_the_shipped_checkpoint_plans_on_a_map_the_agent_builds():
    from perception.maps import MapConfig
    from perception.pointcloud_map import PointCloudMap
    from perception.semantic_text import SemanticTextExtractor
    from perception.text_encoder import SentenceEncoder

    planner = ThreeDLLMPlanner.from_pretrained()
    assert planner.construction is not None and planner.points == planner.model.config.map_data["points"]
    scene = generate_house(900001)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=64, height=64))
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path())
    feature_map = PointCloudMap(extractor, MapConfig())
    episode = EpisodeGenerator(sim, scene=scene, scene_id="house:900001").instruction_episode(np.random.default_rng(0))
    frame = sim.reset(Pose(np.asarray(episode.start_position), np.asarray(episode.start_rotation)))
    for _ in range(12):  # a turn in place
        feature_map.integrate(frame, extractor(frame))
        frame, _ = sim.step(Action.TURN_LEFT)
    plan = planner.plan(feature_map, episode.instruction, np.asarray(episode.start_position))
    sim.close()
    assert plan.raw_text and plan.latency_s > 0
    assert plan.steps, f"no steps read from {plan.raw_text!r}: {plan.problems}"
    with_waypoints = plan.waypoints()
    assert len(with_waypoints) and np.isfinite(with_waypoints).all()
