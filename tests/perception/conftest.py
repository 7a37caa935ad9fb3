"""A short rollout in a generated house, shared by the map tests (built once per session)."""

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception.semantic_text import SemanticTextExtractor
from perception.text_encoder import SentenceEncoder, default_encoder_path


@pytest.fixture(scope="session")
def rollout():
    """A 40-frame rollout (turning in place twice, then walking) in house 0, at 96 x 96."""
    scene = generate_house(0)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=96, height=96))
    nav = sim.navigation
    rng = np.random.default_rng(0)
    frames = [sim.reset(Pose.from_yaw(nav.sample_navigable_point(rng, nav.largest_island()), 0.0))]
    for i in range(39):
        frames.append(sim.step(Action.TURN_LEFT if i < 12 or i % 4 == 0 else Action.MOVE_FORWARD)[0])
    extractor = SemanticTextExtractor.from_scene(scene, SentenceEncoder.from_path(default_encoder_path()))
    return scene, sim, frames, extractor


