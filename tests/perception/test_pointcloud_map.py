"""The direct-reconstruction map on a rollout in a generated house: geometry against the simulator's
navigability, open-vocabulary query precision, sampling, save/load and bad inputs; the occupancy
grid's cache, for it and the neural field."""

import numpy as np
import pytest

from perception.maps import FeatureMap
from perception.neural_field_map import NeuralFieldMap
from perception.occupancy import FREE, OCCUPIED, UNKNOWN
from perception.pointcloud_map import PointCloudMap
from perception.evaluation import object_categories_in, query_precision
from tests.perception.rollout import integrated_map, states_where_navigable


@pytest.fixture(scope="module")
def built(rollout):
    return integrated_map(PointCloudMap, rollout)


def test_is_a_feature_map(built):
    assert isinstance(built, FeatureMap)
    assert built.frames_integrated == 40 and len(built) > 1000


def test_occupancy_agrees_with_the_simulators_navigability(built, rollout):
    states, navigable = states_where_navigable(built.occupancy_grid(), rollout[1].navigation)
    # where the agent can stand the map saw no obstacle, and most of it as floor
    assert (states[navigable] == OCCUPIED).mean() < 0.01
    assert (states[navigable] == FREE).mean() > 0.95
    assert (states == OCCUPIED).sum() > 50  # walls and furniture were seen


def test_text_query_precision(built, rollout):
    scene = rollout[0]
    targets = object_categories_in(built, scene)
    assert len(targets) >= 3
    for category in targets:
        assert query_precision(built, scene, category) >= 0.9, category


def test_query_and_sampling(built):
    points = built.points()
    np.testing.assert_allclose(built.query(points[:10]), built.features()[:10], atol=1e-6)
    assert not built.query(np.array([[100.0, 0.0, 100.0]])).any()
    np.testing.assert_allclose(built.bounds(), [points.min(axis=0), points.max(axis=0)])
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


def test_sample_is_kept_until_the_next_frame(rollout):
    _, _, frames, extractor = rollout
    m = PointCloudMap(extractor)
    for f in frames[:4]:
        m.integrate(f, extractor(f))
    first = m.points_and_features(64)
    first[0][:] = 0.0  # a caller's copy: changing it leaves the map's sample alone
    again = m.points_and_features(64)
    assert not np.array_equal(first[0], again[0]) and np.array_equal(again[0], m.points_and_features(64)[0])
    m.integrate(frames[4], extractor(frames[4]))
    grown = m.points_and_features(64)
    assert not np.array_equal(grown[0], again[0])  # the new frame's points are in the new sample


@pytest.mark.parametrize("construction", [PointCloudMap, NeuralFieldMap])
def test_occupancy_grid_is_kept_until_the_next_frame_and_read_only(construction, rollout):
    _, _, frames, extractor = rollout
    m = construction(extractor)
    for f in frames[:4]:
        m.integrate(f, extractor(f))
    grid = m.occupancy_grid()
    assert m.occupancy_grid() is grid  # the policy, the explorer and the recorder share one per step
    with pytest.raises(ValueError, match="read-only"):
        grid.cells[0, 0] = FREE
    m.integrate(frames[4], extractor(frames[4]))
    grown = m.occupancy_grid()
    assert grown is not grid and (grown.cells != UNKNOWN).sum() > (grid.cells != UNKNOWN).sum()
