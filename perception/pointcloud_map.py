"""``PointCloudMap``: the paper's *direct reconstruction* -- back-projected points with their
features, voxel-downsampled (each voxel keeps the mean position, colour and feature of the points
that fell in it).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from envs.types import Frame
from perception.features import FeatureExtractor
from perception.geometry import backproject, check_frame
from perception.maps import MapConfig, cosine_relevance, read_map_file, write_map_file
from perception.occupancy import OccupancyGrid, occupancy_from_points
from perception.voxels import VoxelSums

CONSTRUCTION = "pointcloud"


class PointCloudMap:
    """Direct reconstruction: every integrated pixel's 3D point, averaged per voxel."""

    def __init__(self, extractor: FeatureExtractor, config: MapConfig = MapConfig()) -> None:
        self.extractor = extractor
        self.config = config
        self.floor_height = config.floor_height
        self.frames_integrated = 0
        self._store = VoxelSums(config.voxel_size)
        self._tree: cKDTree | None = None  # over points(), rebuilt lazily after integration

    def __len__(self) -> int:
        return len(self._store)

    # ------------------------------------------------------------------------------------ building

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add the frame's valid depth pixels (every ``pixel_stride``-th) with their features (H, W, C)."""
        check_frame(frame, features)
        if features.shape[2] != self.extractor.dim:
            raise ValueError(f"features have {features.shape[2]} channels, the map's extractor gives {self.extractor.dim}")
        if self.floor_height is None:
            self.floor_height = _floor_height_of(frame, self.config)
        lifted = backproject(frame, self.config.pixel_stride, self.config.max_depth)
        colors = frame.rgb.reshape(-1, 3)[lifted.pixels].astype(np.float32)  # (N, 3)
        feats = features.reshape(-1, features.shape[2])[lifted.pixels]  # (N, C)
        self._store.add(lifted.points, {"xyz": lifted.points, "rgb": colors, "feature": feats})
        self.frames_integrated += 1
        self._tree = None

    # ------------------------------------------------------------------------------------ reading

    def points(self) -> np.ndarray:
        return self._mean("xyz", 3)

    def colors(self) -> np.ndarray:
        """(M, 3) uint8 mean colour per map point."""
        return np.clip(self._mean("rgb", 3), 0, 255).astype(np.uint8)

    def features(self) -> np.ndarray:
        """(M, C) float32 mean feature per map point."""
        return self._mean("feature", self.extractor.dim)

    def query(self, points: np.ndarray) -> np.ndarray:
        """Features (N, C) of the map point nearest each query point within one voxel diagonal; zeros
        beyond."""
        q = np.atleast_2d(np.asarray(points, dtype=np.float64))
        out = np.zeros((len(q), self.extractor.dim), np.float32)
        if len(self) == 0:
            return out
        if self._tree is None:
            self._tree = cKDTree(self.points())
        dist, index = self._tree.query(q, distance_upper_bound=self.config.voxel_size * math.sqrt(3))
        hit = np.isfinite(dist)
        out[hit] = self.features()[index[hit]]
        return out

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` map points spread by farthest-point sampling, with their features."""
        points, feats = self.points(), self.features()
        if len(points) <= n:
            return points, feats
        index = farthest_point_indices(points, n)
        return points[index], feats[index]

    def occupancy_grid(self) -> OccupancyGrid:
        c = self.config
        floor = self.floor_height if self.floor_height is not None else 0.0
        return occupancy_from_points(self.points(), floor, c.voxel_size, c.max_climb, c.agent_height)

    def text_relevance(self, text: str) -> np.ndarray:
        return cosine_relevance(self.features(), self.extractor.embed_text(text))

    def to_open3d(self):
        """The map as an ``open3d.geometry.PointCloud`` with colours."""
        import open3d as o3d

        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(self.points().astype(np.float64)))
        cloud.colors = o3d.utility.Vector3dVector(self.colors().astype(np.float64) / 255.0)
        return cloud

    # ------------------------------------------------------------------------------------ files

    def save(self, path: str | Path) -> Path:
        s = self._store
        arrays = {"keys": s.keys, "weight": s.weight, **{f"channel_{k}": v for k, v in s.channels.items()}}
        extra = {"floor_height": self.floor_height, "frames_integrated": self.frames_integrated}
        return write_map_file(path, CONSTRUCTION, self.extractor.dim, self.config, arrays, extra)

    @classmethod
    def load(cls, path: str | Path, extractor: FeatureExtractor) -> "PointCloudMap":
        """A map saved by ``save``; fails loudly when ``extractor`` gives another feature size."""
        header, arrays = read_map_file(path, CONSTRUCTION, extractor.dim)
        m = cls(extractor, MapConfig(**header["config"]))
        m.floor_height = header["floor_height"]
        m.frames_integrated = header["frames_integrated"]
        channels = {k[len("channel_"):]: v for k, v in arrays.items() if k.startswith("channel_")}
        m._store = VoxelSums.from_arrays(m.config.voxel_size, arrays["keys"], arrays["weight"], channels)
        return m

    def _mean(self, channel: str, width: int) -> np.ndarray:
        if len(self) == 0:
            return np.zeros((0, width), np.float32)
        return self._store.mean(channel).astype(np.float32)


def farthest_point_indices(points: np.ndarray, n: int, candidates_per_sample: int = 4, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` of the points (M, 3) spread over them: farthest-point sampling over a fixed
    random subset of ``candidates_per_sample * n`` candidates (deterministic for a seed), so the
    cost is O(n^2 * candidates_per_sample), whatever M is."""
    m = len(points)
    if m <= n:
        return np.arange(m)
    pool = np.random.default_rng(seed).choice(m, size=min(m, candidates_per_sample * n), replace=False)
    cand = np.asarray(points, dtype=np.float32)[pool]  # (P, 3)
    chosen = np.empty(n, np.int64)
    chosen[0] = 0
    dist = np.sum((cand - cand[0]) ** 2, axis=1)  # (P,) squared distance to the chosen set
    for i in range(1, n):
        chosen[i] = int(np.argmax(dist))
        np.minimum(dist, np.sum((cand - cand[chosen[i]]) ** 2, axis=1), out=dist)
    return pool[chosen]


def _floor_height_of(frame: Frame, config: MapConfig) -> float:
    if frame.agent_pose is not None:
        return float(frame.agent_pose.position[1])
    return float(frame.camera_pose.position[1] - config.camera_height)
