"""InstanceMemory: what the frames showed of each instance (pixels, place, feature, colours)."""

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception.color_features import NAMED_COLORS
from perception.instance_memory import DISTANCES, InstanceMemory, InstanceTrackingMap
from perception.maps import MapConfig
from perception.pointcloud_map import PointCloudMap


class Onehot:
    """Features that name each pixel's instance id (a stand-in extractor: the memory only averages them)."""

    dim = 8

    def __call__(self, frame):
        return np.eye(self.dim, dtype=np.float32)[frame.semantic % self.dim]


@pytest.fixture(scope="module")
def turn_in_place():
    scene = generate_house(1)
    sim = EmbeddedSimulator(scene, sensor_config=SensorConfig(width=64, height=64))
    start = sim.navigation.sample_navigable_point(np.random.default_rng(0), sim.navigation.largest_island())
    frames = [sim.reset(Pose.from_yaw(start, 0.0))] + [sim.step(Action.TURN_LEFT)[0] for _ in range(11)]
    sim.close()
    return scene, frames


def test_each_seen_instance_sits_in_its_box_with_its_feature_and_colour(turn_in_place):
    scene, frames = turn_in_place
    memory, extractor = InstanceMemory(samples_per_side=64), Onehot()  # every pixel of a 64 px frame
    for frame in frames:
        memory.integrate(frame, extractor(frame))
    seen = memory.instances()
    assert len(seen) == len(memory) > 5
    assert {s.instance_id for s in seen} <= set(scene.objects)
    for s in seen:
        obj = scene.objects[s.instance_id]
        assert np.all(s.position >= obj.bbox_min - 0.05) and np.all(s.position <= obj.bbox_max + 0.05)
        assert np.argmax(s.feature) == s.instance_id % Onehot.dim and np.isclose(np.linalg.norm(s.feature), 1.0)
        assert s.color_counts.shape == (len(NAMED_COLORS), len(DISTANCES)) and np.all(np.diff(s.color_counts, axis=1) >= 0)
    # a well-seen object of one colour (a wall) looks nearest its own colour of all its category's colours
    biggest = max(seen, key=lambda s: s.pixels)
    colour = scene.objects[biggest.instance_id].color
    others = {o.color for o in scene.objects.values() if o.category == scene.objects[biggest.instance_id].category} | {"red", "blue"}
    assert all(biggest.color_distance(colour) <= biggest.color_distance(c) for c in others)
    assert biggest.color_distance(colour)[0] <= 25


def test_the_tracking_map_feeds_both_and_bad_input_is_refused(turn_in_place):
    scene, frames = turn_in_place
    tracked = InstanceTrackingMap(PointCloudMap(Onehot(), MapConfig()))
    tracked.integrate(frames[0], Onehot()(frames[0]))
    assert tracked.frames_integrated == 1 and len(tracked.points()) > 0  # the wrapped map's
    assert len(tracked.instances()) > 0
    with pytest.raises(ValueError, match="samples_per_side"):
        InstanceMemory(samples_per_side=0)
    with pytest.raises(ValueError, match="colour"):
        tracked.instances()[0].color_distance("golden")
