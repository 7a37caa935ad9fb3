"""Plan-view geometry (world x/z): rects, the four sides of a room, overlap tests."""

from __future__ import annotations

import numpy as np

Rect = tuple[float, float, float, float]  # x0, z0, x1, z1 (metres, world x/z)

EPS = 1e-9  # tolerance of coordinate comparisons, metres

SIDES = ("zmin", "xmin", "zmax", "xmax")  # index = yaw quarter of an item facing into the room from it


def overlaps(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    """Whether rects ``a`` and ``b`` overlap, or come closer than ``gap``."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def inside(a: Rect, b: Rect) -> bool:
    """Whether rect ``a`` lies inside rect ``b`` (up to ``EPS``)."""
    return a[0] >= b[0] - EPS and a[1] >= b[1] - EPS and a[2] <= b[2] + EPS and a[3] <= b[3] + EPS


def boxes_intersect(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray, gap: float = 0.0) -> bool:
    """Whether 3D boxes (lo_a, hi_a) and (lo_b, hi_b) overlap, or come closer than ``gap``."""
    return bool(np.all(lo_a < hi_b + gap) and np.all(lo_b < hi_a + gap))


def wall_rect(interior: Rect, side: str, u: float, width: float, off: float, depth: float) -> Rect:
    """A rect against a side's inner face: ``width`` along the wall centred at ``u``, from ``off`` to
    ``off + depth`` into the room (negative offsets reach into the wall)."""
    ix0, iz0, ix1, iz1 = interior
    a, b = u - width / 2, u + width / 2
    if side == "zmin":
        return (a, iz0 + off, b, iz0 + off + depth)
    if side == "zmax":
        return (a, iz1 - off - depth, b, iz1 - off)
    if side == "xmin":
        return (ix0 + off, a, ix0 + off + depth, b)
    return (ix1 - off - depth, a, ix1 - off, b)


def interior_span(interior: Rect, side: str) -> tuple[float, float]:
    """The extent of a room side along the wall, between the inner faces of the walls across it."""
    ix0, iz0, ix1, iz1 = interior
    return (ix0, ix1) if side in ("zmin", "zmax") else (iz0, iz1)
