"""Lifting frames to 3D: back-projection of depth pixels into world points.

A pixel (u, v) with z-depth d (metres) lies at ``d * (x, y, -1)`` in the camera frame, where
``(x, y, -1)`` is its ray direction (``CameraIntrinsics.ray_directions``: OpenGL camera, y up,
looking down -Z), and at ``R @ p + t`` in the world frame for the frame's world-from-camera pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.types import Frame


@dataclass(frozen=True)
class LiftedPixels:
    """The valid pixels of a frame in 3D.

    - ``points``: (N, 3) float32 world-frame positions, metres.
    - ``pixels``: (N,) int64 flat pixel indices (row * W + col) they came from.
    - ``origin``: (3,) float64 camera position, world frame.
    """

    points: np.ndarray
    pixels: np.ndarray
    origin: np.ndarray


def check_frame(frame: Frame, features: np.ndarray | None = None, dim: int | None = None) -> None:
    """Raise ``ValueError`` naming the problem when the frame's pose is not finite, or the features
    do not match the frame's image size (or, given ``dim``, the extractor's feature size C)."""
    if not np.isfinite(frame.camera_pose.matrix()).all():
        raise ValueError(f"frame {frame.step}: camera pose is not finite")
    if features is not None:
        h, w = frame.intrinsics.height, frame.intrinsics.width
        if features.ndim != 3 or features.shape[:2] != (h, w):
            raise ValueError(f"frame {frame.step}: features must be (H={h}, W={w}, C), got shape {features.shape}")
        if dim is not None and features.shape[2] != dim:
            raise ValueError(f"features have {features.shape[2]} channels, the extractor gives {dim}")


def valid_depth_mask(frame: Frame, max_depth: float | None = None) -> np.ndarray:
    """(H*W,) bool: pixels with a finite depth > 0 (and <= ``max_depth`` metres when given).

    NaN, inf, zero and negative depths are masked out: 0 is the sensors' "no return", and NaN/inf
    come from real RGB-D cameras.
    """
    d = frame.depth.reshape(-1)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(d) & (d > 0)
        if max_depth is not None:
            ok &= d <= max_depth
    return ok


def backproject(frame: Frame, stride: int = 1, max_depth: float | None = None) -> LiftedPixels:
    """World points of the frame's valid depth pixels, taking every ``stride``-th row and column."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    check_frame(frame)
    h, w = frame.intrinsics.height, frame.intrinsics.width
    keep = valid_depth_mask(frame, max_depth).reshape(h, w)
    if stride > 1:
        sparse = np.zeros_like(keep)
        sparse[::stride, ::stride] = True
        keep &= sparse
    pixels = np.flatnonzero(keep)  # (N,)
    rays = frame.intrinsics.pixel_ray_directions(pixels)  # (N, 3) camera frame, z = -1
    camera_points = rays * frame.depth.reshape(-1)[pixels, None]  # (N, 3)
    pose = frame.camera_pose
    points = camera_points @ pose.rotation_matrix.T + pose.position  # (N, 3) world
    return LiftedPixels(points.astype(np.float32), pixels.astype(np.int64), pose.position.copy())
