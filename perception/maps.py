"""The ``FeatureMap`` protocol (the 3D feature map the 3D-LLM reads and the policy plans on) and the
configuration and file format its implementations share.

Map files are single ``.npz`` archives (no pickle): arrays plus a JSON header holding the
construction's name, the feature dimension, the format version and the config.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from envs.types import Frame
from perception.features import FeatureExtractor
from perception.occupancy import OccupancyGrid

MAP_FORMAT_VERSION = 1


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

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` points spread over the map (N, 3) and their features (N, C), for the 3D-LLM."""

    def occupancy_grid(self) -> OccupancyGrid:
        """The top-down free/occupied/unknown grid of what the map has seen."""

    def text_relevance(self, text: str) -> np.ndarray:
        """(M,) cosine similarity of each of ``points()``'s features to the text's embedding."""

    def save(self, path: str | Path) -> Path:
        """Write the map to one ``.npz`` file (atomically)."""


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
