"""The feature-fusion map (TSDF geometry + fused features) against the direct reconstruction and the
simulator's ground truth."""

import numpy as np
import open3d as o3d
import pytest

from envs.raycast import raycasting_scene
from perception.fusion_map import FusionMap
from perception.maps import FeatureMap
from perception.occupancy import FREE, OCCUPIED
from perception.pointcloud_map import PointCloudMap
from perception.evaluation import object_categories_in, query_precision
from tests.perception.rollout import integrated_map, states_where_navigable


@pytest.fixture(scope="module")
def fused(rollout):
    return integrated_map(FusionMap, rollout)


def test_surface_lies_on_the_true_mesh(fused, rollout):
    scene, sim, frames, extractor = rollout
    assert isinstance(fused, FeatureMap) and fused.frames_integrated == len(frames)
    assert len(fused) > 1000
    truth = raycasting_scene(scene)  # distance from each fused surface point to the scene's triangles
    distance = truth.compute_distance(o3d.core.Tensor(fused.points())).numpy()
    assert np.median(distance) < 0.01 and np.percentile(distance, 95) < fused.config.voxel_size


def test_occupancy_agrees_with_navigability(fused, rollout):
    states, navigable = states_where_navigable(fused.occupancy_grid(), rollout[1].navigation)
    assert (states[navigable] == OCCUPIED).mean() < 0.01
    assert (states[navigable] == FREE).mean() > 0.9


def test_fused_features_answer_text_queries(fused, rollout):
    scene = rollout[0]
    has_feature = np.linalg.norm(fused.features(), axis=1) > 0
    assert has_feature.mean() > 0.8  # at 96 x 96 far surfaces get fewer pixels than voxels
    targets = object_categories_in(fused, scene)
    assert len(targets) >= 3
    precision = {c: query_precision(fused, scene, c) for c in targets}
    # books standing in shelves share 5 cm voxels with the shelf: fusion averages them (0.74 measured)
    assert np.mean(list(precision.values())) >= 0.9, precision
    assert min(precision.values()) >= 0.7, precision


def test_save_load_round_trip(fused, rollout, tmp_path):
    loaded = FusionMap.load(fused.save(tmp_path / "fusion.npz"), rollout[3])
    a, b = fused.points(), loaded.points()
    order_a, order_b = np.lexsort(a.T), np.lexsort(b.T)  # the same surface, maybe in another order
    np.testing.assert_allclose(a[order_a], b[order_b])
    np.testing.assert_allclose(fused.features()[order_a], loaded.features()[order_b])
    with pytest.raises(ValueError, match="'fusion' map, not 'pointcloud'"):
        PointCloudMap.load(tmp_path / "fusion.npz", rollout[3])
