"""Multi-view 2D image features (the 2D baseline): patch means, tokens that carry no pose or depth,
bounds from the depth only, clear errors."""

import dataclasses

import numpy as np
import pytest

from envs.types import Pose
from perception.features import LabelFeatures
from perception.multiview_features import MultiViewConfig, MultiViewImageFeatures, patch_centres, patch_means
from perception.pointcloud_map import PointCloudMap


def test_patch_means_average_each_patch():
    h, w, grid = 10, 7, 3
    rows = np.linspace(0, h, grid + 1).astype(int)
    cols = np.linspace(0, w, grid + 1).astype(int)
    patch_id = np.zeros((h, w), np.float32)
    for i in range(grid):
        for j in range(grid):
            patch_id[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = i * grid + j
    features = np.stack([patch_id, 2 * patch_id], axis=2)  # (H, W, 2)
    means = patch_means(features, grid)
    assert means.shape == (9, 2)
    assert np.allclose(means[:, 0], np.arange(9)) and np.allclose(means[:, 1], 2 * np.arange(9))
    with pytest.raises(ValueError, match="cannot be split into 8x8"):
        patch_means(features[:5], 8)


def test_patch_means_of_label_features_match_their_dense_array():
    rng = np.random.default_rng(0)
    labels = LabelFeatures(rng.normal(size=(6, 5)).astype(np.float32), rng.integers(0, 6, size=(11, 13)))  # H, W not multiples of 4
    np.testing.assert_allclose(patch_means(labels, 4), patch_means(np.asarray(labels), 4), rtol=1e-5, atol=1e-6)
    assert patch_means(labels, 4).dtype == patch_means(np.asarray(labels), 4).dtype == np.float32
    with pytest.raises(ValueError, match="cannot be split into 12x12"):
        patch_means(labels, 12)


def test_patch_centres_row_by_row():
    uv = patch_centres(2)
    assert np.allclose(uv, [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])


def _elsewhere(frame):
    """The same colour and semantic image from another camera pose, with other depths."""
    camera = Pose.from_yaw(frame.camera_pose.position + [1.5, 0.0, -2.0], 1.2)
    return dataclasses.replace(frame, camera_pose=camera, agent_pose=None, depth=frame.depth * 0.5)


def test_tokens_carry_no_pose_or_depth(rollout):
    _, _, frames, extractor = rollout
    frame = frames[0]
    features = extractor(frame)
    a = MultiViewImageFeatures(extractor, multiview=MultiViewConfig(grid=4))
    b = MultiViewImageFeatures(extractor, multiview=MultiViewConfig(grid=4))
    a.integrate(frame, features)
    far = _elsewhere(frame)
    b.integrate(far, features)
    assert len(a) == 16 and np.array_equal(a.token_positions(), b.token_positions())
    assert np.array_equal(a.features(), b.features())
    # a 3D map of the same two frames is not the same
    pa, pb = PointCloudMap(extractor), PointCloudMap(extractor)
    pa.integrate(frame, features)
    pb.integrate(far, features)
    assert not np.allclose(pa.bounds(), pb.bounds())


def test_positions_fill_the_depth_bounds_box(rollout):
    _, _, frames, extractor = rollout
    tokens = MultiViewImageFeatures(extractor)
    assert tokens.bounds() is None and tokens.features().shape == (0, extractor.dim)
    for frame in frames[:6]:
        tokens.integrate(frame, extractor(frame))
    grid = tokens.multiview.grid
    assert len(tokens) == 6 * grid**2 and tokens.features().shape == (6 * grid**2, extractor.dim)
    reference = PointCloudMap(extractor)
    for frame in frames[:6]:
        reference.integrate(frame, extractor(frame))
    bounds = tokens.bounds()
    assert np.allclose(bounds, reference.bounds(), atol=reference.config.voxel_size)  # the same depth, unlifted tokens
    t = tokens.token_positions()
    assert t.min() >= 0 and t.max() <= 1 and np.allclose(np.unique(t[:, 2]), np.arange(6) / 5)
    points = tokens.points()
    assert np.allclose(points, bounds[0] + t * (bounds[1] - bounds[0]), atol=1e-5)
    sample_points, sample_features = tokens.points_and_features(40)
    assert sample_points.shape == (40, 3) and sample_features.shape == (40, extractor.dim)
    rows = {tuple(p) for p in points.round(5)}
    assert all(tuple(p) in rows for p in sample_points.round(5))
    everything = tokens.points_and_features(10_000)
    assert np.array_equal(everything[0], points) and np.array_equal(everything[1], tokens.features())


def test_bad_input_is_named(rollout):
    _, _, frames, extractor = rollout
    tokens = MultiViewImageFeatures(extractor)
    with pytest.raises(ValueError, match="features must be"):
        tokens.integrate(frames[0], np.zeros((3, 3, extractor.dim), np.float32))
    h, w = frames[0].depth.shape[:2]
    with pytest.raises(ValueError, match="channels"):
        tokens.integrate(frames[0], np.zeros((h, w, 5), np.float32))
    with pytest.raises(ValueError, match="grid must be an integer >= 1"):
        MultiViewConfig(grid=0)
