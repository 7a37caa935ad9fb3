"""The direct-reconstruction map on a rollout in a generated house: geometry against the simulator's
navigability, open-vocabulary query precision, sampling, save/load and bad inputs."""

import numpy as np
import pytest

from envs.embedded import EmbeddedSimulator
from envs.house import generate_house
from envs.simulator import SensorConfig
from envs.types import Action, Pose
from perception.maps import FeatureMap, MapConfig
from perception.occupancy import FREE, OCCUPIED
from perception.pointcloud_map import PointCloudMap
from perception.semantic_text import SemanticTextExtractor
from perception.text_encoder import SentenceEncoder, default_encoder_path


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def built(rollout):
    scene, sim, frames, extractor = rollout
    m = PointCloudMap(extractor, MapConfig(pixel_stride=1))
    for f in frames:
        m.integrate(f, extractor(f))
    return m


def test_is_a_feature_map(built):
    assert isinstance(built, FeatureMap)
    assert built.frames_integrated == 40 and len(built) > 1000


def test_occupancy_agrees_with_the_simulators_navigability(built, rollout):
    scene, sim, frames, extractor = rollout
    grid = built.occupancy_grid()
    cells = np.argwhere(grid.cells != -1)
    centres = grid.cell_to_world(cells)
    navigable = np.array([sim.navigation.is_navigable(p) for p in centres])
    states = grid.cells[cells[:, 0], cells[:, 1]]
    # where the agent can stand the map saw no obstacle, and most of it as floor
    assert (states[navigable] == OCCUPIED).mean() < 0.01
    assert (states[navigable] == FREE).mean() > 0.95
    assert (states == OCCUPIED).sum() > 50  # walls and furniture were seen


def test_text_query_precision(built, rollout):
    scene, sim, frames, extractor = rollout
    points = built.points()
    voxel_instance = _instances_at(points, frames, built.config.voxel_size)
    seen = sorted({scene.objects[i].category for i in np.unique(voxel_instance) if i > 0} - {"wall", "floor", "ceiling"})
    assert seen
    for category in seen[:5]:
        relevance = built.text_relevance(category)
        top = np.argsort(-relevance)[: min(100, int((relevance > 0.99).sum()) or 100)]
        truth = np.array([scene.objects.get(i).category if i > 0 else "" for i in voxel_instance[top]])
        assert (truth == category).mean() >= 0.9, category


def _instances_at(points, frames, voxel_size):
    """The instance id most often seen in each point's voxel, from the frames' semantic images."""
    from perception.geometry import backproject
    from perception.voxels import voxel_keys

    keys, ids = [], []
    for f in frames:
        lifted = backproject(f)
        keys.append(voxel_keys(lifted.points, voxel_size))
        ids.append(f.semantic.reshape(-1)[lifted.pixels])
    keys, ids = np.concatenate(keys), np.concatenate(ids)
    table = {}
    for k, i in zip(keys.tolist(), ids.tolist()):
        table.setdefault(k, []).append(i)
    mode = {k: max(set(v), key=v.count) for k, v in table.items()}
    return np.array([mode.get(k, 0) for k in voxel_keys(points, voxel_size).tolist()])


def test_query_and_sampling(built):
    points = built.points()
    np.testing.assert_allclose(built.query(points[:10]), built.features()[:10], atol=1e-6)
    assert not built.query(np.array([[100.0, 0.0, 100.0]])).any()
    sample, feats = built.points_and_features(256)
    assert sample.shape == (256, 3) and feats.shape == (256, built.extractor.dim)
    # spread out: the sample's nearest-neighbour spacing is far above the voxel size
    from scipy.spatial import cKDTree

    spacing = cKDTree(sample).query(sample, k=2)[0][:, 1]
    assert np.median(spacing) > 4 * built.config.voxel_size


def test_save_load_round_trip(built, rollout, tmp_path):
    extractor = rollout[3]
    path = built.save(tmp_path / "map.npz")
    loaded = PointCloudMap.load(path, extractor)
    np.testing.assert_allclose(loaded.points(), built.points())
    np.testing.assert_allclose(loaded.features(), built.features())
    assert loaded.floor_height == built.floor_height
    np.testing.assert_array_equal(loaded.occupancy_grid().cells, built.occupancy_grid().cells)


def test_map_from_another_feature_dimension_fails_on_load(built, tmp_path):
    path = built.save(tmp_path / "map.npz")

    class Narrow:
        dim = 3

    with pytest.raises(ValueError, match="384-d features but the extractor gives 3-d"):
        PointCloudMap.load(path, Narrow())
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        PointCloudMap.load(tmp_path / "nope.npz", Narrow())


def test_bad_inputs(rollout):
    scene, sim, frames, extractor = rollout
    m = PointCloudMap(extractor)
    with pytest.raises(ValueError, match="features must be"):
        m.integrate(frames[0], np.zeros((5, 5, extractor.dim), np.float32))
    with pytest.raises(ValueError, match="channels"):
        m.integrate(frames[0], np.zeros((96, 96, 7), np.float32))
