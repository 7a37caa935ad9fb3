"""``FusionMap``: the paper's *feature fusion* -- a TSDF for geometry and colour (open3d's
``VoxelBlockGrid``) with the high-dimensional features fused separately into a sparse store of
surface voxels (running averages, weighted by 1 / depth so near views count more).

The map's points are the TSDF's zero crossing (the vertices of its marching-cubes surface); each
point's feature is the fused feature of the nearest feature voxel (zeros where none is within a
voxel diagonal).
open3d's cameras are computer-vision ones (x right, y down, z forward) and take camera-from-world
extrinsics; nav3d's are OpenGL (y up, -z forward) world-from-camera, so the extrinsic is
``diag(1, -1, -1, 1) @ inverse(camera_pose)``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from envs.types import Frame
from perception.features import FeatureExtractor, pixel_features
from perception.geometry import backproject, valid_depth_mask
from perception.maps import MapConfig, MapReadout, read_map_file, write_map_file
from perception.voxels import VoxelSums

CONSTRUCTION = "fusion"
GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])  # flips y and z: OpenGL camera <-> computer-vision camera


@dataclass(frozen=True)
class FusionConfig:
    """TSDF settings: ``block_resolution`` voxels per block side, ``initial_blocks`` the hash map's
    first capacity (it grows), ``weight_threshold`` the fused weight a surface needs to count."""

    block_resolution: int = 8
    initial_blocks: int = 4096
    weight_threshold: float = 1.0


class FusionMap(MapReadout):
    """TSDF geometry and colour plus sparse fused features (see module doc)."""

    def __init__(self, extractor: FeatureExtractor, config: MapConfig = MapConfig(), fusion: FusionConfig = FusionConfig()) -> None:
        self.extractor = extractor
        self.config = config
        self.fusion = fusion
        self.floor_height = config.floor_height
        self.frames_integrated = 0
        self._tsdf = new_tsdf_grid(config.voxel_size, fusion)
        self._features = VoxelSums(config.voxel_size)
        self._surface: tuple[np.ndarray, np.ndarray] | None = None  # (points, colours), rebuilt lazily
        self._feature_tree: cKDTree | None = None  # over the feature voxels' centres, rebuilt lazily

    def __len__(self) -> int:
        return len(self.points())

    # ------------------------------------------------------------------------------------ building

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Fuse the frame's depth and colour into the TSDF and its features (H, W, C) into the store."""
        self._accept(frame, features)
        integrate_tsdf(self._tsdf, frame, self.config.max_depth)
        lifted = backproject(frame, self.config.pixel_stride, self.config.max_depth)
        z = frame.depth.reshape(-1)[lifted.pixels]  # (N,) metres
        feats = pixel_features(features, lifted.pixels)  # (N, C)
        self._features.add(lifted.points, {"feature": feats}, weights=1.0 / np.maximum(z, 0.1))
        self.frames_integrated += 1
        self._surface, self._feature_tree = None, None

    # ------------------------------------------------------------------------------------ reading

    def points(self) -> np.ndarray:
        return self._extract()[0]

    def colors(self) -> np.ndarray:
        """(M, 3) uint8 fused colour per surface point."""
        return self._extract()[1]

    def features(self) -> np.ndarray:
        """(M, C) float32 fused feature per surface point (zeros where none landed)."""
        return self.query(self.points())

    def query(self, points: np.ndarray) -> np.ndarray:
        """Fused features (N, C) of the feature voxel nearest each point within one voxel diagonal
        (a surface point can sit in the voxel next to the one its pixels landed in); zeros beyond."""
        q = np.atleast_2d(np.asarray(points, dtype=np.float64))
        out = np.zeros((len(q), self.extractor.dim), np.float32)
        if len(self._features) == 0 or len(q) == 0:
            return out
        if self._feature_tree is None:
            self._feature_tree = cKDTree(self._features.centres())
        dist, rows = self._feature_tree.query(q, distance_upper_bound=self.config.voxel_size * math.sqrt(3))
        hit = np.isfinite(dist)
        out[hit] = self._features.mean("feature", rows[hit])
        return out

    # ------------------------------------------------------------------------------------ files

    def save(self, path: str | Path) -> Path:
        with tempfile.TemporaryDirectory() as folder:
            grid_file = os.path.join(folder, "tsdf.npz")
            self._tsdf.save(grid_file)
            with np.load(grid_file, allow_pickle=False) as data:
                tsdf = {f"tsdf__{k}": data[k] for k in data.files}
        f = self._features
        arrays = {"feature_keys": f.keys, "feature_weight": f.weight, "feature_sums": f.channels.get("feature", np.zeros((0, self.extractor.dim), np.float32)), **tsdf}
        extra = {"floor_height": self.floor_height, "frames_integrated": self.frames_integrated, "fusion": vars(self.fusion)}
        return write_map_file(path, CONSTRUCTION, self.extractor.dim, self.config, arrays, extra)

    @classmethod
    def load(cls, path: str | Path, extractor: FeatureExtractor) -> "FusionMap":
        """A map saved by ``save``; fails loudly when ``extractor`` gives another feature size."""
        header, arrays = read_map_file(path, CONSTRUCTION, extractor.dim)
        m = cls(extractor, MapConfig(**header["config"]), FusionConfig(**header["fusion"]))
        m.floor_height = header["floor_height"]
        m.frames_integrated = header["frames_integrated"]
        channels = {"feature": arrays["feature_sums"]} if len(arrays["feature_keys"]) else {}
        m._features = VoxelSums.from_arrays(m.config.voxel_size, arrays["feature_keys"], arrays["feature_weight"], channels)
        with tempfile.TemporaryDirectory() as folder:
            grid_file = os.path.join(folder, "tsdf.npz")
            np.savez(grid_file, **{k[len("tsdf__"):]: v for k, v in arrays.items() if k.startswith("tsdf__")})
            m._tsdf = o3d.t.geometry.VoxelBlockGrid.load(grid_file)
        return m

    def _extract(self) -> tuple[np.ndarray, np.ndarray]:
        if self._surface is None:
            if self.frames_integrated == 0:
                self._surface = (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8))
            else:
                # open3d 0.20's extract_point_cloud returns nothing on the CPU; the mesh's vertices
                # are the same zero-crossing points
                mesh = self._tsdf.extract_triangle_mesh(weight_threshold=self.fusion.weight_threshold)
                points = mesh.vertex.positions.numpy().astype(np.float32)
                colors = mesh.vertex.colors.numpy() if "colors" in mesh.vertex else np.zeros_like(points)
                self._surface = (points, np.clip(colors * 255.0, 0, 255).astype(np.uint8))
        return self._surface


