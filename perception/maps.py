"""The ``FeatureMap`` protocol (the 3D feature map the 3D-LLM reads and the policy plans on) and the
configuration and file format its implementations share.

Map files are single ``.npz`` archives (no pickle): arrays plus a JSON header holding the
construction's name, the feature dimension, the format version and the config.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.types import Frame
from perception.features import FeatureExtractor
from perception.geometry import check_frame
from perception.occupancy import OccupancyGrid, occupancy_from_points

MAP_FORMAT_VERSION = 1
FEATURE_SPREAD_METRES = 2.0
"""How far apart (metres) two points of unit-distance features count for ``points_and_features``'
spread: features of different categories are about 1 apart, so each kind of surface in a room
gets points of its own."""
FEATURE_SPREAD_DIMS = 16
"""Principal components of the features that spread uses."""


@dataclass(frozen=True)
class MapConfig:
    """What every map construction shares (metres).

    - ``voxel_size``: the map's resolution.
    - ``pixel_stride``: integrate every n-th pixel row and column.
    - ``max_depth``: ignore depth beyond this (None: keep all valid depth).
    - ``floor_height``: None takes it from the first frame (its agent pose, else the camera height
      minus ``camera_height``).
    - ``camera_height``, ``agent_height``, ``max_climb``: the body the occupancy grid is made for.
    """

    voxel_size: float = 0.05
    pixel_stride: int = 2
    max_depth: float | None = 8.0
    floor_height: float | None = None
    camera_height: float = 0.88
    agent_height: float = 0.88
    max_climb: float = 0.2

    def __post_init__(self) -> None:
        if self.voxel_size <= 0:
            raise ValueError(f"MapConfig.voxel_size must be positive metres, got {self.voxel_size}")
        if self.pixel_stride < 1:
            raise ValueError(f"MapConfig.pixel_stride must be >= 1, got {self.pixel_stride}")


@runtime_checkable
class FeatureMap(Protocol):
    """A 3D map of features, built frame by frame."""

    extractor: FeatureExtractor
    config: MapConfig

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add a frame and its (H, W, C) features (from ``extractor``) to the map."""

    def points(self) -> np.ndarray:
        """(M, 3) float32 world points the map holds, metres."""

    def query(self, points: np.ndarray) -> np.ndarray:
        """Features (N, C) float32 at world points (N, 3); zeros where the map knows nothing."""

    def bounds(self) -> np.ndarray | None:
        """(2, 3) float64 lower and upper corner (metres) of the surface the map holds, cheap enough to
        call per plan (the location codec's box); None while the map is empty."""

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` points spread over the map (N, 3) and their features (N, C), for the 3D-LLM."""

    def occupancy_grid(self) -> OccupancyGrid:
        """The top-down free/occupied/unknown grid of what the map has seen."""

    def text_relevance(self, text: str) -> np.ndarray:
        """(M,) cosine similarity of each of ``points()``'s features to the text's embedding."""

    def save(self, path: str | Path) -> Path:
        """Write the map to one ``.npz`` file (atomically)."""


class MapReadout:
    """What every map construction shares (mixed into them): the checks before integrating a frame,
    and what derives from ``points()``, ``features()`` and ``colors()``: sampling for the 3D-LLM,
    text relevance, the occupancy grid, open3d export."""

    extractor: FeatureExtractor
    config: MapConfig
    floor_height: float | None
    frames_integrated: int

    def _accept(self, frame: Frame, features: np.ndarray) -> None:
        """Check a frame and its features before integration; the first frame sets the floor height."""
        check_frame(frame, features, self.extractor.dim)
        if self.floor_height is None:
            self.floor_height = floor_height_of(frame, self.config)

    def bounds(self) -> np.ndarray | None:
        """(2, 3) lower and upper corner of ``points()`` (metres); None while the map is empty."""
        return corners(self.points())

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` map points spread by farthest-point sampling over position and feature
        (``spread_sample``), with their features. The sample is kept until the next integrated frame
        (``frames_integrated``), so planners that each read the map in one step cost one sample."""
        points, features = self._kept_for_frame("_sample", n, lambda: spread_sample(self.points(), self.features(), n))
        return points.copy(), features.copy()

    def text_relevance(self, text: str) -> np.ndarray:
        """(M,) cosine similarity of each of ``points()``'s features to the text's embedding."""
        return cosine_relevance(self.features(), self.extractor.embed_text(text))

    def occupancy_grid(self) -> OccupancyGrid:
        """Surface points (``_occupancy_points``) rasterised for an agent of the config's height and
        climb (``occupancy``). The grid is kept until the next integrated frame (the policy, the
        explorer and the recorder each read it in one step) and its cells are read-only."""

        def build() -> OccupancyGrid:
            c = self.config
            floor = self.floor_height if self.floor_height is not None else 0.0
            grid = occupancy_from_points(self._occupancy_points(), floor, c.voxel_size, c.max_climb, c.agent_height)
            grid.cells.flags.writeable = False
            return grid

        return self._kept_for_frame("_occupancy", None, build)

    def _kept_for_frame(self, slot: str, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, kept in attribute ``slot`` until the map integrates another frame or ``key`` changes."""
        stamp = (key, self.frames_integrated)
        cached = getattr(self, slot, None)
        if cached is None or cached[0] != stamp:
            cached = (stamp, build())
            setattr(self, slot, cached)
        return cached[1]

    def _occupancy_points(self) -> np.ndarray:
        """(M, 3) world points (metres) the occupancy grid is built from: ``points()``."""
        return self.points()

    def to_open3d(self):
        """The map's points as an ``open3d.geometry.PointCloud`` with colours."""
        import open3d as o3d

        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(self.points().astype(np.float64)))
        cloud.colors = o3d.utility.Vector3dVector(self.colors().astype(np.float64) / 255.0)
        return cloud


