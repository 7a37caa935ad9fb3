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
from perception.features import FeatureExtractor, pixel_features
from perception.geometry import backproject
from perception.maps import MapConfig, MapReadout, read_map_file, write_map_file
from perception.voxels import VoxelSums

CONSTRUCTION = "pointcloud"


class PointCloudMap(MapReadout):
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
        self._accept(frame, features)
        lifted = backproject(frame, self.config.pixel_stride, self.config.max_depth)
        colors = frame.rgb.reshape(-1, 3)[lifted.pixels].astype(np.float32)  # (N, 3)
        feats = pixel_features(features, lifted.pixels)  # (N, C)
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
        out[hit] = self._store.mean("feature", index[hit])
        return out

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