def integrate_tsdf(grid: o3d.t.geometry.VoxelBlockGrid, frame: Frame, max_depth: float | None) -> None:
    """Fuse the frame's valid depth (metres, <= ``max_depth``) and colour into the TSDF ``grid``."""
    h, w = frame.intrinsics.height, frame.intrinsics.width
    depth = np.where(valid_depth_mask(frame, max_depth).reshape(h, w, 1), frame.depth, np.float32(0.0))
    depth_image = o3d.t.geometry.Image(o3d.core.Tensor(np.ascontiguousarray(depth)))
    color_image = o3d.t.geometry.Image(o3d.core.Tensor(frame.rgb.astype(np.float32) / 255.0))
    # K as is: a shifted principal point (cx - 0.5) moves the fused surface 2 cm off the mesh
    # (median, 96 x 96 frames; tests/perception/test_fusion_map.py measures it)
    intrinsic = o3d.core.Tensor(frame.intrinsics.matrix(), o3d.core.float64)
    extrinsic = o3d.core.Tensor(GL_TO_CV @ np.linalg.inv(frame.camera_pose.matrix()), o3d.core.float64)
    far = float(max_depth or max(float(depth.max()), 1.0))
    blocks = grid.compute_unique_block_coordinates(depth_image, intrinsic, extrinsic, 1.0, far)
    grid.integrate(blocks, depth_image, color_image, intrinsic, extrinsic, 1.0, far)


def new_tsdf_grid(voxel_size: float, fusion: FusionConfig) -> o3d.t.geometry.VoxelBlockGrid:
    """An empty CPU TSDF volume (tsdf, weight, colour per voxel) of the given voxel size (metres)."""
    return o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"),
        attr_dtypes=(o3d.core.float32, o3d.core.float32, o3d.core.float32),
        attr_channels=((1), (1), (3)),
        voxel_size=voxel_size,
        block_resolution=fusion.block_resolution,
        block_count=fusion.initial_blocks,
        device=o3d.core.Device("CPU:0"),
    )