def spread_sample(points: np.ndarray, features: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` of the points (M, 3) and their features (M, C), spread by farthest-point sampling
    over position and feature (``farthest_point_indices``); all of them when M <= n."""
    if len(points) <= n:
        return points, features
    index = farthest_point_indices(points, n, features)
    return points[index], features[index]


def farthest_point_indices(
    points: np.ndarray,
    n: int,
    features: np.ndarray | None = None,
    feature_weight: float = FEATURE_SPREAD_METRES,
    candidates_per_sample: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """Indices of ``n`` of the points (M, 3) spread over them: farthest-point sampling over a fixed
    random subset of ``candidates_per_sample * n`` candidates (deterministic for a seed), so the
    cost is O(n^2 * candidates_per_sample), whatever M is.

    With ``features`` (M, C) the spread is over position and meaning together: two points are
    ``|dp|^2 + feature_weight^2 * |df|^2`` apart (metres^2; ``f`` the unit-normalised feature,
    reduced to its ``FEATURE_SPREAD_DIMS`` principal components), so a small object whose feature
    differs from the wall around it is kept even where a purely spatial spread would skip it.
    """
    m = len(points)
    if m <= n:
        return np.arange(m)
    pool = np.random.default_rng(seed).choice(m, size=min(m, candidates_per_sample * n), replace=False)
    cand = np.asarray(points, dtype=np.float32)[pool]  # (P, 3)
    if features is not None:
        if len(features) != m:
            raise ValueError(f"features has {len(features)} rows for {m} points")
        cand = np.concatenate([cand, feature_weight * _principal_features(features[pool])], axis=1)  # (P, 3 + k)
    cand = cand - cand.mean(axis=0)  # centred: the expanded distances below lose less to float32 rounding
    chosen = np.empty(n, np.int64)
    chosen[0] = 0
    norms = np.einsum("pd,pd->p", cand, cand)  # (P,) |c|^2: |c - c_i|^2 = |c|^2 - 2 c.c_i + |c_i|^2
    dist = np.maximum(norms - 2.0 * (cand @ cand[0]) + norms[0], 0.0)  # (P,) squared distance to the chosen set
    for i in range(1, n):
        j = chosen[i] = int(np.argmax(dist))
        np.minimum(dist, norms - 2.0 * (cand @ cand[j]) + norms[j], out=dist)
    return pool[chosen]


def _principal_features(features: np.ndarray, dims: int | None = None) -> np.ndarray:
    """(P, C) features -> (P, k) float32: unit-normalised, centred, projected on their ``dims``
    principal directions (distances between unit features, up to the dropped components)."""
    dims = FEATURE_SPREAD_DIMS if dims is None else dims
    f = np.asarray(features, dtype=np.float32)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    f = f - f.mean(axis=0, keepdims=True)
    _, vectors = np.linalg.eigh(f.T @ f)  # (C, C) columns by ascending eigenvalue: f's right singular vectors
    return f @ vectors[:, ::-1][:, :dims]  # 10x faster than an SVD of (P, C)


def corners(points: np.ndarray) -> np.ndarray | None:
    """(2, 3) float64 [min, max] of points (M, 3), or None for no points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return np.stack([p.min(axis=0), p.max(axis=0)]) if len(p) else None


def floor_height_of(frame: Frame, config: MapConfig) -> float:
    """The floor height (metres) a map takes from its first frame: the agent's feet when the frame
    carries the agent pose, else the camera height minus ``config.camera_height``."""
    if frame.agent_pose is not None:
        return float(frame.agent_pose.position[1])
    return float(frame.camera_pose.position[1] - config.camera_height)


def cosine_relevance(features: np.ndarray, text_embedding: np.ndarray) -> np.ndarray:
    """(M,) cosine similarity of features (M, C) to an embedding (C,); 0 for zero features."""
    norms = np.linalg.norm(features, axis=1) * max(float(np.linalg.norm(text_embedding)), 1e-12)
    return np.where(norms > 0, features @ text_embedding / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def write_map_file(path: str | Path, construction: str, feature_dim: int, config: MapConfig, arrays: dict[str, np.ndarray], extra: dict | None = None) -> Path:
    """Write arrays and a JSON header to ``path`` (``.npz``) atomically."""
    import io

    from envs.files import atomic_write_bytes

    header = {"construction": construction, "feature_dim": int(feature_dim), "version": MAP_FORMAT_VERSION, "config": asdict(config), **(extra or {})}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return atomic_write_bytes(Path(path), buffer.getvalue())


def read_map_file(path: str | Path, construction: str, feature_dim: int) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a map file, checking its construction, version and feature dimension; returns
    (header, arrays). Raises ``FileNotFoundError`` or ``ValueError`` naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"map file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"map file {str(path)!r} is not a nav3d map ({type(exc).__name__}: {exc})") from exc
    if header.get("construction") != construction:
        raise ValueError(f"map file {str(path)!r} holds a {header.get('construction')!r} map, not {construction!r}; load it with that class")
    if header.get("version") != MAP_FORMAT_VERSION:
        raise ValueError(f"map file {str(path)!r} has format version {header.get('version')}, this nav3d reads {MAP_FORMAT_VERSION}")
    if header.get("feature_dim") != feature_dim:
        raise ValueError(
            f"map file {str(path)!r} holds {header.get('feature_dim')}-d features but the extractor gives {feature_dim}-d ones; "
            "load it with the extractor it was built with"
        )
    return header, arrays
