"""``MultiViewImageFeatures``: multi-view 2D image features with no 3D lifting, the 2D baseline of
3D-LLM's first ablation (features of the map against features of the images).

Each integrated frame's (H, W, C) features are mean-pooled over a ``grid`` x ``grid`` layout of image
patches: one token per patch, its feature the patch's mean, its position the patch centre (u right, v
down, both 0..1 across the image) and the frame's order t (0 for the first frame, 1 for the last). No
depth and no pose reach a token: two frames of the same wall seen from two places share only their
features, as the images a 2D vision-language model reads do.

The 3D-LLM reads the tokens through the interface it reads a map's points with
(``points_and_features``): a token's "point" is its (u, 1 - v, t) placed in the ``bounds()`` box,
``lower + (u, 1 - v, t) * (upper - lower)``, so that the position embedding, which normalises by that
box (the location codec's), sees (u, 1 - v, t) in [0, 1]^3. These are not world points; nothing that
needs world points (an occupancy grid, a pointer at map points) can use them.

``bounds()`` is the corner box of the frames' back-projected depth, as a 3D map's would be: the
frame of the location codec, in which the 2D baseline has to answer too. It is the only use of depth
and poses here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.types import Frame
from perception.features import FeatureExtractor, LabelFeatures
from perception.geometry import backproject, check_frame
from perception.maps import MapConfig, spread_sample


@dataclass(frozen=True)
class MultiViewConfig:
    """``grid``: patches per image side; each frame gives ``grid**2`` tokens."""

    grid: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.grid, bool) or not isinstance(self.grid, (int, np.integer)) or self.grid < 1:
            raise ValueError(f"MultiViewConfig.grid must be an integer >= 1, got {self.grid!r}")


def patch_means(features: np.ndarray | LabelFeatures, grid: int) -> np.ndarray:
    """(H, W, C) features, an array or :class:`LabelFeatures`, -> (grid * grid, C) float32 means over a
    grid of near-equal patches, row by row from the image's top left (H and W must be >= ``grid``).
    Label features are pooled as each patch's count of every table row times the table, so their
    (H, W, C) array is never built."""
    h, w, c = features.shape
    if h < grid or w < grid:
        raise ValueError(f"a {h}x{w} image cannot be split into {grid}x{grid} patches")
    rows = np.linspace(0, h, grid + 1).astype(np.int64)  # (grid + 1,) patch edges
    cols = np.linspace(0, w, grid + 1).astype(np.int64)
    counts = np.diff(rows)[:, None] * np.diff(cols)[None, :]  # (g, g) pixels per patch
    if isinstance(features, LabelFeatures):
        k = len(features.table)
        patch_row = np.repeat(np.arange(grid), np.diff(rows))  # (H,) the patch row of each image row
        patch_col = np.repeat(np.arange(grid), np.diff(cols))  # (W,)
        patch = patch_row[:, None] * grid + patch_col[None, :]  # (H, W) patch index, row by row
        uses = np.bincount((patch * k + features.rows).reshape(-1), minlength=grid * grid * k).reshape(grid * grid, k)  # (g*g, K)
        means = (uses / counts.reshape(-1, 1)) @ features.table.astype(np.float64)  # (g*g, C)
        return means.astype(np.float32)
    sums = np.add.reduceat(np.add.reduceat(np.asarray(features, dtype=np.float32), rows[:-1], axis=0), cols[:-1], axis=1)  # (g, g, C)
    return (sums / counts[..., None]).reshape(grid * grid, c).astype(np.float32)  # float32 / int64 counts is float64


def patch_centres(grid: int) -> np.ndarray:
    """(grid * grid, 2) float32 (u, v) patch centres in [0, 1], u right and v down, row by row."""
    centre = (np.arange(grid, dtype=np.float32) + 0.5) / grid
    v, u = np.meshgrid(centre, centre, indexing="ij")
    return np.stack([u.ravel(), v.ravel()], axis=1)


class MultiViewImageFeatures:
    """Image patch tokens of every integrated frame, with image-plane positions only (module doc)."""

    def __init__(self, extractor: FeatureExtractor, config: MapConfig = MapConfig(), multiview: MultiViewConfig = MultiViewConfig()) -> None:
        self.extractor = extractor
        self.config = config
        self.multiview = multiview
        self._tokens: list[np.ndarray] = []  # per frame (grid**2, C) float32
        self._lower: np.ndarray | None = None  # (3,) float64 metres, of the back-projected depth
        self._upper: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._tokens) * self.multiview.grid**2

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add the frame's (H, W, C) features as ``grid**2`` patch tokens (its depth only grows ``bounds``)."""
        check_frame(frame, features, self.extractor.dim)
        self._tokens.append(patch_means(features, self.multiview.grid))
        lifted = backproject(frame, self.config.pixel_stride, self.config.max_depth).points  # (N, 3) world
        if len(lifted):
            lo, hi = lifted.min(axis=0).astype(np.float64), lifted.max(axis=0).astype(np.float64)
            self._lower = lo if self._lower is None else np.minimum(self._lower, lo)
            self._upper = hi if self._upper is None else np.maximum(self._upper, hi)

    def bounds(self) -> np.ndarray | None:
        """(2, 3) float64 lower and upper corner (metres) of the frames' depth; None before any."""
        return None if self._lower is None else np.stack([self._lower, self._upper])

    def token_positions(self) -> np.ndarray:
        """(M, 3) float32 (u, 1 - v, t) of every token in [0, 1], frame by frame."""
        frames, grid = len(self._tokens), self.multiview.grid
        uv = patch_centres(grid)  # (g*g, 2)
        t = np.repeat(np.arange(frames, dtype=np.float32) / max(frames - 1, 1), grid * grid)  # (M,)
        uv = np.tile(uv, (frames, 1))  # (M, 2)
        return np.stack([uv[:, 0], 1.0 - uv[:, 1], t], axis=1)

    def points(self) -> np.ndarray:
        """(M, 3) float32 token positions placed in the ``bounds()`` box (the unit box before any
        depth): not world points (module doc)."""
        bounds = self.bounds()
        lower, extent = (np.zeros(3), np.ones(3)) if bounds is None else (bounds[0], bounds[1] - bounds[0])
        return (lower + self.token_positions() * extent).astype(np.float32)

    def features(self) -> np.ndarray:
        """(M, C) float32 patch-mean features, frame by frame."""
        if not self._tokens:
            return np.zeros((0, self.extractor.dim), np.float32)
        return np.concatenate(self._tokens)

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` tokens spread over position and feature as a map's points are
        (``spread_sample``), with their features."""
        return spread_sample(self.points(), self.features(), n)


class ImageTokenMap:
    """The agent's map for a 3D-LLM trained on ``multiview`` tokens (the 2D baseline in the loop):
    every frame goes into both ``feature_map`` (a 3D ``FeatureMap``: the policy's occupancy grid, the
    bounds of the location codec, queries) and ``tokens``; ``points_and_features`` gives the image
    tokens, so the planner reads what it was trained on. Everything else is ``feature_map``'s."""

    def __init__(self, feature_map, tokens: MultiViewImageFeatures) -> None:
        self.map = feature_map
        self.tokens = tokens

    def integrate(self, frame: Frame, features: np.ndarray) -> None:
        """Add the frame and its (H, W, C) features to the 3D map and to the image tokens."""
        self.map.integrate(frame, features)
        self.tokens.integrate(frame, features)

    def points_and_features(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` image tokens (``MultiViewImageFeatures.points_and_features``): not world points."""
        return self.tokens.points_and_features(n)

    def __getattr__(self, name: str):
        if name in ("map", "tokens"):  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.map, name)
